// SentencePiece ("llama") tokenization on small hand-made vocabularies whose results are
// worked out by hand in the comments.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/tokenizer.h"

namespace kvscope {
namespace tokenizer_spm_test {

using Ids = std::vector<std::int32_t>;

// Builds a llama vocabulary: 0 <unk>, 1 <s>, 2 </s>, then (optionally) the 256 byte tokens
// <0x00>..<0xFF> at ids 3..258, then "▁" and whatever a test adds.
struct SpmVocab {
    TokenizerSpec spec;

    explicit SpmVocab(bool byte_tokens = true) {
        spec.model = "llama";
        add("<unk>", 0.0f, TokenType::Unknown);
        add("<s>", 0.0f, TokenType::Control);
        add("</s>", 0.0f, TokenType::Control);
        if (byte_tokens) {
            for (int b = 0; b < 256; ++b) {
                char text[8];
                std::snprintf(text, sizeof(text), "<0x%02X>", b);
                add(text, 0.0f, TokenType::Byte);
            }
        }
        spec.unk_id = 0;
        spec.bos_id = 1;
        spec.eos_id = 2;
        spec.add_bos = true;
        spec.add_space_prefix = true;
        add("\xE2\x96\x81");  // "▁"
    }
    std::int32_t add(const std::string& text, float score = 0.0f, TokenType type = TokenType::Normal) {
        spec.tokens.push_back(text);
        spec.scores.push_back(score);
        spec.token_types.push_back(type);
        return static_cast<std::int32_t>(spec.tokens.size() - 1);
    }
};

constexpr std::int32_t byte_token(int byte) {
    return 3 + byte;
}  // in SpmVocab(true)
const std::string space = "\xE2\x96\x81";  // "▁"

Tokenizer no_prefix(TokenizerSpec spec) {
    spec.add_space_prefix = false;
    return Tokenizer(spec);
}

TEST(SpmTokenizer, MergesTheHighestScoringPairFirst) {
    // "abc": the candidate pairs are ab and bc; the better-scoring one merges first and decides
    // the result when "abc" itself is not in the vocabulary.
    {
        SpmVocab v;
        const auto a = v.add("a"), b = v.add("b"), c = v.add("c");
        const auto ab = v.add("ab", -1.0f);
        v.add("bc", -2.0f);
        EXPECT_EQ(no_prefix(v.spec).encode("abc", false, false), (Ids{ab, c}));
        (void)a, (void)b;
    }
    {
        SpmVocab v;
        const auto a = v.add("a");
        v.add("b"), v.add("c");
        v.add("ab", -2.0f);
        const auto bc = v.add("bc", -1.0f);
        EXPECT_EQ(no_prefix(v.spec).encode("abc", false, false), (Ids{a, bc}));
    }
}

TEST(SpmTokenizer, EqualScoresMergeTheLeftmostPairFirst) {
    SpmVocab v;
    v.add("a"), v.add("b");
    const auto c = v.add("c");
    const auto ab = v.add("ab", -1.0f);
    v.add("bc", -1.0f);
    EXPECT_EQ(no_prefix(v.spec).encode("abc", false, false), (Ids{ab, c}));
}

TEST(SpmTokenizer, ATokenIsReachedOnlyThroughPairMerges) {
    // "abc" is a token, but neither "ab" nor "bc" is: no pair ever forms, so it stays a, b, c.
    SpmVocab v;
    const auto a = v.add("a"), b = v.add("b"), c = v.add("c");
    v.add("abc", 10.0f);
    EXPECT_EQ(no_prefix(v.spec).encode("abc", false, false), (Ids{a, b, c}));
}

TEST(SpmTokenizer, MergeChainBuildsAWholeWord) {
    // " hello" -> ▁ h e l l o. Pairs in the vocabulary, best first: he(-1), ll(-2); then llo(-3)
    // appears, then hello(-4), then ▁hello(-5): one token.
    SpmVocab v;
    for (const char* ch : {"h", "e", "l", "o"}) v.add(ch);
    v.add("he", -1.0f);
    v.add("ll", -2.0f);
    v.add("llo", -3.0f);
    v.add("hello", -4.0f);
    const auto whole = v.add(space + "hello", -5.0f);
    v.add("hell", -6.0f);  // a candidate once "ll" forms, but "llo" (-3) outranks it
    EXPECT_EQ(Tokenizer(v.spec).encode("hello", false, false), (Ids{whole}));
}

TEST(SpmTokenizer, DummyPrefixAndEscapedSpaces) {
    SpmVocab v;
    const auto sp = 259;  // "▁"
    const auto a = v.add("a"), b = v.add("b");
    const auto sa = v.add(space + "a", -1.0f), sb = v.add(space + "b", -1.0f);
    const Tokenizer with_prefix(v.spec);
    EXPECT_EQ(with_prefix.encode("a", false, false), (Ids{sa}));
    EXPECT_EQ(with_prefix.encode("a b", false, false), (Ids{sa, sb}));
    // Two spaces: "▁▁" is not a token, so the first space stays alone.
    EXPECT_EQ(with_prefix.encode("a  b", false, false), (Ids{sa, sp, sb}));
    EXPECT_EQ(with_prefix.encode(" a", false, false), (Ids{sp, sa}));
    EXPECT_EQ(no_prefix(v.spec).encode("a b", false, false), (Ids{a, sb}));
    (void)b;
}

TEST(SpmTokenizer, DummyPrefixAlsoFollowsSpecialTokens) {
    // As llama.cpp (and SentencePiece's legacy mode) do: text after a special token is encoded
    // as a fresh text, with its own dummy prefix.
    SpmVocab v;
    const auto a = v.add("a");
    const auto sa = v.add(space + "a", -1.0f);
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.encode("<s>a", false, true), (Ids{1, sa}));
    EXPECT_EQ(tok.encode("a</s>a", false, true), (Ids{sa, 2, sa}));
    EXPECT_EQ(no_prefix(v.spec).encode("a</s>a", false, true), (Ids{a, 2, a}));
}

TEST(SpmTokenizer, UnknownCharactersFallBackToByteTokens) {
    SpmVocab v;
    const auto sp = 259;
    v.add("a");
    const auto sa = v.add(space + "a", -1.0f);
    const Tokenizer tok(v.spec);
    // " é\n" -> ▁, then é = C3 A9 and \n = 0A as byte tokens.
    EXPECT_EQ(tok.encode("\xC3\xA9\n", false, false), (Ids{sp, byte_token(0xC3), byte_token(0xA9), byte_token(0x0A)}));
    // An emoji (F0 9F 98 80) between known text.
    EXPECT_EQ(tok.encode("a\xF0\x9F\x98\x80", false, false),
              (Ids{sa, byte_token(0xF0), byte_token(0x9F), byte_token(0x98), byte_token(0x80)}));
}

TEST(SpmTokenizer, UnknownCharactersBecomeUnkWithoutByteTokens) {
    SpmVocab v(/*byte_tokens=*/false);
    const auto a = v.add("a");
    const Tokenizer tok = no_prefix(v.spec);
    // One <unk> per unknown character, whatever its length in bytes.
    EXPECT_EQ(tok.encode("a\xC3\xA9\xF0\x9F\x98\x80"
                         "a",
                         false, false),
              (Ids{a, 0, 0, a}));
}

TEST(SpmTokenizer, InvalidUtf8IsByteTokenised) {
    SpmVocab v;
    const auto a = v.add("a"), b = v.add("b");
    const Tokenizer tok = no_prefix(v.spec);
    EXPECT_EQ(tok.encode("a\xFF"
                         "b",
                         false, false),
              (Ids{a, byte_token(0xFF), b}));
    // A truncated "▁" at the end and a lone continuation byte.
    EXPECT_EQ(tok.encode("a\xE2\x96", false, false), (Ids{a, byte_token(0xE2), byte_token(0x96)}));
    EXPECT_EQ(tok.encode("\x80"
                         "a",
                         false, false),
              (Ids{byte_token(0x80), a}));
}

TEST(SpmTokenizer, RandomBytesRoundTripThroughByteTokens) {
    // With all 256 byte tokens every byte string is representable: decoding gives the text back
    // behind the dummy-prefix space (unless the text holds "▁" itself, which reads as a space).
    SpmVocab v;
    for (const char* t : {"a", "b", "ab", "ba", "\xC3\xA9"}) v.add(t, -1.0f);
    v.add(space + "a", -0.5f);
    const Tokenizer tok(v.spec);
    std::mt19937 rng(42);
    for (int trial = 0; trial < 500; ++trial) {
        std::string text;
        const int length = static_cast<int>(rng() % 40);
        for (int i = 0; i < length; ++i) {
            const unsigned r = rng() % 4;
            text.push_back(r == 0 ? 'a' : r == 1 ? ' ' : static_cast<char>(rng() % 256));
        }
        if (text.find(space) != std::string::npos) continue;
        const Ids ids = tok.encode(text, true, false);
        ASSERT_FALSE(ids.empty());
        EXPECT_EQ(ids.front(), 1);
        EXPECT_EQ(tok.decode(ids, true), text.empty() ? "" : " " + text);  // "" has no dummy prefix
    }
}

TEST(SpmTokenizer, AddSpecialFollowsTheFlags) {
    SpmVocab v;
    const auto sa = v.add(space + "a", -1.0f);
    v.add("a");
    Tokenizer tok(v.spec);
    EXPECT_EQ(tok.encode("a", true, false), (Ids{1, sa}));
    EXPECT_EQ(tok.encode("", true, false), (Ids{1}));
    EXPECT_EQ(tok.encode("", false, false), (Ids{}));
    v.spec.add_bos = false;
    v.spec.add_eos = true;
    EXPECT_EQ(Tokenizer(v.spec).encode("a", true, false), (Ids{sa, 2}));
}

TEST(SpmTokenizer, SpecialTokensAreParsedOnlyWhenAsked) {
    SpmVocab v;
    const auto a = v.add("a");
    const auto lt = v.add("<"), s = v.add("s"), gt = v.add(">");
    const auto sep = v.add("<sep>", 0.0f, TokenType::UserDefined);
    const auto tok = no_prefix(v.spec);
    EXPECT_EQ(tok.encode("a<s>a", false, true), (Ids{a, 1, a}));
    EXPECT_EQ(tok.encode("a<s>a", false, false), (Ids{a, lt, s, gt, a}));
    // User-defined tokens are recognised either way (llama.cpp does the same).
    EXPECT_EQ(tok.encode("a<sep>a", false, false), (Ids{a, sep, a}));
    EXPECT_EQ(tok.encode("<unk>", false, true), (Ids{0}));
}

TEST(SpmTokenizer, SpecialTokenMatchingIsLeftmostLongest) {
    SpmVocab v;
    const auto a = v.add("a");
    const auto x = v.add("<x>", 0.0f, TokenType::Control);
    const auto xy = v.add("<x><y>", 0.0f, TokenType::Control);
    const auto y = v.add("<y>", 0.0f, TokenType::Control);
    const auto tok = no_prefix(v.spec);
    EXPECT_EQ(tok.encode("<x><y>", false, true), (Ids{xy}));
    EXPECT_EQ(tok.encode("<x>a<y><x>", false, true), (Ids{x, a, y, x}));
    EXPECT_EQ(tok.encode("<x><x><y>", false, true), (Ids{x, xy}));
}

TEST(SpmTokenizer, PiecesAndDecode) {
    SpmVocab v;
    const auto sa = v.add(space + "a", -1.0f);
    const auto unused = v.add("<unused0>", 0.0f, TokenType::Unused);
    const auto user = v.add("<sep>", 0.0f, TokenType::UserDefined);
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.token_piece(byte_token('\n')), "\n");
    EXPECT_EQ(tok.token_piece(byte_token(0xC3)), "\xC3");
    EXPECT_EQ(tok.token_piece(sa), " a");
    EXPECT_EQ(tok.token_piece(1), "<s>");
    EXPECT_EQ(tok.token_piece(0), "<unk>");
    EXPECT_EQ(tok.token_piece(unused), "");
    EXPECT_EQ(tok.token_piece(user), "<sep>");
    const Ids ids{1, sa, user, byte_token(0xC3), byte_token(0xA9), 0, 2};
    EXPECT_EQ(tok.decode(ids, true), " a<sep>\xC3\xA9");
    EXPECT_EQ(tok.decode(ids, false), "<s> a<sep>\xC3\xA9<unk></s>");
}

