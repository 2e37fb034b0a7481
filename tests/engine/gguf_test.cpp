// The GGUF reader on well-formed input: value types and their accessors, hand-assembled files
// (every value type, v2 and v3, alignments), the real stories260K model and its embedded copy,
// and typed getters. Malformed files are in gguf_bad_file_test.cpp.

#include "engine/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>

#include "engine/error.h"
#include "resources/embedded_model.h"
#include "tests/support/gguf_bytes.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace gguf_test {

using test::GgufBytes;

template <typename T>
std::vector<std::uint8_t> as_bytes(const std::vector<T>& v) {
    std::vector<std::uint8_t> out(v.size() * sizeof(T));
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

// ---- GgufValue ----

TEST(GgufValue, TypeNames) {
    EXPECT_EQ(gguf_value_type_name(GgufValueType::Uint8), "uint8");
    EXPECT_EQ(gguf_value_type_name(GgufValueType::Int16), "int16");
    EXPECT_EQ(gguf_value_type_name(GgufValueType::Float32), "float32");
    EXPECT_EQ(gguf_value_type_name(GgufValueType::Bool), "bool");
    EXPECT_EQ(gguf_value_type_name(GgufValueType::String), "string");
    EXPECT_EQ(gguf_value_type_name(GgufValueType::Array), "array");
    EXPECT_EQ(gguf_value_type_name(GgufValueType::Float64), "float64");
    EXPECT_EQ(gguf_value_type_name(static_cast<GgufValueType>(13)), "unknown");
}

TEST(GgufValue, IntegersOfEveryWidth) {
    EXPECT_EQ(GgufValue::u8(255).as_int(), 255);
    EXPECT_EQ(GgufValue::i8(-128).as_int(), -128);
    EXPECT_EQ(GgufValue::u16(65535).as_int(), 65535);
    EXPECT_EQ(GgufValue::i16(-32768).as_int(), -32768);
    EXPECT_EQ(GgufValue::u32(4294967295u).as_int(), 4294967295LL);
    EXPECT_EQ(GgufValue::i32(-7).as_int(), -7);
    EXPECT_EQ(GgufValue::i64(std::numeric_limits<std::int64_t>::min()).as_int(),
              std::numeric_limits<std::int64_t>::min());
    // uint64 beyond int64: no int, but a uint.
    const GgufValue big = GgufValue::u64(std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(big.as_int(), std::nullopt);
    EXPECT_EQ(big.as_uint(), std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(GgufValue::i8(-1).as_uint(), std::nullopt);
    EXPECT_EQ(GgufValue::i32(5).as_uint(), 5u);
    EXPECT_TRUE(GgufValue::u16(1).is_integer());
    EXPECT_FALSE(GgufValue::u16(1).is_float());
    EXPECT_EQ(GgufValue::u32(7).type(), GgufValueType::Uint32);
}

TEST(GgufValue, FloatsBoolsStringsArrays) {
    EXPECT_EQ(GgufValue::f32(0.1f).as_float(), static_cast<double>(0.1f));
    EXPECT_EQ(GgufValue::f64(-2.5).as_float(), -2.5);
    EXPECT_EQ(GgufValue::i16(-3).as_float(), -3.0);  // integers read as floats
    EXPECT_EQ(GgufValue::f32(1.0f).as_int(), std::nullopt);
    EXPECT_TRUE(GgufValue::f64(1.0).is_float());
    EXPECT_EQ(GgufValue::boolean(true).as_bool(), true);
    EXPECT_EQ(GgufValue::u8(1).as_bool(), std::nullopt);
    EXPECT_EQ(GgufValue::boolean(true).as_int(), std::nullopt);
    ASSERT_NE(GgufValue::string("x").as_string(), nullptr);
    EXPECT_EQ(*GgufValue::string("x").as_string(), "x");
    EXPECT_EQ(GgufValue::u8(1).as_string(), nullptr);
    EXPECT_EQ(GgufValue::string("1").as_int(), std::nullopt);
    const GgufValue arr = GgufValue::array(GgufValueType::Int32, {GgufValue::i32(1), GgufValue::i32(2)});
    EXPECT_EQ(arr.type(), GgufValueType::Array);
    EXPECT_EQ(arr.element_type(), GgufValueType::Int32);
    ASSERT_NE(arr.as_array(), nullptr);
    EXPECT_EQ(arr.as_array()->size(), 2u);
    EXPECT_EQ((*arr.as_array())[1].as_int(), 2);
    EXPECT_EQ(arr.as_int(), std::nullopt);
    EXPECT_EQ(GgufValue::u8(1).as_array(), nullptr);
}

TEST(GgufValue, ArrayItemsMustMatchTheElementType) {
    EXPECT_THROW(GgufValue::array(GgufValueType::Int32, {GgufValue::i32(1), GgufValue::u32(2)}), ConfigError);
    EXPECT_THROW(GgufValue::array(GgufValueType::String, {GgufValue::i32(1)}), ConfigError);
    EXPECT_NO_THROW(GgufValue::array(GgufValueType::Uint8, {}));
}

TEST(GgufValue, EqualityComparesTypeAndValue) {
    EXPECT_EQ(GgufValue::u32(3), GgufValue::u32(3));
    EXPECT_NE(GgufValue::u32(3), GgufValue::u64(3));
    EXPECT_NE(GgufValue::u32(3), GgufValue::u32(4));
    EXPECT_NE(GgufValue::array(GgufValueType::Uint8, {}), GgufValue::array(GgufValueType::Int8, {}));
}

TEST(GgufValue, DisplayScalars) {
    EXPECT_EQ(GgufValue::u32(4294967295u).to_display_string(), "4294967295");
    EXPECT_EQ(GgufValue::i8(-5).to_display_string(), "-5");
    EXPECT_EQ(GgufValue::u64(18446744073709551615ull).to_display_string(), "18446744073709551615");
    EXPECT_EQ(GgufValue::f32(9.999999747378752e-06f).to_display_string(), "1e-05");
    EXPECT_EQ(GgufValue::f32(0.1f).to_display_string(), "0.1");
    EXPECT_EQ(GgufValue::f64(-2.5).to_display_string(), "-2.5");
    EXPECT_EQ(GgufValue::boolean(false).to_display_string(), "false");
    EXPECT_EQ(GgufValue::string("llama").to_display_string(), "\"llama\"");
    EXPECT_EQ(GgufValue::string("").to_display_string(), "\"\"");
}

TEST(GgufValue, DisplayEscapesControlBytesAndKeepsUnicode) {
    EXPECT_EQ(GgufValue::string("a\nb\\").to_display_string(), "\"a\\x0Ab\\x5C\"");
    EXPECT_EQ(GgufValue::string("\xE2\x96\x81the").to_display_string(), "\"\xE2\x96\x81the\"");
    EXPECT_EQ(GgufValue::string("\xFF").to_display_string(), "\"\\xFF\"");  // not UTF-8
}

TEST(GgufValue, DisplayShortensLongStrings) {
    const std::string long_ascii(100, 'a');
    EXPECT_EQ(GgufValue::string(long_ascii).to_display_string(), "\"" + std::string(64, 'a') + "...\" (100 bytes)");
    // 63 ASCII bytes then a 3-byte character straddling the 64-byte limit: cut before it.
    const std::string straddle = std::string(63, 'b') + "\xE2\x96\x81" + std::string(10, 'c');
    EXPECT_EQ(GgufValue::string(straddle).to_display_string(), "\"" + std::string(63, 'b') + "...\" (76 bytes)");
}

TEST(GgufValue, DisplayArrays) {
    GgufValue::Array items;
    for (int i = 0; i < 10; ++i) items.push_back(GgufValue::i32(i));
    const GgufValue arr = GgufValue::array(GgufValueType::Int32, items);
    EXPECT_EQ(arr.to_display_string(3), "[0, 1, 2, ... (10 items)]");
    EXPECT_EQ(arr.to_display_string(10), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    EXPECT_EQ(arr.to_display_string(0), "[... (10 items)]");
    EXPECT_EQ(GgufValue::array(GgufValueType::String, {}).to_display_string(), "[]");
    const GgufValue nested =
        GgufValue::array(GgufValueType::Array,
                         {GgufValue::array(GgufValueType::String, {GgufValue::string("a"), GgufValue::string("b")}),
                          GgufValue::array(GgufValueType::Float32, {})});
    EXPECT_EQ(nested.to_display_string(), "[[\"a\", \"b\"], []]");
}

// ---- Hand-assembled files ----

// Every value type, nested and empty arrays, an empty and a unicode string, and two tensors.
struct HandFile {
    std::vector<std::uint8_t> bytes;
    std::uint64_t data_offset = 0;
};

HandFile hand_file(std::uint32_t version, std::uint32_t alignment) {
    GgufBytes b;
    const bool explicit_alignment = alignment != 32;
    b.header(version, 2, explicit_alignment ? 17 : 16);
    b.key("t.u8", 0).u8(200);
    b.key("t.i8", 1).put<std::int8_t>(-100);
    b.key("t.u16", 2).put<std::uint16_t>(60000);
    b.key("t.i16", 3).put<std::int16_t>(-30000);
    b.key("t.u32", 4).u32(4000000000u);
    b.key("t.i32", 5).put<std::int32_t>(-2000000000);
    b.key("t.f32", 6).put<float>(1.5f);
    b.key("t.bool", 7).u8(1);
    b.key("t.str", 8).str("h\xC3\xA9llo \xE2\x96\x81");
    b.key("t.u64", 10).u64(std::numeric_limits<std::uint64_t>::max());
    b.key("t.i64", 11).put<std::int64_t>(std::numeric_limits<std::int64_t>::min());
    b.key("t.f64", 12).put<double>(-2.25);
    b.key("t.arr", 9).u32(5).u64(3).put<std::int32_t>(1).put<std::int32_t>(-2).put<std::int32_t>(3);
    // [["a", ""], []] : an array of arrays (one of strings, one empty of uint32).
    b.key("t.nested", 9).u32(9).u64(2).u32(8).u64(2).str("a").str("").u32(4).u64(0);
    b.key("t.empty_str", 8).str("");
    b.key("t.empty_arr", 9).u32(6).u64(0);
    if (explicit_alignment) b.kv_u32("general.alignment", alignment);
    // F32 [4, 2] = 32 bytes at 0; Q8_0 [32] = 34 bytes at the next multiple of the alignment.
    b.tensor_info("w", {4, 2}, 0, 0);
    b.tensor_info("q", {32}, 8, alignment);
    b.pad_to(alignment);
    HandFile f;
    f.data_offset = b.size();
    b.raw(as_bytes(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
    b.zeros(alignment - 32);
    for (int i = 0; i < 34; ++i) b.u8(static_cast<std::uint8_t>(i + 100));
    f.bytes = b.bytes();
    return f;
}

void expect_hand_file_contents(const GgufFile& f, const HandFile& hand, std::uint32_t alignment) {
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset(), hand.data_offset);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    EXPECT_EQ(f.file_size(), hand.bytes.size());
    ASSERT_EQ(f.metadata().size(), alignment != 32 ? 17u : 16u);
    EXPECT_EQ(f.metadata()[0].first, "t.u8");
    EXPECT_EQ(f.metadata()[15].first, "t.empty_arr");
    EXPECT_EQ(*f.find("t.u8"), GgufValue::u8(200));
    EXPECT_EQ(*f.find("t.i8"), GgufValue::i8(-100));
    EXPECT_EQ(*f.find("t.u16"), GgufValue::u16(60000));
    EXPECT_EQ(*f.find("t.i16"), GgufValue::i16(-30000));
    EXPECT_EQ(*f.find("t.u32"), GgufValue::u32(4000000000u));
    EXPECT_EQ(*f.find("t.i32"), GgufValue::i32(-2000000000));
    EXPECT_EQ(*f.find("t.f32"), GgufValue::f32(1.5f));
    EXPECT_EQ(*f.find("t.bool"), GgufValue::boolean(true));
    EXPECT_EQ(*f.find("t.str"), GgufValue::string("h\xC3\xA9llo \xE2\x96\x81"));
    EXPECT_EQ(*f.find("t.u64"), GgufValue::u64(std::numeric_limits<std::uint64_t>::max()));
    EXPECT_EQ(*f.find("t.i64"), GgufValue::i64(std::numeric_limits<std::int64_t>::min()));
    EXPECT_EQ(*f.find("t.f64"), GgufValue::f64(-2.25));
    EXPECT_EQ(*f.find("t.arr"),
              GgufValue::array(GgufValueType::Int32, {GgufValue::i32(1), GgufValue::i32(-2), GgufValue::i32(3)}));
    EXPECT_EQ(*f.find("t.nested"),
              GgufValue::array(GgufValueType::Array, {GgufValue::array(GgufValueType::String,
                                                                       {GgufValue::string("a"), GgufValue::string("")}),
                                                      GgufValue::array(GgufValueType::Uint32, {})}));
    EXPECT_EQ(*f.find("t.empty_str"), GgufValue::string(""));
    EXPECT_EQ(*f.find("t.empty_arr"), GgufValue::array(GgufValueType::Float32, {}));
    EXPECT_EQ(f.find("t.missing"), nullptr);

    ASSERT_EQ(f.tensors().size(), 2u);
    const GgufTensorInfo& w = f.tensors()[0];
    EXPECT_EQ(w.name, "w");
    EXPECT_EQ(w.shape, (std::vector<std::int64_t>{4, 2}));
    EXPECT_EQ(w.type, TensorType::F32);
    EXPECT_EQ(w.offset, 0u);
    EXPECT_EQ(w.num_bytes, 32u);
    EXPECT_EQ(w.num_elements(), 8);
    const GgufTensorInfo* q = f.find_tensor("q");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->type, TensorType::Q8_0);
    EXPECT_EQ(q->offset, alignment);
    EXPECT_EQ(q->num_bytes, 34u);
    EXPECT_EQ(f.find_tensor("missing"), nullptr);

    const auto wd = f.tensor_data(w);
    ASSERT_EQ(wd.size(), 32u);
    float w5 = 0;
    std::memcpy(&w5, wd.data() + 5 * 4, 4);
    EXPECT_EQ(w5, 5.0f);
    const auto qd = f.tensor_data(*q);
    ASSERT_EQ(qd.size(), 34u);
    EXPECT_EQ(qd[0], 100);
    EXPECT_EQ(qd[33], 133);
}

TEST(GgufReader, ReadsEveryValueTypeVersion3) {
    const HandFile hand = hand_file(3, 32);
    const GgufFile f = GgufFile::from_memory(hand.bytes, "hand.gguf");
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.name(), "hand.gguf");
    expect_hand_file_contents(f, hand, 32);
    // A view into the borrowed bytes, not a copy.
    EXPECT_EQ(f.tensor_data(f.tensors()[0]).data(), hand.bytes.data() + hand.data_offset);
}

TEST(GgufReader, ReadsVersion2) {
    const HandFile hand = hand_file(2, 32);
    const GgufFile f = GgufFile::from_memory(hand.bytes, "hand.gguf");
    EXPECT_EQ(f.version(), 2u);
    expect_hand_file_contents(f, hand, 32);
}

TEST(GgufReader, ReadsAlignment64) {
    const HandFile hand = hand_file(3, 64);
    const GgufFile f = GgufFile::from_memory(hand.bytes, "hand.gguf");
    expect_hand_file_contents(f, hand, 64);
}

TEST(GgufReader, OpensFromDisk) {
    const HandFile hand = hand_file(3, 32);
    const auto path = test::temp_dir() / "hand.gguf";
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(hand.bytes.data()), static_cast<std::streamsize>(hand.bytes.size()));
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.name(), path.string());
    expect_hand_file_contents(f, hand, 32);
}

TEST(GgufReader, FileWithoutTensorsMayEndBeforeThePadding) {
    GgufBytes b;
    b.header(3, 0, 1).kv_string("general.architecture", "llama");  // 24 + 8 + 20 + 4 + 8 + 5 = 69 bytes
    ASSERT_EQ(b.size(), 69u);
    const GgufFile f = GgufFile::from_memory(b.span(), "empty.gguf");
    EXPECT_TRUE(f.tensors().empty());
    EXPECT_EQ(f.data_offset(), 96u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
}

TEST(GgufReader, ReadsTypesItCannotCompute) {
    // IQ2_XXS (id 16): 256 elements in 66 bytes. Reading is fine; the model loader decides.
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("iq", {256, 2}, 16, 0).pad_to(32).zeros(132);
    const GgufFile f = GgufFile::from_memory(b.span(), "iq.gguf");
    ASSERT_EQ(f.tensors().size(), 1u);
    EXPECT_EQ(f.tensors()[0].type, TensorType::IQ2_XXS);
    EXPECT_EQ(f.tensors()[0].num_bytes, 132u);
}

TEST(GgufReader, TensorNumBytes) {
    const std::vector<std::int64_t> q4({64, 3});
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::Q4_0, q4), 2u * 18u * 3u);
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::F16, q4), 64u * 2u * 3u);
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::Q4_K, std::vector<std::int64_t>{512}), 2u * 144u);
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::Q4_0, std::vector<std::int64_t>{48}), std::nullopt);
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::F32, std::vector<std::int64_t>{4, 0}), std::nullopt);
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::F32, std::vector<std::int64_t>{}), std::nullopt);
    EXPECT_EQ(gguf_tensor_num_bytes(TensorType::F64, std::vector<std::int64_t>{1LL << 31, 1LL << 31}), std::nullopt);
}

