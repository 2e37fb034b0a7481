// Randomised corruption of a valid GGUF file: whatever the bytes, opening either succeeds (and
// every value and tensor can then be read) or throws a FileError/ModelError with a one-line
// message. Never a crash, a read past the end, or another exception (bad_alloc, length_error).
// Fixed seeds, a few thousand files of ~2 KB: well under a second.

#include <gtest/gtest.h>

#include <random>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"

namespace kvscope {
namespace gguf_fuzz_test {

std::vector<std::uint8_t> seed_file() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 2);
    w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_bool("flag", true);
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81the", ""});
    w.set_f32_array("tokenizer.ggml.scores", {0, -1, -2, -3, -4});
    w.set("nested",
          GgufValue::array(GgufValueType::Array, {GgufValue::array(GgufValueType::Int64, {GgufValue::i64(-1)}),
                                                  GgufValue::array(GgufValueType::String, {GgufValue::string("x")})}));
    w.set("big", GgufValue::u64(1ull << 40));
    w.set_alignment(64);
    std::mt19937 rng(7);
    auto bytes = [&](std::size_t n) {
        std::vector<std::uint8_t> v(n);
        for (auto& b : v) b = static_cast<std::uint8_t>(rng());
        return v;
    };
    w.add_tensor("token_embd.weight", {8, 5}, TensorType::F32, bytes(160));
    w.add_tensor("blk.0.attn_q.weight", {32, 4}, TensorType::Q8_0, bytes(4 * 34));
    w.add_tensor("blk.0.ffn_up.weight", {256}, TensorType::Q4_K, bytes(144));
    w.add_tensor("output_norm.weight", {8}, TensorType::F16, bytes(16));
    return w.to_bytes();
}

struct Outcome {
    int opened = 0;
    int rejected = 0;
};

// Opens `bytes`; on success reads every value and tensor byte. Returns false on an unexpected
// exception type or a malformed message.
void try_open(const std::vector<std::uint8_t>& bytes, Outcome& outcome) {
    try {
        const GgufFile f = GgufFile::from_memory(bytes, "fuzz.gguf");
        std::size_t sink = 0;
        for (const auto& [key, value] : f.metadata()) sink += value.to_display_string().size() + key.size();
        for (const GgufTensorInfo& t : f.tensors()) {
            const auto data = f.tensor_data(t);
            ASSERT_GE(data.data(), bytes.data());
            ASSERT_LE(data.data() + data.size(), bytes.data() + bytes.size());
            for (std::uint8_t b : data) sink += b;
        }
        ASSERT_GT(sink + 1, 0u);
        ++outcome.opened;
    } catch (const Error& e) {  // FileError or ModelError
        const std::string msg = e.what();
        ASSERT_EQ(msg.rfind("fuzz.gguf: ", 0), 0u) << msg;
        ASSERT_EQ(msg.find('\n'), std::string::npos) << msg;
        ++outcome.rejected;
    }
}

TEST(GgufFuzz, EveryProperPrefixIsRejected) {
    // The last tensor ends at the end of the file, so every shorter prefix lacks some bytes.
    const std::vector<std::uint8_t> good = seed_file();
    Outcome outcome;
    try_open(good, outcome);
    ASSERT_EQ(outcome.opened, 1);
    for (std::size_t n = 0; n < good.size(); ++n) {
        const std::vector<std::uint8_t> prefix(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_THROW(GgufFile::from_memory(prefix, "fuzz.gguf"), FileError) << "prefix of " << n << " bytes";
    }
}

TEST(GgufFuzz, EverySingleByteCorruptionIsSafe) {
    const std::vector<std::uint8_t> good = seed_file();
    const std::size_t header_end = GgufFile::from_memory(good, "fuzz.gguf").data_offset();
    Outcome outcome;
    for (std::size_t pos = 0; pos < header_end; ++pos) {
        for (std::uint8_t value : {std::uint8_t{0x00}, std::uint8_t{0xFF}, std::uint8_t{0x80}}) {
            std::vector<std::uint8_t> bytes = good;
            bytes[pos] = value;
            try_open(bytes, outcome);
            if (HasFatalFailure()) return;
        }
    }
    EXPECT_GT(outcome.rejected, 0);
    EXPECT_GT(outcome.opened, 0);
}

TEST(GgufFuzz, RandomCorruptionsAreSafe) {
    const std::vector<std::uint8_t> good = seed_file();
    const std::size_t header_end = GgufFile::from_memory(good, "fuzz.gguf").data_offset();
    std::mt19937_64 rng(20240531);
    const std::uint64_t interesting[] = {0,          1,          2,          3,     4,          9,
                                         13,         0x7F,       0x80,       0xFF,  0xFFFF,     0xFFFFFFFFull,
                                         1ull << 32, 1ull << 62, 1ull << 63, ~0ull, good.size()};
    Outcome outcome;
    for (int iter = 0; iter < 4000; ++iter) {
        std::vector<std::uint8_t> bytes = good;
        const int num_mutations = 1 + static_cast<int>(rng() % 4);
        for (int m = 0; m < num_mutations && !bytes.empty(); ++m) {
            // Mostly inside the header, metadata and tensor infos, where the structure is.
            const std::size_t span = (rng() % 5 != 0) ? std::min(header_end, bytes.size()) : bytes.size();
            const std::size_t pos = rng() % span;
            switch (rng() % 4) {
                case 0:
                    bytes[pos] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                    break;
                case 1:
                    bytes[pos] = static_cast<std::uint8_t>(rng());
                    break;
                case 2:
                    bytes.resize(rng() % bytes.size());
                    break;
                default: {  // an interesting 64-bit value, e.g. over a length or count field
                    const std::uint64_t v = interesting[rng() % std::size(interesting)];
                    for (std::size_t i = 0; i < 8 && pos + i < bytes.size(); ++i) {
                        bytes[pos + i] = static_cast<std::uint8_t>(v >> (8 * i));
                    }
                }
            }
        }
        try_open(bytes, outcome);
        if (HasFatalFailure()) return;
    }
    // Both outcomes happen, so the test exercises the success path as well as the rejections.
    EXPECT_GT(outcome.rejected, 1000);
    EXPECT_GT(outcome.opened, 50);
}

}  // namespace gguf_fuzz_test
}  // namespace kvscope
