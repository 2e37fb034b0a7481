// Byte-level BPE ("gpt2") tokenization on small hand-made vocabularies: all 256 byte tokens at
// ids 0..255 (id = byte value) plus a few merges whose results are worked out by hand.

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace kvscope {
namespace tokenizer_bpe_test {

using Ids = std::vector<std::int32_t>;

// GPT-2's bytes_to_unicode(), written out as in its original Python, as the test's reference.
std::string reference_byte_level(const std::string& bytes) {
    static const std::map<int, char32_t> mapping = [] {
        std::vector<int> bs;
        for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
        for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
        for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
        std::map<int, char32_t> m;
        for (int b : bs) m[b] = static_cast<char32_t>(b);
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            if (!m.count(b)) m[b] = static_cast<char32_t>(256 + n++);
        }
        return m;
    }();
    std::string out;
    for (char ch : bytes) utf8_append(out, mapping.at(static_cast<unsigned char>(ch)));
    return out;
}

struct BpeVocab {
    TokenizerSpec spec;

    explicit BpeVocab(const std::string& pre = "gpt2") {
        spec.model = "gpt2";
        spec.pre = pre;
        for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
    }
    // A normal token for the bytes `text` (stored byte-level mapped, as in GGUF).
    std::int32_t add(const std::string& text) { return add_raw(reference_byte_level(text), TokenType::Normal); }
    std::int32_t add_raw(const std::string& stored, TokenType type) {
        spec.tokens.push_back(stored);
        spec.token_types.push_back(type);
        return static_cast<std::int32_t>(spec.tokens.size() - 1);
    }
    // The next merge rank: the token `left + right` is formed from `left` and `right`.
    void merge(const std::string& left, const std::string& right) {
        spec.merges.push_back(reference_byte_level(left) + " " + reference_byte_level(right));
    }
};

std::int32_t b(char ch) {
    return static_cast<unsigned char>(ch);
}  // a byte's token id

TEST(BpeTokenizer, MergeRanksDecideTheOrder) {
    {
        BpeVocab v;
        v.add("ab");
        v.add("bc");
        const auto abc = v.add("abc");
        v.merge("a", "b");
        v.merge("b", "c");
        v.merge("ab", "c");
        // ab (rank 0) beats bc (rank 1); then ab + c (rank 2).
        EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{abc}));
    }
    {
        BpeVocab v;
        v.add("ab");
        const auto bc = v.add("bc");
        v.add("abc");
        v.merge("b", "c");
        v.merge("a", "b");
        v.merge("ab", "c");
        // bc (rank 0) goes first; "a bc" is not a merge, so abc is never formed.
        EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{b('a'), bc}));
    }
}

TEST(BpeTokenizer, EqualRanksMergeTheLeftmostPairFirst) {
    BpeVocab v;
    const auto aa = v.add("aa");
    v.merge("a", "a");
    Tokenizer tok(v.spec);
    EXPECT_EQ(tok.encode("aaa", false, false), (Ids{aa, b('a')}));
    EXPECT_EQ(tok.encode("aaaa", false, false), (Ids{aa, aa}));
    const auto aaaa = v.add("aaaa");
    v.merge("aa", "aa");
    EXPECT_EQ(Tokenizer(v.spec).encode("aaaaa", false, false), (Ids{aaaa, b('a')}));
}

TEST(BpeTokenizer, SpacesAreBytesAndMergesStayInsideWords) {
    BpeVocab v;
    const auto hi = v.add("hi");
    const auto space_hi = v.add(" hi");
    v.add("a ");
    v.merge("h", "i");
    v.merge(" ", "hi");
    v.merge("a", " ");  // never applies: "a" and " " always land in different words
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.encode("hi hi", false, false), (Ids{hi, space_hi}));
    EXPECT_EQ(tok.encode("a hi", false, false), (Ids{b('a'), space_hi}));
    EXPECT_EQ(tok.encode("a\nhi", false, false), (Ids{b('a'), b('\n'), hi}));
    EXPECT_EQ(tok.token_piece(space_hi), " hi");
    EXPECT_EQ(tok.token_text(space_hi), "\xC4\xA0hi");  // "Ġhi" as stored
    EXPECT_EQ(tok.token_piece(b('\n')), "\n");
    EXPECT_EQ(tok.token_text(b('\n')), "\xC4\x8A");  // "Ċ"
}