// ---- The real model ----

TEST(GgufReader, Stories260K) {
    const GgufFile f = GgufFile::open(test::stories260k_path().string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.file_size(), 1185376u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.require_int("llama.block_count"), 5);
    EXPECT_EQ(f.require_int("llama.embedding_length"), 64);
    EXPECT_EQ(f.require_int("llama.feed_forward_length"), 172);
    EXPECT_EQ(f.require_int("llama.attention.head_count"), 8);
    EXPECT_EQ(f.require_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(f.require_int("llama.context_length"), 2048);
    EXPECT_NEAR(f.require_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
    EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);
    EXPECT_EQ(f.get_int("tokenizer.ggml.unknown_token_id"), 0);
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");

    const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens.has_value());
    ASSERT_EQ(tokens->size(), 512u);
    EXPECT_EQ((*tokens)[0], "<unk>");
    EXPECT_EQ((*tokens)[1], "<s>");
    EXPECT_EQ((*tokens)[2], "</s>");
    EXPECT_EQ((*tokens)[3], "<0x00>");
    EXPECT_EQ((*tokens)[259], "\xE2\x96\x81t");
    EXPECT_EQ((*tokens)[300], "\xE2\x96\x81ha");
    const auto scores = f.get_float_array("tokenizer.ggml.scores");
    ASSERT_TRUE(scores.has_value());
    ASSERT_EQ(scores->size(), 512u);
    EXPECT_EQ((*scores)[300], -41.0f);
    EXPECT_EQ((*scores)[511], -252.0f);
    const auto token_types = f.get_int_array("tokenizer.ggml.token_type");
    ASSERT_TRUE(token_types.has_value());
    ASSERT_EQ(token_types->size(), 512u);
    EXPECT_EQ((*token_types)[0], 2);  // unknown
    EXPECT_EQ((*token_types)[1], 3);  // control
    EXPECT_EQ((*token_types)[3], 6);  // byte

    // 2 + 9 per layer + 1 tensors, all F32; the data section starts after the tensor infos
    // (which end at byte 14152), rounded up to 32.
    ASSERT_EQ(f.tensors().size(), 48u);
    EXPECT_EQ(f.data_offset(), 14176u);
    for (const GgufTensorInfo& t : f.tensors()) {
        EXPECT_EQ(t.type, TensorType::F32) << t.name;
        EXPECT_EQ(t.num_bytes, static_cast<std::uint64_t>(t.num_elements()) * 4) << t.name;
    }
    const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->shape, (std::vector<std::int64_t>{64, 512}));
    EXPECT_EQ(embd->offset, 0u);
    const GgufTensorInfo* down = f.find_tensor("blk.0.ffn_down.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->shape, (std::vector<std::int64_t>{172, 64}));
    EXPECT_EQ(f.find_tensor("blk.4.attn_k.weight")->shape, (std::vector<std::int64_t>{64, 32}));
    EXPECT_EQ(f.find_tensor("output_norm.weight")->shape, (std::vector<std::int64_t>{64}));
    // The last tensor ends exactly at the end of the file.
    const GgufTensorInfo* last = f.find_tensor("blk.4.ffn_norm.weight");
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(last->offset, 1170944u);
    EXPECT_EQ(f.data_offset() + last->offset + last->num_bytes, f.file_size());

    float first[2];
    std::memcpy(first, f.tensor_data(*embd).data(), 8);
    EXPECT_FLOAT_EQ(first[0], -0.29474878f);
    EXPECT_FLOAT_EQ(first[1], 0.56189561f);
    float norm[2];
    std::memcpy(norm, f.tensor_data(*f.find_tensor("output_norm.weight")).data(), 8);
    EXPECT_FLOAT_EQ(norm[0], 2.4583089f);
    EXPECT_FLOAT_EQ(norm[1], 1.3673227f);
}

