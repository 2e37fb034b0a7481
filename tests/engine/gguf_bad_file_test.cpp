// Malformed GGUF files: each structural problem must be a FileError with a one-line message that
// names the file, says what is wrong and where (offset, key, tensor), and what to do. The bad
// bytes are assembled by hand (tests/support/gguf_bytes.h), so every offset below is counted
// from the encoding: header 24 bytes; a key is 8 + its length; a value type 4.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "tests/support/gguf_bytes.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace gguf_bad_file_test {

using test::GgufBytes;

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

void expect_message(const std::string& msg, const std::string& file, std::initializer_list<std::string_view> phrases) {
    EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << "message should start with the file name: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message should be one line: " << msg;
    for (std::string_view p : phrases) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' missing in: " << msg;
}

void expect_file_error(std::span<const std::uint8_t> bytes, std::initializer_list<std::string_view> phrases) {
    try {
        GgufFile::from_memory(bytes, "bad.gguf");
        ADD_FAILURE() << "expected a FileError";
    } catch (const FileError& e) {
        expect_message(e.what(), "bad.gguf", phrases);
    }
}

void expect_file_error(const GgufBytes& b, std::initializer_list<std::string_view> phrases) {
    expect_file_error(b.span(), phrases);
}

// ---- Header ----

TEST(GgufBadFile, NotAGgufFile) {
    GgufBytes zip;
    zip.raw("PK\x03\x04").zeros(40);
    expect_file_error(zip, {"not a GGUF file", "50 4B 03 04 00 00 00 00", "\"PK\\x03\\x04", "a .gguf model file"});
    GgufBytes text;
    text.raw("hello world, this is not a model");
    expect_file_error(text, {"not a GGUF file", "68 65 6C 6C 6F 20 77 6F", "\"hello wo\""});
    GgufBytes tiny;
    tiny.raw("GX");
    expect_file_error(tiny, {"not a GGUF file", "47 58"});
}

// What is not a file is named, without waiting on it: a pipe blocks an open() until a writer comes.
TEST(GgufBadFile, APipeADirectoryOrNoPathIsNamedWithoutWaiting) {
    const auto dir = test::temp_dir();
    const std::string fifo = (dir / "model.gguf").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto message = [](const std::string& path) {
        try {
            GgufFile::open(path);
        } catch (const FileError& e) {
            return std::string(e.what());
        }
        return std::string("opened");
    };
    expect_message(message(fifo), fifo, {"not a regular file (a pipe)", "a .gguf model file"});
    expect_message(message(dir.string()), dir.string(), {"not a regular file (a directory)"});
    EXPECT_NE(message("").find("no file path given"), std::string::npos);
}

TEST(GgufBadFile, Version1IsNotSupported) {
    GgufBytes b;
    b.header(1, 0, 0);
    expect_file_error(b, {"GGUF version 1 is not supported; re-convert the model with a current llama.cpp converter"});
}

TEST(GgufBadFile, VersionNewerThan3) {
    GgufBytes b;
    b.header(4, 0, 0);
    expect_file_error(b, {"GGUF version 4", "newer than kvscope supports", "update kvscope"});
    GgufBytes zero;
    zero.header(0, 0, 0);
    expect_file_error(zero, {"GGUF version 0 is not valid"});
}

TEST(GgufBadFile, BigEndianFile) {
    GgufBytes b;
    b.raw("GGUF").u8(0).u8(0).u8(0).u8(3).zeros(16);
    expect_file_error(b, {"big-endian", "little-endian"});
}

TEST(GgufBadFile, ShorterThanTheHeader) {
    GgufBytes b;
    b.raw("GGUF").u32(3).u32(0);
    expect_file_error(b, {"the file is 12 bytes, shorter than the 24-byte GGUF header", "truncated"});
    GgufBytes magic_only;
    magic_only.raw("GG");
    expect_file_error(magic_only, {"the file is 2 bytes, shorter than the 24-byte GGUF header"});
    expect_file_error(std::span<const std::uint8_t>(), {"the file is 0 bytes"});
}

TEST(GgufBadFile, AbsurdCountsInTheHeader) {
    GgufBytes kv;
    kv.header(3, 0, 1000000).zeros(100);
    expect_file_error(kv, {"claims 1000000 metadata entries", "corrupt"});
    GgufBytes tensors;
    tensors.header(3, 1ull << 40, 0).zeros(100);
    expect_file_error(tensors, {"claims 1099511627776 tensors", "corrupt"});
}

