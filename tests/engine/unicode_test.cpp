// Unicode classes (generated tables), strict UTF-8 decoding and GPT-2's byte mapping.

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "engine/unicode.h"

namespace kvscope {
namespace unicode_test {

TEST(Unicode, ClassesOfHandPickedCodePoints) {
    using C = CodepointClass;
    const std::pair<char32_t, CodepointClass> cases[] = {
        {'A', C::Letter},         {'z', C::Letter},         {0x00E9, C::Letter},      // é
        {0x00DF, C::Letter},      {0x4E2D, C::Letter},      {0x05D0, C::Letter},      // ß 中 א
        {0x02B0, C::Letter},      {0x1D400, C::Letter},                               // ʰ (Lm), 𝐀
        {'0', C::Number},         {0x0663, C::Number},      {0x2167, C::Number},      // ٣, Ⅷ (Nl)
        {0x00BD, C::Number},      {0x00B2, C::Number},                                // ½ ² (No)
        {' ', C::Whitespace},     {'\t', C::Whitespace},    {'\n', C::Whitespace},    //
        {'\r', C::Whitespace},    {0x0B, C::Whitespace},    {0x0C, C::Whitespace},    //
        {0x85, C::Whitespace},    {0xA0, C::Whitespace},    {0x1680, C::Whitespace},  //
        {0x2003, C::Whitespace},  {0x2028, C::Whitespace},  {0x2029, C::Whitespace},  //
        {0x202F, C::Whitespace},  {0x3000, C::Whitespace},                            //
        {0x1C, C::Other},         {0x200B, C::Other},       {0x180E, C::Other},       // not White_Space
        {0x00, C::Other},         {0x7F, C::Other},         {0x00AD, C::Other},       // controls, soft hyphen
        {0xE000, C::Other},       {0x10FFFF, C::Other},     {0x0378, C::Other},       // private use, unassigned
        {0x0301, C::Mark},        {0x093E, C::Mark},        {0x20DD, C::Mark},        // Mn Mc Me
        {'!', C::Punctuation},    {'\'', C::Punctuation},   {'_', C::Punctuation},    //
        {0x00BF, C::Punctuation}, {0x3002, C::Punctuation},                           // ¿ 。
        {'$', C::Symbol},         {'+', C::Symbol},         {'`', C::Symbol},         //
        {0x20AC, C::Symbol},      {0x1F600, C::Symbol},     {0x00A9, C::Symbol},      // € 😀 ©
    };
    for (const auto& [cp, cls] : cases) {
        EXPECT_EQ(static_cast<int>(codepoint_class(cp)), static_cast<int>(cls))
            << std::hex << "U+" << static_cast<std::uint32_t>(cp);
    }
    EXPECT_TRUE(is_letter(0x00E9));
    EXPECT_TRUE(is_number(0x0663));
    EXPECT_TRUE(is_whitespace(0x3000));
    EXPECT_FALSE(unicode_tables_version().empty());
}

TEST(Unicode, TheRangeTableIsSortedAndDisjoint) {
    const auto* ranges = unicode_detail::codepoint_class_ranges;
    ASSERT_GT(unicode_detail::num_codepoint_class_ranges, 500u);
    for (std::size_t i = 0; i < unicode_detail::num_codepoint_class_ranges; ++i) {
        EXPECT_LE(ranges[i].first, ranges[i].last);
        EXPECT_NE(static_cast<int>(ranges[i].cls), static_cast<int>(CodepointClass::Other));
        if (i > 0) {
            EXPECT_LT(ranges[i - 1].last, ranges[i].first);
        }
    }
    EXPECT_LE(ranges[unicode_detail::num_codepoint_class_ranges - 1].last, 0x10FFFFu);
}

std::u32string decode_all(const std::string& bytes) {
    std::u32string out;
    for (std::size_t pos = 0; pos < bytes.size();) {
        const Utf8Step step = utf8_next(bytes, pos);
        out.push_back(step.status == Utf8Status::Valid ? step.cp : replacement_character);
        pos += step.length;
    }
    return out;
}

TEST(Unicode, Utf8DecodingReplacesMaximalSubparts) {
    // Expected values are Python's bytes.decode("utf-8", "replace").
    const char32_t R = replacement_character;
    EXPECT_EQ(decode_all("a\xE2\x82\xAC\xF0\x9F\x98\x80"), (std::u32string{'a', 0x20AC, 0x1F600}));
    EXPECT_EQ(decode_all("\xF0\x9F\x98"), (std::u32string{R}));               // truncated
    EXPECT_EQ(decode_all("\xC0\xAF"), (std::u32string{R, R}));                // overlong lead
    EXPECT_EQ(decode_all("\xE0\x80\x80"), (std::u32string{R, R, R}));         // overlong
    EXPECT_EQ(decode_all("\xED\xA0\x80"), (std::u32string{R, R, R}));         // surrogate
    EXPECT_EQ(decode_all("\xF4\x90\x80\x80"), (std::u32string{R, R, R, R}));  // > U+10FFFF
    EXPECT_EQ(decode_all("\xE2\x82"
                         "A"),
              (std::u32string{R, 'A'}));                                          // cut short
    EXPECT_EQ(decode_all("\xF0\x9F\x98\x80\x80"), (std::u32string{0x1F600, R}));  // stray continuation
    EXPECT_EQ(decode_all("a\xFF"
                         "b"),
              (std::u32string{'a', R, 'b'}));

    const Utf8Step truncated = utf8_next("\xE2\x82", 0);
    EXPECT_EQ(truncated.status, Utf8Status::Truncated);
    EXPECT_EQ(truncated.length, 2);
    const Utf8Step invalid = utf8_next(
        "\xE2\x82"
        "A",
        0);
    EXPECT_EQ(invalid.status, Utf8Status::Invalid);
    EXPECT_EQ(invalid.length, 2);

    EXPECT_TRUE(utf8_is_valid("h\xC3\xA9llo \xF0\x9F\x98\x80"));
    EXPECT_FALSE(utf8_is_valid("\xC3"));
    EXPECT_EQ(utf8_sanitize("a\xC0\xAF"
                            "b\xF0\x9F"),
              "a\xEF\xBF\xBD\xEF\xBF\xBD"
              "b\xEF\xBF\xBD");
}

TEST(Unicode, EncodingRoundTripsEveryScalarValue) {
    std::string text;
    for (char32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x800 ? 1 : 37)) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        text.clear();
        utf8_append(text, cp);
        const Utf8Step step = utf8_next(text, 0);
        ASSERT_EQ(step.status, Utf8Status::Valid) << static_cast<std::uint32_t>(cp);
        ASSERT_EQ(step.cp, cp);
        ASSERT_EQ(step.length, text.size());
    }
}

