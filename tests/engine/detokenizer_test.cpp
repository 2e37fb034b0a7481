// StreamingDetokenizer: valid UTF-8 out whatever the tokens, characters held back until complete.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/detokenizer.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace kvscope {
namespace detokenizer_test {

using Ids = std::vector<std::int32_t>;
const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD

// llama vocabulary: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then 259 "▁Once", 260 "a",
// 261 ",", 262 "▁there".
TokenizerSpec spm_spec() {
    TokenizerSpec spec;
    spec.model = "llama";
    spec.tokens = {"<unk>", "<s>", "</s>"};
    spec.token_types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
    for (int b = 0; b < 256; ++b) {
        char text[8];
        std::snprintf(text, sizeof(text), "<0x%02X>", b);
        spec.tokens.push_back(text);
        spec.token_types.push_back(TokenType::Byte);
    }
    for (const char* t : {"\xE2\x96\x81Once", "a", ",", "\xE2\x96\x81there"}) {
        spec.tokens.push_back(t);
        spec.token_types.push_back(TokenType::Normal);
    }
    spec.unk_id = 0;
    spec.bos_id = 1;
    spec.eos_id = 2;
    spec.add_bos = true;
    spec.add_space_prefix = true;
    return spec;
}

constexpr std::int32_t byte_token(int byte) {
    return 3 + byte;
}
constexpr std::int32_t once = 259, a = 260, comma = 261, there = 262;

TEST(StreamingDetokenizer, HoldsBackACharacterUntilItsLastByte) {
    const Tokenizer tok(spm_spec());
    StreamingDetokenizer detok(tok);
    const std::string text = "\xC3\xA9\xF0\x9F\x98\x80\xE4\xB8\xAD\xE2\x82\xAC";  // é 😀 中 €
    const std::vector<std::string> expected = {
        "", "\xC3\xA9", "", "", "", "\xF0\x9F\x98\x80", "", "", "\xE4\xB8\xAD", "", "", "\xE2\x82\xAC"};
    for (std::size_t i = 0; i < text.size(); ++i) {
        EXPECT_EQ(detok.push(byte_token(static_cast<unsigned char>(text[i]))), expected[i]) << i;
    }
    EXPECT_EQ(detok.num_pending_bytes(), 0u);
    EXPECT_EQ(detok.flush(), "");
}

TEST(StreamingDetokenizer, PiecesAreEmittedAsTheyAre) {
    const Tokenizer tok(spm_spec());
    StreamingDetokenizer detok(tok);
    // The first generated piece keeps its leading space: " Once", then ",", " there".
    EXPECT_EQ(detok.push(once), " Once");
    EXPECT_EQ(detok.push(comma), ",");
    EXPECT_EQ(detok.push(there), " there");
    EXPECT_EQ(detok.push(byte_token('\n')), "\n");
}

TEST(StreamingDetokenizer, SpecialTokensAreSkippedOrShown) {
    const Tokenizer tok(spm_spec());
    StreamingDetokenizer skipping(tok);
    EXPECT_EQ(skipping.push(1), "");
    EXPECT_EQ(skipping.push(a), "a");
    EXPECT_EQ(skipping.push(2), "");
    EXPECT_EQ(skipping.push(0), "");
    StreamingDetokenizer showing(tok, /*skip_special=*/false);
    EXPECT_EQ(showing.push(1), "<s>");
    EXPECT_EQ(showing.push(0), "<unk>");
    EXPECT_THROW(showing.push(-3), ConfigError);
    EXPECT_THROW(showing.push(tok.vocab_size()), ConfigError);
}

TEST(StreamingDetokenizer, BytesThatCanNeverCompleteBecomeReplacementCharacters) {
    const Tokenizer tok(spm_spec());
    StreamingDetokenizer detok(tok);
    EXPECT_EQ(detok.push(byte_token(0xFF)), replacement);
    EXPECT_EQ(detok.push(byte_token(0x80)), replacement);  // a lone continuation byte
    // E2 82 then "a": the two bytes are one ill-formed subpart, "a" comes through.
    EXPECT_EQ(detok.push(byte_token(0xE2)), "");
    EXPECT_EQ(detok.push(byte_token(0x82)), "");
    EXPECT_EQ(detok.num_pending_bytes(), 2u);
    EXPECT_EQ(detok.push(a), replacement + "a");
    // An unfinished character at the end of the stream.
    EXPECT_EQ(detok.push(byte_token(0xF0)), "");
    EXPECT_EQ(detok.push(byte_token(0x9F)), "");
    EXPECT_EQ(detok.flush(), replacement);
    EXPECT_EQ(detok.num_pending_bytes(), 0u);
    // An overlong lead (C0) is invalid at once, and so is the continuation after it.
    EXPECT_EQ(detok.push(byte_token(0xC0)), replacement);
    EXPECT_EQ(detok.push(byte_token(0xAF)), replacement);
    // Surrogates never start: ED A0 is ill-formed at A0.
    EXPECT_EQ(detok.push(byte_token(0xED)), "");
    EXPECT_EQ(detok.push(byte_token(0xA0)), replacement + replacement);
    // reset() drops held-back bytes silently.
    EXPECT_EQ(detok.push(byte_token(0xE2)), "");
    detok.reset();
    EXPECT_EQ(detok.flush(), "");
}

TEST(StreamingDetokenizer, ByteLevelPiecesThatEndMidCharacter) {
    // gpt2 vocabulary with byte tokens for C3 ("Ã") and a token "©a" = bytes A9 61.
    TokenizerSpec spec;
    spec.model = "gpt2";
    spec.tokens = {"\xC3\x83",
                   "\xC2\xA9"
                   "a",
                   "b"};
    const Tokenizer tok(spec);
    StreamingDetokenizer detok(tok);
    EXPECT_EQ(detok.push(0), "");
    EXPECT_EQ(detok.push(1),
              "\xC3\xA9"
              "a");  // é completed, then "a"
    EXPECT_EQ(detok.push(0), "");
    EXPECT_EQ(detok.push(2), replacement + "b");
}

TEST(StreamingDetokenizer, RandomStreamsGiveValidUtf8EqualToTheSanitizedDecode) {
    const Tokenizer tok(spm_spec());
    std::mt19937 rng(21);
    const int interesting_bytes[] = {0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80,
                                     0xED, 0xA0, 0xC0, 0xFF, 0xF4, 0x90, 0x8F, 'x'};
    for (int trial = 0; trial < 2000; ++trial) {
        Ids ids(rng() % 12);
        for (std::int32_t& id : ids) {
            const unsigned r = rng() % 10;
            if (r < 7) {
                id = byte_token(interesting_bytes[rng() % std::size(interesting_bytes)]);
            } else if (r < 8) {
                id = byte_token(static_cast<int>(rng() % 256));
            } else {
                id = static_cast<std::int32_t>(rng() % tok.vocab_size());
            }
        }
        StreamingDetokenizer detok(tok);
        std::string streamed;
        for (std::int32_t id : ids) {
            const std::string piece = detok.push(id);
            ASSERT_TRUE(utf8_is_valid(piece));
            streamed += piece;
        }
        const std::string rest = detok.flush();
        ASSERT_TRUE(utf8_is_valid(rest));
        streamed += rest;
        EXPECT_EQ(streamed, utf8_sanitize(tok.decode(ids, true)));
    }
}

TEST(StreamingDetokenizer, AppendingFormReusesTheCallersBuffer) {
    const Tokenizer tok(spm_spec());
    StreamingDetokenizer detok(tok);
    std::string out;
    for (std::int32_t id : {once, comma, byte_token(0xC3), byte_token(0xA9), there}) detok.push(id, out);
    detok.flush(out);
    EXPECT_EQ(out, " Once,\xC3\xA9 there");
}

}  // namespace detokenizer_test
}  // namespace kvscope