// ---- Metadata ----

TEST(GgufBadFile, TruncatedKey) {
    // Entry #0: "a.b" = uint32 7 (19 bytes, ends at 43); entry #1: a key of 3 bytes with 2 present.
    GgufBytes b;
    b.header(3, 0, 2).kv_u32("a.b", 7).u64(3).raw("a.");
    expect_file_error(b, {"truncated or corrupt metadata at entry #1 (offset 43)",
                          "the key at offset 43 claims 3 bytes", "only 2 bytes are left", "re-download"});
}

TEST(GgufBadFile, TruncatedKeyLength) {
    // Entry #0 "a.b.c.d.e" = uint32 7 takes 25 bytes (so that 2 entries stay plausible for the
    // 30 bytes after the header); entry #1 at 49 has 5 of the 8 bytes of its key length.
    GgufBytes b;
    b.header(3, 0, 2).kv_u32("a.b.c.d.e", 7).u32(3).u8(0);
    ASSERT_EQ(b.size(), 54u);
    expect_file_error(
        b, {"truncated metadata at entry #1 (offset 49)", "the key needs 8 bytes at offset 49", "ends at byte 54"});
}

TEST(GgufBadFile, TruncatedValueType) {
    GgufBytes b;
    b.header(3, 0, 1).str("abcd").u8(4).u8(0);  // 2 of the 4 bytes of the value type
    expect_file_error(
        b, {"truncated metadata at key 'abcd'", "the value type needs 4 bytes at offset 36", "ends at byte 38"});
}

TEST(GgufBadFile, TruncatedValue) {
    GgufBytes b;
    b.header(3, 0, 1).key("a.b", 4).u8(1).u8(2);  // 2 of the 4 bytes of a uint32
    expect_file_error(b, {"truncated metadata at key 'a.b'", "the uint32 value needs 4 bytes at offset 39",
                          "the file ends at byte 41", "incomplete"});
}

TEST(GgufBadFile, TruncatedStringValue) {
    GgufBytes b;
    b.header(3, 0, 1).key("name", 8).u64(100).raw("abc");
    expect_file_error(
        b, {"metadata at key 'name'", "the string value at offset 40 claims 100 bytes", "only 3 bytes are left"});
}

TEST(GgufBadFile, AbsurdStringLengthIsRejectedBeforeAllocating) {
    GgufBytes b;
    b.header(3, 0, 1).key("name", 8).u64(1ull << 62).raw("abcdefgh");
    expect_file_error(b, {"key 'name'", "claims 4611686018427387904 bytes", "only 8 bytes are left"});
}

TEST(GgufBadFile, TruncatedArray) {
    GgufBytes b;
    b.header(3, 0, 1).key("arr", 9).u32(4).u64(1000).zeros(8);
    expect_file_error(
        b, {"metadata at key 'arr'", "the array at offset 39 claims 1000 uint32 items", "more than the 8 bytes left"});
    GgufBytes absurd;
    absurd.header(3, 0, 1).key("arr", 9).u32(0).u64(kU64Max).zeros(8);
    expect_file_error(absurd, {"key 'arr'", "claims 18446744073709551615 uint8 items"});
    GgufBytes header_cut;
    header_cut.header(3, 0, 1).key("arr", 9).u32(4).u8(0).u8(0);
    expect_file_error(header_cut, {"truncated metadata at key 'arr'", "the array length needs 8 bytes at offset 43"});
}

TEST(GgufBadFile, TruncatedArrayElement) {
    // Two strings: "ab" complete, then one that claims 5 bytes with 1 present.
    GgufBytes b;
    b.header(3, 0, 1).key("toks", 9).u32(8).u64(2).str("ab").u64(5).raw("x");
    // "toks" value at 24 + 12 + 4 = 40; array header 12 bytes; "ab" 10 bytes; 2nd string at 62.
    expect_file_error(
        b, {"metadata at key 'toks'", "the string value at offset 62 claims 5 bytes", "only 1 bytes are left"});
}

TEST(GgufBadFile, UnknownValueType) {
    GgufBytes b;
    b.header(3, 0, 1).key("a.b", 13).u32(0);
    expect_file_error(b, {"unknown metadata value type 13", "key 'a.b'", "at offset 35", "newer kvscope"});
    GgufBytes elem;
    elem.header(3, 0, 1).key("arr", 9).u32(99).u64(0);
    expect_file_error(elem, {"unknown metadata value type 99 (array element type)", "key 'arr'", "at offset 39"});
}