TEST(GgufReader, EmbeddedModelParsesLikeTheFile) {
    const GgufFile file = GgufFile::open(test::stories260k_path().string());
    const GgufFile embedded = GgufFile::from_memory(embedded_model_bytes(), std::string(kEmbeddedModelName));
    EXPECT_EQ(embedded.name(), kEmbeddedModelName);
    EXPECT_EQ(embedded.version(), file.version());
    EXPECT_EQ(embedded.file_size(), file.file_size());
    EXPECT_EQ(embedded.data_offset(), file.data_offset());
    EXPECT_EQ(embedded.metadata(), file.metadata());
    ASSERT_EQ(embedded.tensors().size(), file.tensors().size());
    for (std::size_t i = 0; i < file.tensors().size(); ++i) {
        const GgufTensorInfo& a = file.tensors()[i];
        const GgufTensorInfo& b = embedded.tensors()[i];
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.shape, b.shape);
        EXPECT_EQ(a.type, b.type);
        EXPECT_EQ(a.offset, b.offset);
        EXPECT_EQ(a.num_bytes, b.num_bytes);
        const auto da = file.tensor_data(a);
        const auto db = embedded.tensor_data(b);
        ASSERT_EQ(da.size(), db.size());
        EXPECT_EQ(std::memcmp(da.data(), db.data(), da.size()), 0) << a.name;
    }
}