TEST(Unicode, RandomBytesSanitizeToValidUtf8) {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string bytes(rng() % 16, '\0');
        for (char& b : bytes) b = static_cast<char>(rng() % 256);
        const std::string clean = utf8_sanitize(bytes);
        EXPECT_TRUE(utf8_is_valid(clean));
        if (utf8_is_valid(bytes)) {
            EXPECT_EQ(clean, bytes);
        }
    }
}

TEST(Unicode, Gpt2ByteMapping) {
    // Printable Latin-1 maps to itself; the 68 others to U+0100.. in byte order:
    // 0x00..0x20 -> U+0100..U+0120, 0x7F..0xA0 -> U+0121..U+0142, 0xAD -> U+0143.
    EXPECT_EQ(byte_to_codepoint('!'), U'!');
    EXPECT_EQ(byte_to_codepoint('a'), U'a');
    EXPECT_EQ(byte_to_codepoint(0xE9), 0xE9u);
    EXPECT_EQ(byte_to_codepoint(0x00), 0x100u);
    EXPECT_EQ(byte_to_codepoint('\n'), 0x10Au);  // "Ċ"
    EXPECT_EQ(byte_to_codepoint(' '), 0x120u);   // "Ġ"
    EXPECT_EQ(byte_to_codepoint(0x7F), 0x121u);
    EXPECT_EQ(byte_to_codepoint(0xA0), 0x142u);
    EXPECT_EQ(byte_to_codepoint(0xAD), 0x143u);
    std::set<char32_t> image;
    for (int b = 0; b < 256; ++b) {
        const char32_t cp = byte_to_codepoint(static_cast<std::uint8_t>(b));
        image.insert(cp);
        EXPECT_EQ(codepoint_to_byte(cp), b);
    }
    EXPECT_EQ(image.size(), 256u);
    EXPECT_EQ(codepoint_to_byte(' '), -1);
    EXPECT_EQ(codepoint_to_byte(0x144), -1);
    EXPECT_EQ(codepoint_to_byte(0x4E2D), -1);
}

}  // namespace unicode_test
}  // namespace kvscope