GgufBytes nested_arrays(int levels) {
    GgufBytes b;
    b.header(3, 0, 1).key("deep", 9);
    for (int i = 0; i < levels - 1; ++i) b.u32(9).u64(1);
    b.u32(4).u64(0);  // the innermost: an empty uint32 array
    return b;
}

TEST(GgufBadFile, ArraysNestedTooDeep) {
    const GgufBytes ok = nested_arrays(kGgufMaxArrayDepth);
    const GgufFile f = GgufFile::from_memory(ok.span(), "ok.gguf");
    int depth = 0;
    for (const GgufValue* v = f.find("deep"); v != nullptr; ++depth) {
        ASSERT_EQ(v->type(), GgufValueType::Array);
        v = v->as_array()->empty() ? nullptr : &v->as_array()->front();
    }
    EXPECT_EQ(depth, kGgufMaxArrayDepth);
    expect_file_error(nested_arrays(kGgufMaxArrayDepth + 1), {"key 'deep'", "nests arrays more than 8 levels deep"});
}

TEST(GgufBadFile, InvalidBool) {
    GgufBytes b;
    b.header(3, 0, 1).key("flag", 7).u8(2).zeros(3);
    expect_file_error(b, {"invalid bool value 2", "key 'flag'", "at offset 40", "must be 0 or 1"});
}

TEST(GgufBadFile, DuplicateKey) {
    GgufBytes b;
    b.header(3, 0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2);
    expect_file_error(b, {"duplicate metadata key 'a.b'", "entries #0 and #1", "offset 43"});
}

TEST(GgufBadFile, EmptyKey) {
    GgufBytes b;
    b.header(3, 0, 1).kv_u32("", 1);
    expect_file_error(b, {"metadata entry #0 at offset 24 has an empty key"});
}

TEST(GgufBadFile, KeyWithControlBytesStaysOneLine) {
    GgufBytes b;
    b.header(3, 0, 1).key("bad\nkey", 13).u32(0);
    expect_file_error(b, {"key 'bad\\x0Akey'"});
}

TEST(GgufBadFile, AlignmentOfTheWrongType) {
    GgufBytes s;
    s.header(3, 0, 1).kv_string("general.alignment", "32");
    expect_file_error(s, {"'general.alignment' has type string, expected uint32"});
    GgufBytes u64;
    u64.header(3, 0, 1).key("general.alignment", 10).u64(32);
    expect_file_error(u64, {"'general.alignment' has type uint64, expected uint32"});
}

TEST(GgufBadFile, AlignmentNotAPowerOfTwo) {
    GgufBytes b;
    b.header(3, 0, 1).kv_u32("general.alignment", 48);
    expect_file_error(b, {"'general.alignment' is 48, not a power of two"});
    GgufBytes zero;
    zero.header(3, 0, 1).kv_u32("general.alignment", 0);
    expect_file_error(zero, {"'general.alignment' is 0, not a power of two"});
}

// ---- Tensor infos ----

TEST(GgufBadFile, TruncatedTensorInfos) {
    // A 19-byte name (27 bytes with its length), 2 dims of which only the first is present.
    GgufBytes dims;
    dims.header(3, 1, 0).str("blk.0.attn_q.weight").u32(2).u64(64);
    expect_file_error(dims, {"truncated tensor infos at tensor 'blk.0.attn_q.weight'",
                             "the dimension needs 8 bytes at offset 63", "ends at byte 63"});
    GgufBytes offset;
    offset.header(3, 1, 0).str("blk.0.attn_q.weight").u32(2).u64(64).u64(64).u32(0).u32(0);
    expect_file_error(offset, {"truncated tensor infos at tensor 'blk.0.attn_q.weight'",
                               "the data offset needs 8 bytes at offset 75", "ends at byte 79"});
    GgufBytes name;
    name.header(3, 1, 0).u64(50).zeros(25);
    expect_file_error(name, {"tensor infos at tensor info #0 (offset 24)", "the name at offset 24 claims 50 bytes"});
}

TEST(GgufBadFile, TooManyDimensions) {
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("x", {2, 2, 2, 2, 2}, 0, 0).pad_to(32).zeros(128);
    expect_file_error(b, {"tensor 'x' has 5 dimensions, GGUF allows 1 to 4"});
    GgufBytes none;
    none.header(3, 1, 0).tensor_info("x", {}, 0, 0).zeros(64);
    expect_file_error(none, {"tensor 'x' has 0 dimensions"});
}