TEST(BpeTokenizer, MultiByteCharactersAreMergedFromTheirBytes) {
    BpeVocab v;
    const auto e_acute = v.add("\xC3\xA9");  // é = C3 A9, stored as "Ã©"
    v.merge("\xC3", "\xA9");
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.token_text(e_acute), "\xC3\x83\xC2\xA9");
    EXPECT_EQ(tok.encode("caf\xC3\xA9", false, false), (Ids{b('c'), b('a'), b('f'), e_acute}));
    // An emoji without merges: its four bytes.
    EXPECT_EQ(tok.encode("\xF0\x9F\x98\x80", false, false), (Ids{0xF0, 0x9F, 0x98, 0x80}));
    EXPECT_EQ(tok.decode(Ids{b('c'), e_acute, 0xF0, 0x9F, 0x98, 0x80}, false), "c\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(BpeTokenizer, Llama3TakesWholeWordTokensWithoutMerging) {
    BpeVocab llama3("llama-bpe");
    const auto abc = llama3.add("abc");
    EXPECT_EQ(Tokenizer(llama3.spec).encode("abc", false, false), (Ids{abc}));
    BpeVocab gpt2("gpt2");
    gpt2.add("abc");
    EXPECT_EQ(Tokenizer(gpt2.spec).encode("abc", false, false), (Ids{b('a'), b('b'), b('c')}));
}

TEST(BpeTokenizer, DigitGroupsFollowThePreTokenizer) {
    for (const std::string pre : {"llama3", "qwen2", "gpt2"}) {
        BpeVocab v(pre);
        v.add("12");
        const auto t123 = v.add("123"), t1234 = v.add("1234"), t45 = v.add("45");
        v.merge("1", "2");
        v.merge("12", "3");
        v.merge("123", "4");
        v.merge("4", "5");
        const Ids ids = Tokenizer(v.spec).encode("12345", false, false);
        if (pre == "llama3") {
            EXPECT_EQ(ids, (Ids{t123, t45}));  // words "123" "45"
        } else if (pre == "qwen2") {
            EXPECT_EQ(ids, (Ids{b('1'), b('2'), b('3'), b('4'), b('5')}));  // one digit per word
        } else {
            EXPECT_EQ(ids, (Ids{t1234, b('5')}));  // one word: 12, 123, then 1234 (rank 2) before 45 (rank 3)
        }
    }
}

TEST(BpeTokenizer, SpecialTokens) {
    BpeVocab v("qwen2");
    const auto hi = v.add("hi");
    v.merge("h", "i");
    const auto start = v.add_raw("<|im_start|>", TokenType::Control);
    const auto end = v.add_raw("<|im_end|>", TokenType::Control);
    v.spec.eos_id = end;
    const Tokenizer tok(v.spec);
    const std::string text = "<|im_start|>hi<|im_end|>";
    EXPECT_EQ(tok.encode(text, false, true), (Ids{start, hi, end}));
    const Ids literal = tok.encode(text, false, false);
    for (std::int32_t id : literal) {
        EXPECT_NE(id, start);
        EXPECT_NE(id, end);
    }
    EXPECT_EQ(tok.decode(literal, false), text);
    EXPECT_EQ(tok.token_piece(start), "<|im_start|>");
    EXPECT_EQ(tok.decode(Ids{start, hi, end}, true), "hi");
    EXPECT_EQ(tok.decode(Ids{start, hi, end}, false), text);
    EXPECT_TRUE(tok.is_eog(end));
}

TEST(BpeTokenizer, AddSpecialFollowsTheFlags) {
    BpeVocab v;
    const auto bos = v.add_raw("<|begin_of_text|>", TokenType::Control);
    const auto eos = v.add_raw("<|end_of_text|>", TokenType::Control);
    v.spec.bos_id = bos;
    v.spec.eos_id = eos;
    EXPECT_EQ(Tokenizer(v.spec).encode("a", true, false), (Ids{b('a')}));
    v.spec.add_bos = true;
    EXPECT_EQ(Tokenizer(v.spec).encode("a", true, false), (Ids{bos, b('a')}));
    EXPECT_EQ(Tokenizer(v.spec).encode("a", false, false), (Ids{b('a')}));
    v.spec.add_eos = true;
    EXPECT_EQ(Tokenizer(v.spec).encode("", true, false), (Ids{bos, eos}));
}

