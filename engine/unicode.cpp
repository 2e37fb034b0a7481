#include "engine/unicode.h"

#include <algorithm>
#include <array>

namespace kvscope {

namespace {

// ASCII is by far the most common input: answer it from a 128-entry table built from the ranges.
struct AsciiClasses {
    std::array<CodepointClass, 128> cls{};
    AsciiClasses() {
        cls.fill(CodepointClass::Other);
        for (std::size_t i = 0; i < unicode_detail::num_codepoint_class_ranges; ++i) {
            const auto& range = unicode_detail::codepoint_class_ranges[i];
            for (char32_t cp = range.first; cp <= range.last && cp < 128; ++cp) cls[cp] = range.cls;
        }
    }
};

struct ByteMapping {
    std::array<char32_t, 256> to_cp{};
    std::array<std::int16_t, 324> to_byte{};  // the image lies within U+0021..U+0143
    ByteMapping() {
        to_byte.fill(-1);
        int next_extra = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_cp[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next_extra++);
            to_byte[to_cp[b]] = static_cast<std::int16_t>(b);
        }
    }
};

const AsciiClasses& ascii_classes() {
    static const AsciiClasses table;
    return table;
}

const ByteMapping& byte_mapping() {
    static const ByteMapping mapping;
    return mapping;
}

bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

}  // namespace

CodepointClass codepoint_class(char32_t cp) {
    if (cp < 128) return ascii_classes().cls[cp];
    const auto* begin = unicode_detail::codepoint_class_ranges;
    const auto* end = begin + unicode_detail::num_codepoint_class_ranges;
    // The first range whose last code point is >= cp.
    const auto* it = std::lower_bound(begin, end, cp, [](const auto& range, char32_t c) { return range.last < c; });
    if (it != end && it->first <= cp) return it->cls;
    return CodepointClass::Other;
}

std::string_view unicode_tables_version() {
    return unicode_detail::unicode_tables_version;
}

Utf8Step utf8_next(std::string_view text, std::size_t pos) {
    const auto b0 = static_cast<unsigned char>(text[pos]);
    if (b0 < 0x80) return {Utf8Status::Valid, 1, b0};
    // Lead byte: the sequence length and the allowed range of the second byte (Unicode table 3-7).
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    char32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
        if (b0 == 0xED) hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;  // no overlong forms
        if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return {Utf8Status::Invalid, 1, 0};  // a continuation byte or C0, C1, F5..FF
    }
    for (int i = 1; i <= need; ++i) {
        if (pos + i >= text.size()) return {Utf8Status::Truncated, static_cast<std::uint8_t>(i), 0};
        const auto b = static_cast<unsigned char>(text[pos + i]);
        const bool ok = i == 1 ? (b >= lo && b <= hi) : is_continuation(b);
        if (!ok) return {Utf8Status::Invalid, static_cast<std::uint8_t>(i), 0};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {Utf8Status::Valid, static_cast<std::uint8_t>(need + 1), cp};
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

bool utf8_is_valid(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
        const Utf8Step step = utf8_next(text, pos);
        if (step.status != Utf8Status::Valid) return false;
        pos += step.length;
    }
    return true;
}

std::string utf8_sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const Utf8Step step = utf8_next(text, pos);
        if (step.status == Utf8Status::Valid) {
            out.append(text.substr(pos, step.length));
        } else {
            utf8_append(out, replacement_character);
        }
        pos += step.length;
    }
    return out;
}

char32_t byte_to_codepoint(std::uint8_t byte) {
    return byte_mapping().to_cp[byte];
}

int codepoint_to_byte(char32_t cp) {
    const auto& table = byte_mapping().to_byte;
    return cp < table.size() ? table[cp] : -1;
}

}  // namespace kvscope
