#pragma once
// UTF-8 decoding and encoding, the Unicode classes the BPE pre-tokenizers need (\p{L}, \p{N},
// \s, ...), and GPT-2's byte <-> code point mapping for byte-level BPE.
// The class tables are generated from Python's unicodedata by scripts/gen_unicode_tables.py.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvscope {

// One class per code point, as the pre-tokenizer regexes see them.
enum class CodepointClass : std::uint8_t {
    Other,        // controls (other than whitespace), format, surrogates, private use, unassigned
    Letter,       // \p{L}
    Number,       // \p{N}
    Mark,         // \p{M}
    Punctuation,  // \p{P}
    Symbol,       // \p{S}
    Whitespace,   // \s: the White_Space property (separators Z*, U+0009..U+000D, U+0085)
};

CodepointClass codepoint_class(char32_t cp);
inline bool is_letter(char32_t cp) {
    return codepoint_class(cp) == CodepointClass::Letter;
}
inline bool is_number(char32_t cp) {
    return codepoint_class(cp) == CodepointClass::Number;
}
inline bool is_whitespace(char32_t cp) {
    return codepoint_class(cp) == CodepointClass::Whitespace;
}
// The Unicode version the tables were generated from, e.g. "14.0.0".
std::string_view unicode_tables_version();

// ---- UTF-8 ----

inline constexpr char32_t replacement_character = 0xFFFD;

enum class Utf8Status : std::uint8_t {
    Valid,      // a well-formed sequence of `length` bytes encoding `cp`
    Invalid,    // `length` bytes (a maximal ill-formed subpart, >= 1) that can never become valid
    Truncated,  // the input ends after `length` bytes that begin a well-formed sequence
};

struct Utf8Step {
    Utf8Status status = Utf8Status::Valid;
    std::uint8_t length = 0;
    char32_t cp = 0;  // meaningful when Valid
};

// Decodes the sequence starting at text[pos] (pos < text.size()), strictly: no overlong forms,
// no surrogates, nothing above U+10FFFF. Invalid subparts follow Unicode's "maximal subpart"
// rule, so replacing each by U+FFFD gives the same result as Python's errors="replace".
Utf8Step utf8_next(std::string_view text, std::size_t pos);

// Appends the UTF-8 encoding of `cp` (cp must be a Unicode scalar value).
void utf8_append(std::string& out, char32_t cp);

bool utf8_is_valid(std::string_view text);

// `text` with every ill-formed or truncated subpart replaced by U+FFFD.
std::string utf8_sanitize(std::string_view text);

// ---- GPT-2 byte-level mapping ----

// The code point GPT-2's bytes_to_unicode() assigns to `byte`: printable Latin-1 bytes map to
// themselves, the other 68 to U+0100.. in byte order.
char32_t byte_to_codepoint(std::uint8_t byte);
// The inverse: the byte for `cp`, or -1 when cp is not in the mapping's image.
int codepoint_to_byte(char32_t cp);

namespace unicode_detail {
struct CodepointRange {
    char32_t first;
    char32_t last;
    CodepointClass cls;
};
extern const CodepointRange codepoint_class_ranges[];
extern const std::size_t num_codepoint_class_ranges;
extern const char unicode_tables_version[];
}  // namespace unicode_detail

}  // namespace kvscope