TEST(BpeTokenizer, MissingByteTokensFallBackToUnk) {
    TokenizerSpec spec;
    spec.model = "gpt2";
    spec.tokens = {"<unk>", "a", "b", "ab"};
    spec.token_types = {TokenType::Unknown, TokenType::Normal, TokenType::Normal, TokenType::Normal};
    spec.merges = {"a b"};
    spec.unk_id = 0;
    const Tokenizer tok(spec);
    EXPECT_EQ(tok.encode("ab\xC3\xA9"
                         "a",
                         false, false),
              (Ids{3, 0, 0, 1}));
}

TEST(BpeTokenizer, UnknownPreTokenizerFallsBackToGpt2WithAWarning) {
    BpeVocab v("brand-new-model");
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.pre_tokenizer(), PreTokenizerKind::Gpt2);
    ASSERT_EQ(tok.warnings().size(), 1u);
    EXPECT_NE(tok.warnings()[0].find("brand-new-model"), std::string::npos);
    EXPECT_TRUE(Tokenizer(BpeVocab("qwen2").spec).warnings().empty());
}

// Random text from a mix of ASCII, whitespace, digits, Latin, CJK, emoji and combining marks.
std::string random_text(std::mt19937& rng, int max_codepoints) {
    static const char32_t pool[] = {' ',  ' ',  'a',   'b',    'e',    'h',     'i',     'Z',    '\'',
                                    's',  '1',  '2',   '9',    '\n',   '\r',    '\t',    '.',    '!',
                                    0xA0, 0xE9, 0x301, 0x4E2D, 0x0663, 0x1F600, 0x1F44D, 0x200D, 0x3000};
    std::string text;
    const int n = static_cast<int>(rng() % (max_codepoints + 1));
    for (int i = 0; i < n; ++i) {
        char32_t cp = pool[rng() % std::size(pool)];
        if (rng() % 8 == 0) {
            do cp = static_cast<char32_t>(1 + rng() % 0x2FFFF);
            while (cp >= 0xD800 && cp <= 0xDFFF);
        }
        utf8_append(text, cp);
    }
    return text;
}

TEST(BpeTokenizer, RandomUnicodeRoundTrips) {
    for (const std::string pre : {"gpt2", "llama-bpe", "qwen2"}) {
        BpeVocab v(pre);
        for (const auto& [l, r] : std::vector<std::pair<std::string, std::string>>{
                 {" ", "a"}, {"h", "i"}, {" a", "b"}, {"\xC3", "\xA9"}, {"\xE4", "\xB8"}, {"1", "2"}, {"\n", "\n"}}) {
            v.add(l + r);
            v.merge(l, r);
        }
        const Tokenizer tok(v.spec);
        std::mt19937 rng(5);
        for (int trial = 0; trial < 400; ++trial) {
            const std::string text = random_text(rng, 30);
            EXPECT_EQ(tok.decode(tok.encode(text, false, false), false), text) << pre;
        }
    }
}

TEST(BpeTokenizer, InvalidBytesNeverCrashAndReadAsReplacementCharacters) {
    BpeVocab v("llama3");
    v.add("ab");
    v.merge("a", "b");
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.decode(tok.encode("a\xFF"
                                    "b",
                                    false, false),
                         false),
              "a\xEF\xBF\xBD"
              "b");
    std::mt19937 rng(9);
    for (int trial = 0; trial < 1000; ++trial) {
        std::string bytes(rng() % 24, '\0');
        for (char& ch : bytes) ch = static_cast<char>(rng() % 4 == 0 ? 'a' : rng() % 256);
        const std::string decoded = tok.decode(tok.encode(bytes, true, true), false);
        EXPECT_TRUE(utf8_is_valid(decoded));
        EXPECT_EQ(decoded, utf8_sanitize(bytes));
    }
}

TEST(BpeTokenizer, MegabyteInputRoundTrips) {
    BpeVocab v("llama3");
    v.add(" a");
    v.merge(" ", "a");
    v.add("aa");
    v.merge("a", "a");
    const Tokenizer tok(v.spec);
    std::mt19937 rng(13);
    std::string text;
    while (text.size() < (1u << 20)) text += random_text(rng, 8);
    EXPECT_EQ(tok.decode(tok.encode(text, false, false), false), text);
    // One megabyte-long word, and one megabyte-long whitespace run.
    const std::string word(1 << 20, 'a');
    EXPECT_EQ(tok.encode(word, false, false).size(), (1u << 19));
    const std::string spaces(1 << 20, ' ');
    EXPECT_EQ(tok.decode(tok.encode(spaces, false, false), false), spaces);
}

}  // namespace tokenizer_bpe_test
}  // namespace kvscope