// ---- Typed getters ----

GgufFile getter_file(std::vector<std::uint8_t>& storage) {
    GgufBytes b;
    b.header(3, 0, 8);
    b.kv_string("general.architecture", "llama");
    b.kv_string("llama.block_count", "five");
    b.key("big", 10).u64(std::numeric_limits<std::uint64_t>::max());
    b.key("flag", 7).u8(0);
    b.key("ints", 9).u32(2).u64(2).put<std::uint16_t>(7).put<std::uint16_t>(9);
    b.key("floats", 9).u32(6).u64(1).put<float>(0.5f);
    b.key("big_ints", 9).u32(10).u64(1).u64(std::numeric_limits<std::uint64_t>::max());
    b.kv_u32("count", 12);
    storage = b.bytes();
    return GgufFile::from_memory(storage, "getters.gguf");
}

// Runs `fn`, expects a ModelError whose message contains every phrase and is one line.
template <typename Fn>
void expect_model_error(Fn fn, std::initializer_list<std::string_view> phrases) {
    try {
        fn();
        ADD_FAILURE() << "expected a ModelError";
    } catch (const ModelError& e) {
        const std::string msg = e.what();
        for (std::string_view p : phrases) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' in: " << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
}

TEST(GgufGetters, AbsentKeysAreNullopt) {
    std::vector<std::uint8_t> storage;
    const GgufFile f = getter_file(storage);
    EXPECT_EQ(f.get_string("nope"), std::nullopt);
    EXPECT_EQ(f.get_int("nope"), std::nullopt);
    EXPECT_EQ(f.get_float("nope"), std::nullopt);
    EXPECT_EQ(f.get_bool("nope"), std::nullopt);
    EXPECT_EQ(f.get_string_array("nope"), std::nullopt);
    EXPECT_EQ(f.get_float_array("nope"), std::nullopt);
    EXPECT_EQ(f.get_int_array("nope"), std::nullopt);
}

TEST(GgufGetters, ConvertibleTypesAreRead) {
    std::vector<std::uint8_t> storage;
    const GgufFile f = getter_file(storage);
    EXPECT_EQ(f.get_int("count"), 12);
    EXPECT_EQ(f.get_float("count"), 12.0);  // an integer is a number
    EXPECT_EQ(f.get_bool("flag"), false);
    EXPECT_EQ(f.get_int_array("ints"), (std::vector<std::int64_t>{7, 9}));
    EXPECT_EQ(f.get_float_array("ints"), (std::vector<float>{7.0f, 9.0f}));
    EXPECT_EQ(f.get_float_array("floats"), (std::vector<float>{0.5f}));
    EXPECT_EQ(f.require_string("general.architecture"), "llama");
}

TEST(GgufGetters, WrongTypeNamesKeyAndBothTypes) {
    std::vector<std::uint8_t> storage;
    const GgufFile f = getter_file(storage);
    expect_model_error([&] { f.get_int("llama.block_count"); },
                       {"getters.gguf", "'llama.block_count'", "type string", "expected an integer"});
    expect_model_error([&] { f.require_int("llama.block_count"); }, {"'llama.block_count'", "type string"});
    expect_model_error([&] { f.get_string("count"); }, {"'count'", "type uint32", "expected string"});
    expect_model_error([&] { f.get_float("general.architecture"); }, {"type string", "expected a number"});
    expect_model_error([&] { f.get_bool("count"); }, {"'count'", "type uint32", "expected bool"});
    expect_model_error([&] { f.get_string_array("floats"); },
                       {"'floats'", "type array of float32", "expected array of string"});
    expect_model_error([&] { f.get_int_array("floats"); }, {"array of float32", "expected array of integers"});
    expect_model_error([&] { f.get_float_array("count"); }, {"type uint32", "expected array of numbers"});
    expect_model_error([&] { f.get_int("big"); }, {"'big'", "18446744073709551615", "too large"});
    expect_model_error([&] { f.get_int_array("big_ints"); }, {"'big_ints'", "too large"});
}

TEST(GgufGetters, MissingRequiredKeySaysWhatTheFileLacks) {
    std::vector<std::uint8_t> storage;
    const GgufFile f = getter_file(storage);
    expect_model_error(
        [&] { f.require_int("llama.embedding_length"); },
        {"getters.gguf: missing required key 'llama.embedding_length'", "the file is not a complete llama model"});
    expect_model_error([&] { f.require_string("tokenizer.ggml.model"); },
                       {"missing required key 'tokenizer.ggml.model'"});
    expect_model_error([&] { f.require_float("llama.rope.freq_base"); },
                       {"missing required key 'llama.rope.freq_base'"});
}

}  // namespace gguf_test
}  // namespace kvscope