TEST(GgufBadFile, BadDimensions) {
    GgufBytes zero;
    zero.header(3, 1, 0).tensor_info("x", {4, 0}, 0, 0).pad_to(32).zeros(32);
    expect_file_error(zero, {"tensor 'x' has dimension 1 = 0 (empty)"});
    GgufBytes negative;  // 2^63 is negative as int64
    negative.header(3, 1, 0).tensor_info("x", {1ull << 63}, 0, 0).pad_to(32).zeros(32);
    expect_file_error(negative, {"tensor 'x' has dimension 0 = 9223372036854775808 (too large)"});
    GgufBytes overflow;
    overflow.header(3, 1, 0).tensor_info("x", {1ull << 40, 1ull << 40}, 0, 0).pad_to(32).zeros(32);
    expect_file_error(overflow, {"tensor 'x' has an element count that overflows 64 bits"});
    GgufBytes bytes_overflow;  // 2^62 F64 elements fit an int64; their 2^65 bytes do not
    bytes_overflow.header(3, 1, 0).tensor_info("x", {1ull << 31, 1ull << 31}, 28, 0).pad_to(32).zeros(32);
    expect_file_error(bytes_overflow, {"tensor 'x' of shape [2147483648, 2147483648] has a byte size that overflows"});
}

TEST(GgufBadFile, UnknownTensorType) {
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("blk.0.attn_q.weight", {64, 64}, 77, 0).pad_to(32).zeros(64);
    expect_file_error(b, {"tensor 'blk.0.attn_q.weight' has unknown type id 77", "at offset 71"});
    GgufBytes withdrawn;  // Q4_2 (4) was removed from GGUF
    withdrawn.header(3, 1, 0).tensor_info("x", {32}, 4, 0).pad_to(32).zeros(64);
    expect_file_error(withdrawn, {"tensor 'x' has unknown type id 4"});
}

TEST(GgufBadFile, RowNotAMultipleOfTheBlockSize) {
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("x", {33, 2}, 2, 0).pad_to(32).zeros(128);
    expect_file_error(
        b, {"tensor 'x' of type Q4_0 has rows of 33 elements", "not a multiple of the type's block size 32"});
}

TEST(GgufBadFile, DuplicateTensorNames) {
    GgufBytes b;
    b.header(3, 2, 0).tensor_info("a", {8}, 0, 0).tensor_info("a", {8}, 0, 32).pad_to(32).zeros(64);
    expect_file_error(b, {"duplicate tensor name 'a' (tensor infos #0 and #1)"});
}

TEST(GgufBadFile, EmptyTensorName) {
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("", {8}, 0, 0).pad_to(32).zeros(32);
    expect_file_error(b, {"tensor info #0 at offset 24 has an empty name"});
}

TEST(GgufBadFile, OffsetNotAMultipleOfTheAlignment) {
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("b", {4}, 0, 16).pad_to(32).zeros(64);
    // "b" info: name 9 bytes + dims count 4 + 1 dim 8 + type 4 = the offset field at 24 + 25 = 49.
    expect_file_error(b, {"tensor 'b' has data offset 16 (at offset 49), not a multiple of the alignment 32"});
    GgufBytes a64;
    a64.header(3, 1, 1).kv_u32("general.alignment", 64).tensor_info("b", {4}, 0, 32).pad_to(64).zeros(128);
    expect_file_error(a64, {"tensor 'b' has data offset 32", "not a multiple of the alignment 64"});
}

// ---- Tensor data ----

TEST(GgufBadFile, TruncatedTensorData) {
    // Info: 24 + 9 + 4 + 8 + 4 + 8 = 57 bytes, data from 64; F32 [16] needs 64..128; 40 present.
    GgufBytes b;
    b.header(3, 1, 0).tensor_info("x", {16}, 0, 0).pad_to(32).zeros(40);
    ASSERT_EQ(b.size(), 104u);
    expect_file_error(b, {"truncated tensor data: tensor 'x' needs bytes 64..128 but the file has 104 bytes; the "
                          "download is incomplete"});
    GgufBytes no_data;
    no_data.header(3, 1, 0).tensor_info("x", {16}, 0, 0);
    expect_file_error(no_data, {"truncated tensor data: tensor 'x' needs bytes 64..128 but the file has 57 bytes"});
    GgufBytes far;  // an offset whose end overflows 64 bits
    far.header(3, 1, 0).tensor_info("x", {16}, 0, kU64Max - 31).pad_to(32).zeros(64);
    expect_file_error(far, {"truncated tensor data: tensor 'x' needs bytes 64 + 18446744073709551584 + 64"});
}