TEST(SpmTokenizer, Accessors) {
    SpmVocab v;
    const auto sa = v.add(space + "a", -1.5f);
    v.spec.eot_id = v.add("<|eot|>", 0.0f, TokenType::Control);
    const auto extra_eog = v.add("<|stop|>", 0.0f, TokenType::Control);
    v.spec.eog_ids = {extra_eog};
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.vocab_size(), static_cast<std::int32_t>(v.spec.tokens.size()));
    EXPECT_EQ(tok.model(), Tokenizer::Model::Spm);
    EXPECT_EQ(tok.bos_id(), 1);
    EXPECT_EQ(tok.eos_id(), 2);
    EXPECT_EQ(tok.unk_id(), 0);
    EXPECT_TRUE(tok.is_eog(2));
    EXPECT_TRUE(tok.is_eog(v.spec.eot_id));
    EXPECT_TRUE(tok.is_eog(extra_eog));
    EXPECT_FALSE(tok.is_eog(1));
    EXPECT_FALSE(tok.is_eog(-1));
    EXPECT_FALSE(tok.is_eog(100000));
    EXPECT_EQ(tok.eog_ids(), (Ids{2, v.spec.eot_id, extra_eog}));
    EXPECT_TRUE(tok.is_control(1));
    EXPECT_FALSE(tok.is_control(sa));
    EXPECT_EQ(tok.token_type(byte_token(7)), TokenType::Byte);
    EXPECT_EQ(tok.token_text(sa), space + "a");
    EXPECT_FLOAT_EQ(tok.token_score(sa), -1.5f);
    EXPECT_EQ(tok.find_token(space + "a"), sa);
    EXPECT_EQ(tok.find_token("<0x0A>"), byte_token(0x0A));
    EXPECT_FALSE(tok.find_token("zzz").has_value());
    EXPECT_THROW(tok.token_piece(-1), ConfigError);
    EXPECT_THROW(tok.token_text(tok.vocab_size()), ConfigError);
    const Ids bad{sa, 99999};
    EXPECT_THROW(tok.decode(bad, false), ConfigError);
}

TEST(SpmTokenizer, MegabyteInputRoundTrips) {
    // A quadratic merge loop would not finish here; this one is O(n log n).
    SpmVocab v;
    for (const char* t : {"a", "b", "c", "ab", "bc", "abc"}) v.add(t, -static_cast<float>(std::string(t).size()));
    v.add(space + "a", -0.5f);
    v.add(space + "ab", -0.25f);
    const Tokenizer tok(v.spec);
    std::mt19937 rng(7);
    std::string text;
    while (text.size() < (1u << 20)) text.push_back("abc \xC3"[rng() % 5]);
    const Ids ids = tok.encode(text, false, false);
    EXPECT_EQ(tok.decode(ids, false), " " + text);
    // A megabyte without any merge candidate (all byte fallback) and one long run of a single letter.
    EXPECT_EQ(tok.decode(tok.encode(std::string(1 << 20, '\x01'), false, false), false),
              " " + std::string(1 << 20, '\x01'));
    EXPECT_EQ(tok.decode(tok.encode(std::string(1 << 20, 'a'), false, false), false), " " + std::string(1 << 20, 'a'));
}

}  // namespace tokenizer_spm_test
}  // namespace kvscope
