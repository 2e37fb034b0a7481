#include "engine/gguf_cursor.h"

#include "engine/error.h"

namespace kvscope::gguf_detail {
namespace {

// Bytes of one encoded element of `type`, at least (strings and arrays: their length fields).
std::uint64_t min_encoded_bytes(GgufValueType type) {
    switch (type) {
        case GgufValueType::Uint8:
        case GgufValueType::Int8:
        case GgufValueType::Bool:
            return 1;
        case GgufValueType::Uint16:
        case GgufValueType::Int16:
            return 2;
        case GgufValueType::Uint32:
        case GgufValueType::Int32:
        case GgufValueType::Float32:
            return 4;
        case GgufValueType::Uint64:
        case GgufValueType::Int64:
        case GgufValueType::Float64:
        case GgufValueType::String:
            return 8;
        case GgufValueType::Array:
            return 12;  // element type + count
    }
    return 1;
}

}  // namespace

// Length of the well-formed UTF-8 sequence of 2 to 4 bytes at the start of `s`, or 0 (also for
// characters that break lines).
std::size_t utf8_sequence_length(std::string_view s) {
    const auto lead = static_cast<unsigned char>(s[0]);
    const std::size_t n = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
    if (n == 0 || n > s.size()) return 0;
    for (std::size_t i = 1; i < n; ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0;
    }
    const auto second = static_cast<unsigned char>(s[1]);
    if (lead == 0xC2 && second < 0xA0) return 0;  // C1 control characters (NEL, ...)
    if (lead == 0xE2 && second == 0x80 && (static_cast<unsigned char>(s[2]) & 0xFE) == 0xA8) return 0;  // U+2028/9
    return n;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    const std::size_t n = text.size() < max_bytes ? text.size() : max_bytes;
    out.reserve(n + 8);
    std::size_t i = 0;
    while (i < n) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        const std::size_t seq = c >= 0x80 ? utf8_sequence_length(text.substr(i, n - i)) : 0;
        if (seq > 0) {
            out.append(text.substr(i, seq));
            i += seq;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            ++i;
        }
    }
    if (n < text.size()) out += "...";
    return out;
}

void GgufCursor::fail(const std::string& message) const {
    throw FileError(printable(file_name_, 512) + ": " + message);
}

void GgufCursor::need(std::uint64_t num_bytes, const char* what) const {
    if (num_bytes <= remaining()) return;
    std::string where = item_.empty() ? std::string(section_) : std::string(section_) + " at " + item_;
    fail("truncated " + where + ": the " + what + " needs " + std::to_string(num_bytes) + " bytes at offset " +
         std::to_string(pos_) + " but the file ends at byte " + std::to_string(size_) +
         "; the file is incomplete or corrupt, re-download or re-convert it");
}

std::string_view GgufCursor::read_string(const char* what) {
    const std::uint64_t at = pos_;
    const auto length = read<std::uint64_t>(what);
    if (length > remaining()) {
        fail("truncated or corrupt " + std::string(section_) + " at " + item_ + ": the " + what + " at offset " +
             std::to_string(at) + " claims " + std::to_string(length) + " bytes but only " +
             std::to_string(remaining()) + " bytes are left in the file; re-download or re-convert it");
    }
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(length));
    pos_ += length;
    return s;
}

GgufValueType GgufCursor::read_value_type(const char* what) {
    const std::uint64_t at = pos_;
    const auto id = read<std::uint32_t>(what);
    if (id > static_cast<std::uint32_t>(GgufValueType::Float64)) {
        fail("unknown metadata value type " + std::to_string(id) + " (" + what + ") for " + item_ + " at offset " +
             std::to_string(at) + "; the file is corrupt or needs a newer kvscope");
    }
    return static_cast<GgufValueType>(id);
}

GgufValue GgufCursor::read_value(GgufValueType type, int depth) {
    switch (type) {
        case GgufValueType::Uint8:
            return GgufValue::u8(read<std::uint8_t>("uint8 value"));
        case GgufValueType::Int8:
            return GgufValue::i8(read<std::int8_t>("int8 value"));
        case GgufValueType::Uint16:
            return GgufValue::u16(read<std::uint16_t>("uint16 value"));
        case GgufValueType::Int16:
            return GgufValue::i16(read<std::int16_t>("int16 value"));
        case GgufValueType::Uint32:
            return GgufValue::u32(read<std::uint32_t>("uint32 value"));
        case GgufValueType::Int32:
            return GgufValue::i32(read<std::int32_t>("int32 value"));
        case GgufValueType::Uint64:
            return GgufValue::u64(read<std::uint64_t>("uint64 value"));
        case GgufValueType::Int64:
            return GgufValue::i64(read<std::int64_t>("int64 value"));
        case GgufValueType::Float32:
            return GgufValue::f32(read<float>("float32 value"));
        case GgufValueType::Float64:
            return GgufValue::f64(read<double>("float64 value"));
        case GgufValueType::Bool: {
            const std::uint64_t at = pos_;
            const auto b = read<std::uint8_t>("bool value");
            if (b > 1) {
                fail("invalid bool value " + std::to_string(b) + " for " + item_ + " at offset " + std::to_string(at) +
                     " (must be 0 or 1); the file is corrupt, re-download or re-convert it");
            }
            return GgufValue::boolean(b == 1);
        }
        case GgufValueType::String:
            return GgufValue::string(std::string(read_string("string value")));
        case GgufValueType::Array:
            return read_array(depth);
    }
    fail("internal: unhandled value type");
}

GgufValue GgufCursor::read_array(int depth) {
    const std::uint64_t at = pos_;
    if (depth >= kGgufMaxArrayDepth) {
        fail("metadata " + item_ + " nests arrays more than " + std::to_string(kGgufMaxArrayDepth) +
             " levels deep at offset " + std::to_string(at) + "; the file is corrupt, re-convert it");
    }
    const GgufValueType element_type = read_value_type("array element type");
    const auto count = read<std::uint64_t>("array length");
    // Reject absurd counts before allocating: every element takes some bytes of the file.
    if (count > remaining() / min_encoded_bytes(element_type)) {
        fail("truncated or corrupt metadata at " + item_ + ": the array at offset " + std::to_string(at) + " claims " +
             std::to_string(count) + " " + std::string(gguf_value_type_name(element_type)) + " items, more than the " +
             std::to_string(remaining()) + " bytes left in the file can hold; re-download or re-convert it");
    }
    GgufValue::Array items;
    items.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) items.push_back(read_value(element_type, depth + 1));
    return GgufValue::array(element_type, std::move(items));
}

}  // namespace kvscope::gguf_detail
