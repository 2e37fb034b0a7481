// Tokenizers on inputs as large as a request body may be (1 MiB): one word without a space,
// random bytes, a run of one 4-byte character, specials back to back. Each finishes (no
// quadratic blow-up that would hang a server thread), keeps every id in the vocabulary and
// decodes back to the text (SentencePiece: with the dummy-prefix space; GPT-2: ill-formed
// UTF-8 as U+FFFD).

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "engine/gguf.h"
#include "engine/synthetic_model.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"
#include "resources/embedded_model.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace tokenizer_huge_input_test {

constexpr std::size_t kMiB = 1 << 20;

Tokenizer stories() {
    return Tokenizer(tokenizer_spec_from_gguf(GgufFile::from_memory(embedded_model_bytes(), "stories")));
}

Tokenizer synthetic_gpt2() {
    SyntheticModelSpec spec;
    spec.tokenizer = "gpt2";
    spec.num_layers = 1;
    spec.dim = 8;
    spec.ffn_dim = 8;
    spec.num_heads = 2;
    spec.num_kv_heads = 1;
    spec.vocab_size = 1024;
    const std::string path = (test::temp_dir() / "gpt2.gguf").string();
    write_synthetic_model(spec, path);
    return Tokenizer(tokenizer_spec_from_gguf(GgufFile::open(path)));
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
}

std::string repeat(const std::string& unit, std::size_t bytes) {
    std::string s;
    while (s.size() < bytes) s += unit;
    return s;
}

void expect_in_vocab(const Tokenizer& t, const std::vector<std::int32_t>& ids) {
    for (std::int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t.vocab_size()) << id;
}

TEST(TokenizerHugeInput, SentencePieceRoundTripsAMebibyte) {
    const Tokenizer t = stories();
    for (const std::string& text : {repeat("a", kMiB), repeat("the", kMiB), random_bytes(kMiB, 1),
                                    repeat("\xF0\x9F\x98\x80", kMiB / 4), repeat(" ", kMiB / 4)}) {
        const auto ids = t.encode(text, false, false);
        expect_in_vocab(t, ids);
        std::string expected = " " + text;
        for (std::size_t p = 0; (p = expected.find("\xE2\x96\x81", p)) != std::string::npos;)
            expected.replace(p, 3, " ");
        EXPECT_TRUE(t.decode(ids, false) == expected) << "a text of " << text.size() << " bytes";
    }
}

TEST(TokenizerHugeInput, Gpt2RoundTripsAMebibyte) {
    const Tokenizer t = synthetic_gpt2();
    for (const std::string& text : {repeat("a", kMiB), repeat("ab ", kMiB), random_bytes(kMiB, 2),
                                    repeat("\xF0\x9F\x98\x80", kMiB / 4), repeat("1", kMiB / 4)}) {
        const auto ids = t.encode(text, false, false);
        expect_in_vocab(t, ids);
        EXPECT_TRUE(t.decode(ids, false) == utf8_sanitize(text)) << "a text of " << text.size() << " bytes";
    }
}

TEST(TokenizerHugeInput, SpecialsBackToBack) {
    const Tokenizer t = synthetic_gpt2();
    const std::string text = repeat("<|im_start|><|im_end|>", kMiB / 4);
    const auto ids = t.encode(text, false, true);
    EXPECT_EQ(ids.size(), text.size() / 11);
    EXPECT_EQ(t.decode(ids, false), text);
}

}  // namespace tokenizer_huge_input_test
}  // namespace kvscope