TEST(GgufBadFile, OverlappingTensors) {
    // Two infos of 33 bytes: data from 96. "a" F32 [16] at 0 -> 96..160, "b" at 32 -> 128..192.
    GgufBytes b;
    b.header(3, 2, 0).tensor_info("a", {16}, 0, 0).tensor_info("b", {16}, 0, 32).pad_to(32).zeros(96);
    expect_file_error(b, {"the data of tensors 'a' (bytes 96..160) and 'b' (bytes 128..192) overlap"});
    GgufBytes reversed;  // listed in the other order: still found
    reversed.header(3, 2, 0).tensor_info("b", {16}, 0, 32).tensor_info("a", {16}, 0, 0).pad_to(32).zeros(96);
    expect_file_error(reversed, {"'a' (bytes 96..160) and 'b' (bytes 128..192) overlap"});
    GgufBytes adjacent;  // touching is fine
    adjacent.header(3, 2, 0).tensor_info("a", {16}, 0, 0).tensor_info("b", {16}, 0, 64).pad_to(32).zeros(128);
    EXPECT_NO_THROW(GgufFile::from_memory(adjacent.span(), "ok.gguf"));
}

// ---- Through the file system, and writer-made files corrupted ----

void write_bytes(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void expect_open_error(const std::string& path, std::initializer_list<std::string_view> phrases) {
    try {
        GgufFile::open(path);
        ADD_FAILURE() << "expected a FileError";
    } catch (const FileError& e) {
        expect_message(e.what(), path, phrases);
    }
}

TEST(GgufBadFile, TruncatedRealModelOnDisk) {
    std::ifstream in(test::stories260k_path(), std::ios::binary);
    std::vector<char> bytes(1000000);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const auto path = test::temp_dir() / "partial.gguf";
    write_bytes(path, std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    // blk.3.ffn_up.weight: data offset 14176 + 945152, 64 * 172 * 4 bytes.
    expect_open_error(path.string(), {"truncated tensor data: tensor 'blk.3.ffn_up.weight' needs bytes "
                                      "959328..1003360 but the file has 1000000 bytes; the download is incomplete"});
}

TEST(GgufBadFile, MissingOrEmptyFile) {
    const auto dir = test::temp_dir();
    expect_open_error((dir / "nope.gguf").string(), {"cannot open"});
    write_bytes(dir / "empty.gguf", {});
    expect_open_error((dir / "empty.gguf").string(), {"empty"});
}

std::vector<std::uint8_t> writer_file() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    const std::vector<std::uint8_t> data(64 * 4, 0);
    w.add_tensor("blk.0.attn_q.weight", {8, 8}, TensorType::F32, data);
    return w.to_bytes();
}

TEST(GgufBadFile, CorruptedWriterFile) {
    std::vector<std::uint8_t> bytes = writer_file();
    ASSERT_NO_THROW(GgufFile::from_memory(bytes, "good.gguf"));
    std::vector<std::uint8_t> v1 = bytes;
    v1[4] = 1;
    expect_file_error(v1, {"GGUF version 1 is not supported"});
    // The type id sits 12 bytes before the end of the tensor info (type 4, offset 8).
    // Header 24 + kv (8 + 20 + 4 + 8 + 5 = 45) + name 27 + dims 4 + 16 = byte 116.
    std::vector<std::uint8_t> type77 = bytes;
    ASSERT_EQ(type77[116], 0);
    type77[116] = 77;
    expect_file_error(type77, {"tensor 'blk.0.attn_q.weight' has unknown type id 77 at offset 116"});
    std::vector<std::uint8_t> cut = bytes;
    cut.resize(bytes.size() - 1);
    // The infos end at 116 + 4 + 8 = 128, a multiple of 32: the data is bytes 128..384.
    expect_file_error(cut, {"truncated tensor data: tensor 'blk.0.attn_q.weight' needs bytes 128..384 but the file "
                            "has 383 bytes"});
}

}  // namespace gguf_bad_file_test
}  // namespace kvscope
