// The hand-written pre-tokenizer splits on tricky strings. Expected words are what the models'
// regexes give (worked out by hand; they agree with Python's `regex` module).

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/pretokenizer.h"
#include "engine/unicode.h"

namespace kvscope {
namespace pretokenizer_test {

using Words = std::vector<std::string>;

Words split(PreTokenizerKind kind, const std::string& text) {
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    pre_tokenize(kind, text, ranges);
    Words words;
    for (const auto& [begin, end] : ranges) words.push_back(text.substr(begin, end - begin));
    return words;
}

constexpr auto gpt2 = PreTokenizerKind::Gpt2;
constexpr auto llama3 = PreTokenizerKind::Llama3;
constexpr auto qwen2 = PreTokenizerKind::Qwen2;

TEST(PreTokenizer, NamesSelectTheSplit) {
    EXPECT_EQ(pre_tokenizer_from_name("llama-bpe").kind, llama3);
    EXPECT_EQ(pre_tokenizer_from_name("llama3").kind, llama3);
    EXPECT_EQ(pre_tokenizer_from_name("qwen2").kind, qwen2);
    EXPECT_EQ(pre_tokenizer_from_name("gpt2").kind, gpt2);
    EXPECT_TRUE(pre_tokenizer_from_name("default").recognised);
    EXPECT_TRUE(pre_tokenizer_from_name("").recognised);
    const PreTokenizerChoice unknown = pre_tokenizer_from_name("some-new-model");
    EXPECT_EQ(unknown.kind, gpt2);
    EXPECT_FALSE(unknown.recognised);
}

TEST(PreTokenizer, WordsAndContractions) {
    for (auto kind : {gpt2, llama3, qwen2}) {
        EXPECT_EQ(split(kind, "Hello world"), (Words{"Hello", " world"}));
        EXPECT_EQ(
            split(kind, "I'm can't we'll you've they're he'd it's"),
            (Words{"I", "'m", " can", "'t", " we", "'ll", " you", "'ve", " they", "'re", " he", "'d", " it", "'s"}));
        EXPECT_EQ(split(kind, "'sup"), (Words{"'s", "up"}));
        EXPECT_EQ(split(kind, ""), (Words{}));
    }
    // GPT-2's contractions are lower case only; Llama-3's ignore (ASCII) case.
    EXPECT_EQ(split(gpt2, "DON'T"), (Words{"DON", "'", "T"}));
    EXPECT_EQ(split(llama3, "DON'T"), (Words{"DON", "'T"}));
    EXPECT_EQ(split(qwen2, "WE'LL"), (Words{"WE", "'LL"}));
}

TEST(PreTokenizer, Numbers) {
    EXPECT_EQ(split(gpt2, "abc 12345 x"), (Words{"abc", " 12345", " x"}));
    EXPECT_EQ(split(llama3, "abc 12345 x"), (Words{"abc", " ", "123", "45", " x"}));
    EXPECT_EQ(split(llama3, "x 1234567"), (Words{"x", " ", "123", "456", "7"}));
    EXPECT_EQ(split(qwen2, "abc 12345 x"), (Words{"abc", " ", "1", "2", "3", "4", "5", " x"}));
    // Arabic-Indic digits are \p{N} too.
    const std::string digits = "\xD9\xA3\xD9\xA4\xD9\xA5\xD9\xA6";  // ٣٤٥٦
    EXPECT_EQ(split(gpt2, digits), (Words{digits}));
    EXPECT_EQ(split(llama3, digits), (Words{digits.substr(0, 6), digits.substr(6)}));
    EXPECT_EQ(split(qwen2, digits),
              (Words{digits.substr(0, 2), digits.substr(2, 2), digits.substr(4, 2), digits.substr(6)}));
}

TEST(PreTokenizer, WhitespaceRuns) {
    for (auto kind : {gpt2, llama3, qwen2}) {
        // A run before a word keeps its last space for the word; a run at the end stays whole.
        EXPECT_EQ(split(kind, "a   b"), (Words{"a", "  ", " b"}));
        EXPECT_EQ(split(kind, "a   "), (Words{"a", "   "}));
        EXPECT_EQ(split(kind, "   \n"), (Words{"   \n"}));
    }
    // GPT-2 has no newline rule: "\n\n" before a word splits like any whitespace run.
    EXPECT_EQ(split(gpt2, "a\n\nb"), (Words{"a", "\n", "\n", "b"}));
    EXPECT_EQ(split(gpt2, "\tword"), (Words{"\t", "word"}));
    EXPECT_EQ(split(gpt2, "a \n  b"), (Words{"a", " \n ", " b"}));
    // Llama-3: \s*[\r\n]+ ends a whitespace run at its last newline; any one non-newline
    // character may lead a word.
    EXPECT_EQ(split(llama3, "a\n\nb"), (Words{"a", "\n\n", "b"}));
    EXPECT_EQ(split(llama3, "a \n  b"), (Words{"a", " \n", " ", " b"}));
    EXPECT_EQ(split(llama3, "a\r\n\r\n"), (Words{"a", "\r\n\r\n"}));
    EXPECT_EQ(split(llama3, "\tword"), (Words{"\tword"}));
    const std::string nbsp = "\xC2\xA0";
    EXPECT_EQ(split(gpt2, "x" + nbsp + "y"), (Words{"x", nbsp, "y"}));
    EXPECT_EQ(split(llama3, "x" + nbsp + "y"), (Words{"x", nbsp + "y"}));
}

TEST(PreTokenizer, PunctuationAndSymbols) {
    for (auto kind : {gpt2, llama3, qwen2}) {
        EXPECT_EQ(split(kind, "Hello!!! ok"), (Words{"Hello", "!!!", " ok"}));
        // Emoji are symbols: they join the punctuation run, with the leading space.
        EXPECT_EQ(split(kind, "hi \xF0\x9F\x98\x80\xF0\x9F\x98\x80!"),
                  (Words{"hi", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80!"}));
    }
    EXPECT_EQ(split(gpt2, "end.\n\nNext"), (Words{"end", ".", "\n", "\n", "Next"}));
    EXPECT_EQ(split(llama3, "end.\n\nNext"), (Words{"end", ".\n\n", "Next"}));
    EXPECT_EQ(split(gpt2, " ?!\n\nok"), (Words{" ?!", "\n", "\n", "ok"}));
    EXPECT_EQ(split(qwen2, " ?!\n\nok"), (Words{" ?!\n\n", "ok"}));
}

TEST(PreTokenizer, UnicodeLettersAndMarks) {
    for (auto kind : {gpt2, llama3, qwen2}) {
        EXPECT_EQ(split(kind, "na\xC3\xAFve caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87"),
                  (Words{"na\xC3\xAFve", " caf\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87"}));
        // A combining accent (U+0301) is \p{M}, not \p{L}: it splits off its base letter.
        EXPECT_EQ(split(kind, "e\xCC\x81"), (Words{"e", "\xCC\x81"}));
    }
}

TEST(PreTokenizer, WordsCoverRandomTextExactly) {
    const char* pieces[] = {" ",
                            "a",
                            "Z",
                            "1",
                            "'",
                            "s",
                            "\n",
                            "\r",
                            "\t",
                            ".",
                            "\xC3\xA9",
                            "\xE4\xB8\xAD",
                            "\xF0\x9F\x98\x80",
                            "\xCC\x81",
                            "\xC2\xA0",
                            "\xD9\xA3"};
    std::mt19937 rng(11);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string text;
        const int length = static_cast<int>(rng() % 30);
        for (int i = 0; i < length; ++i) text += pieces[rng() % std::size(pieces)];
        for (auto kind : {gpt2, llama3, qwen2}) {
            std::string joined;
            for (const std::string& word : split(kind, text)) {
                ASSERT_FALSE(word.empty());
                ASSERT_TRUE(utf8_is_valid(word));
                joined += word;
            }
            ASSERT_EQ(joined, text);
        }
    }
}

}  // namespace pretokenizer_test
}  // namespace kvscope
