#include "engine/pretokenizer.h"

#include "engine/unicode.h"
#include "kernels/check.h"

namespace kvscope {

namespace {

// The text as code points with their byte offsets (offsets has one extra entry: the end).
struct Codepoints {
    std::vector<char32_t> cps;
    std::vector<CodepointClass> classes;
    std::vector<std::size_t> offsets;

    explicit Codepoints(std::string_view text) {
        cps.reserve(text.size());
        classes.reserve(text.size());
        offsets.reserve(text.size() + 1);
        for (std::size_t pos = 0; pos < text.size();) {
            const Utf8Step step = utf8_next(text, pos);
            KV_CHECK_MSG(step.status == Utf8Status::Valid, "pre_tokenize needs valid UTF-8");
            cps.push_back(step.cp);
            classes.push_back(codepoint_class(step.cp));
            offsets.push_back(pos);
            pos += step.length;
        }
        offsets.push_back(text.size());
    }
    std::size_t size() const { return cps.size(); }
};

bool is_newline(char32_t cp) {
    return cp == '\r' || cp == '\n';
}

char32_t ascii_lower(char32_t cp) {
    return (cp >= 'A' && cp <= 'Z') ? cp + ('a' - 'A') : cp;
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) starting at i, or 0.
std::size_t contraction_length(const Codepoints& t, std::size_t i, bool ignore_case) {
    const std::size_t n = t.size();
    if (t.cps[i] != '\'' || i + 1 >= n) return 0;
    auto at = [&](std::size_t k) { return ignore_case ? ascii_lower(t.cps[k]) : t.cps[k]; };
    const char32_t c1 = at(i + 1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (i + 2 >= n) return 0;
    const char32_t c2 = at(i + 2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    return 0;
}

// [^\s\p{L}\p{N}]
bool is_other_symbol(CodepointClass c) {
    return c != CodepointClass::Whitespace && c != CodepointClass::Letter && c != CodepointClass::Number;
}

// End of the run of code points from i on that satisfy pred.
template <typename Pred>
std::size_t run_end(const Codepoints& t, std::size_t i, Pred pred) {
    while (i < t.size() && pred(t.classes[i])) ++i;
    return i;
}

// \s+(?!\S)|\s+ at i (a whitespace code point): all of a run that reaches the end of the text,
// all but the last of a longer run before a non-space, and a lone whitespace otherwise.
std::size_t whitespace_word_end(const Codepoints& t, std::size_t i) {
    const std::size_t end = run_end(t, i, [](CodepointClass c) { return c == CodepointClass::Whitespace; });
    return (end < t.size() && end - i > 1) ? end - 1 : end;
}

// One word of the GPT-2 split starting at i; returns its end.
std::size_t gpt2_word_end(const Codepoints& t, std::size_t i) {
    if (const std::size_t len = contraction_length(t, i, /*ignore_case=*/false)) return i + len;
    // " ?X+" for X in \p{L}, \p{N}, [^\s\p{L}\p{N}]: an optional leading space, then a run.
    const std::size_t body = (t.cps[i] == ' ' && i + 1 < t.size()) ? i + 1 : i;
    const CodepointClass c = t.classes[body];
    if (c == CodepointClass::Letter || c == CodepointClass::Number) {
        return run_end(t, body, [c](CodepointClass x) { return x == c; });
    }
    if (is_other_symbol(c)) return run_end(t, body, is_other_symbol);
    return whitespace_word_end(t, i);
}

// One word of the Llama-3 (digits_per_word = 3) or Qwen2 (1) split starting at i.
std::size_t llama3_word_end(const Codepoints& t, std::size_t i, std::size_t digits_per_word) {
    const std::size_t n = t.size();
    if (const std::size_t len = contraction_length(t, i, /*ignore_case=*/true)) return i + len;
    const char32_t cp = t.cps[i];
    const CodepointClass c = t.classes[i];
    auto letters = [](CodepointClass x) { return x == CodepointClass::Letter; };
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c == CodepointClass::Letter) return run_end(t, i + 1, letters);
    if (!is_newline(cp) && c != CodepointClass::Number && i + 1 < n && t.classes[i + 1] == CodepointClass::Letter) {
        return run_end(t, i + 2, letters);
    }
    // \p{N}{1,3}
    if (c == CodepointClass::Number) {
        std::size_t end = i + 1;
        while (end < n && end - i < digits_per_word && t.classes[end] == CodepointClass::Number) ++end;
        return end;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const std::size_t body = (cp == ' ' && i + 1 < n) ? i + 1 : i;
    if (is_other_symbol(t.classes[body])) {
        std::size_t end = run_end(t, body, is_other_symbol);
        while (end < n && is_newline(t.cps[end])) ++end;
        return end;
    }
    // \s*[\r\n]+: a whitespace run that holds a newline ends after its last newline.
    std::size_t after_last_newline = 0;
    for (std::size_t k = i; k < n && t.classes[k] == CodepointClass::Whitespace; ++k) {
        if (is_newline(t.cps[k])) after_last_newline = k + 1;
    }
    if (after_last_newline > 0) return after_last_newline;
    return whitespace_word_end(t, i);
}

}  // namespace

PreTokenizerChoice pre_tokenizer_from_name(std::string_view pre) {
    for (std::string_view name : {"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe"}) {
        if (pre == name) return {PreTokenizerKind::Llama3, true};
    }
    for (std::string_view name : {"qwen2", "stablelm2", "megrez"}) {
        if (pre == name) return {PreTokenizerKind::Qwen2, true};
    }
    for (std::string_view name : {"", "default", "gpt2", "gpt-2"}) {
        if (pre == name) return {PreTokenizerKind::Gpt2, true};
    }
    return {PreTokenizerKind::Gpt2, false};
}

std::string_view pre_tokenizer_name(PreTokenizerKind kind) {
    switch (kind) {
        case PreTokenizerKind::Gpt2:
            return "gpt2";
        case PreTokenizerKind::Llama3:
            return "llama3";
        case PreTokenizerKind::Qwen2:
            return "qwen2";
    }
    return "?";
}

void pre_tokenize(PreTokenizerKind kind, std::string_view text,
                  std::vector<std::pair<std::size_t, std::size_t>>& words) {
    words.clear();
    const Codepoints t(text);
    for (std::size_t i = 0; i < t.size();) {
        std::size_t end = 0;
        switch (kind) {
            case PreTokenizerKind::Gpt2:
                end = gpt2_word_end(t, i);
                break;
            case PreTokenizerKind::Llama3:
                end = llama3_word_end(t, i, 3);
                break;
            case PreTokenizerKind::Qwen2:
                end = llama3_word_end(t, i, 1);
                break;
        }
        KV_CHECK(end > i && end <= t.size());
        words.emplace_back(t.offsets[i], t.offsets[end]);
        i = end;
    }
}

}  // namespace kvscope
