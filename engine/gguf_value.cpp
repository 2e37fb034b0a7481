#include <limits>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_cursor.h"
#include "engine/shortest_text.h"

namespace kvscope {
namespace {

constexpr std::size_t kMaxDisplayStringBytes = 64;

bool is_unsigned(GgufValueType t) {
    return t == GgufValueType::Uint8 || t == GgufValueType::Uint16 || t == GgufValueType::Uint32 ||
           t == GgufValueType::Uint64;
}

bool is_signed(GgufValueType t) {
    return t == GgufValueType::Int8 || t == GgufValueType::Int16 || t == GgufValueType::Int32 ||
           t == GgufValueType::Int64;
}

// A quoted string, escaped, cut at a UTF-8 character boundary when longer than the limit.
std::string display_string(const std::string& s) {
    std::string out(1, '"');
    if (s.size() <= kMaxDisplayStringBytes) {
        out += gguf_detail::printable(s, s.size());
        out += '"';
        return out;
    }
    std::size_t cut = kMaxDisplayStringBytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    out += gguf_detail::printable(std::string_view(s).substr(0, cut), cut);
    out += "...\" (";
    out += std::to_string(s.size());
    out += " bytes)";
    return out;
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
    switch (type) {
        case GgufValueType::Uint8:
            return "uint8";
        case GgufValueType::Int8:
            return "int8";
        case GgufValueType::Uint16:
            return "uint16";
        case GgufValueType::Int16:
            return "int16";
        case GgufValueType::Uint32:
            return "uint32";
        case GgufValueType::Int32:
            return "int32";
        case GgufValueType::Float32:
            return "float32";
        case GgufValueType::Bool:
            return "bool";
        case GgufValueType::String:
            return "string";
        case GgufValueType::Array:
            return "array";
        case GgufValueType::Uint64:
            return "uint64";
        case GgufValueType::Int64:
            return "int64";
        case GgufValueType::Float64:
            return "float64";
    }
    return "unknown";
}

GgufValue GgufValue::u8(std::uint8_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Uint8;
    r.value_ = std::uint64_t{v};
    return r;
}
GgufValue GgufValue::u16(std::uint16_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Uint16;
    r.value_ = std::uint64_t{v};
    return r;
}
GgufValue GgufValue::u32(std::uint32_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Uint32;
    r.value_ = std::uint64_t{v};
    return r;
}
GgufValue GgufValue::u64(std::uint64_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Uint64;
    r.value_ = v;
    return r;
}
GgufValue GgufValue::i8(std::int8_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Int8;
    r.value_ = std::int64_t{v};
    return r;
}
GgufValue GgufValue::i16(std::int16_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Int16;
    r.value_ = std::int64_t{v};
    return r;
}
GgufValue GgufValue::i32(std::int32_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Int32;
    r.value_ = std::int64_t{v};
    return r;
}
GgufValue GgufValue::i64(std::int64_t v) {
    GgufValue r;
    r.type_ = GgufValueType::Int64;
    r.value_ = v;
    return r;
}
GgufValue GgufValue::f32(float v) {
    GgufValue r;
    r.type_ = GgufValueType::Float32;
    r.value_ = static_cast<double>(v);
    return r;
}
GgufValue GgufValue::f64(double v) {
    GgufValue r;
    r.type_ = GgufValueType::Float64;
    r.value_ = v;
    return r;
}
GgufValue GgufValue::boolean(bool v) {
    GgufValue r;
    r.type_ = GgufValueType::Bool;
    r.value_ = v;
    return r;
}
GgufValue GgufValue::string(std::string v) {
    GgufValue r;
    r.type_ = GgufValueType::String;
    r.value_ = std::move(v);
    return r;
}

GgufValue GgufValue::array(GgufValueType element_type, Array items) {
    if (gguf_value_type_name(element_type) == "unknown") {
        throw ConfigError("GGUF array: element type id " + std::to_string(static_cast<std::uint32_t>(element_type)) +
                          " is not a GGUF value type");
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (items[i].type() != element_type) {
            throw ConfigError("GGUF array of " + std::string(gguf_value_type_name(element_type)) + ": item #" +
                              std::to_string(i) + " is a " + std::string(gguf_value_type_name(items[i].type())) +
                              "; all items of an array must have its element type");
        }
    }
    GgufValue r;
    r.type_ = GgufValueType::Array;
    r.element_type_ = element_type;
    r.value_ = std::move(items);
    return r;
}

bool GgufValue::is_integer() const {
    return is_unsigned(type_) || is_signed(type_);
}

bool GgufValue::is_float() const {
    return type_ == GgufValueType::Float32 || type_ == GgufValueType::Float64;
}

std::optional<std::int64_t> GgufValue::as_int() const {
    if (is_signed(type_)) return std::get<std::int64_t>(value_);
    if (is_unsigned(type_)) {
        const std::uint64_t v = std::get<std::uint64_t>(value_);
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(v);
    }
    return std::nullopt;
}

std::optional<std::uint64_t> GgufValue::as_uint() const {
    if (is_unsigned(type_)) return std::get<std::uint64_t>(value_);
    if (is_signed(type_) && std::get<std::int64_t>(value_) >= 0) {
        return static_cast<std::uint64_t>(std::get<std::int64_t>(value_));
    }
    return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
    if (is_float()) return std::get<double>(value_);
    if (is_signed(type_)) return static_cast<double>(std::get<std::int64_t>(value_));
    if (is_unsigned(type_)) return static_cast<double>(std::get<std::uint64_t>(value_));
    return std::nullopt;
}

std::optional<bool> GgufValue::as_bool() const {
    if (type_ == GgufValueType::Bool) return std::get<bool>(value_);
    return std::nullopt;
}

const std::string* GgufValue::as_string() const {
    return std::get_if<std::string>(&value_);
}

const GgufValue::Array* GgufValue::as_array() const {
    return std::get_if<Array>(&value_);
}

std::string GgufValue::to_display_string(std::size_t max_items) const {
    if (is_unsigned(type_)) return std::to_string(std::get<std::uint64_t>(value_));
    if (is_signed(type_)) return std::to_string(std::get<std::int64_t>(value_));
    switch (type_) {
        case GgufValueType::Float32:
            return shortest_text(static_cast<float>(std::get<double>(value_)));
        case GgufValueType::Float64:
            return shortest_text(std::get<double>(value_));
        case GgufValueType::Bool:
            return std::get<bool>(value_) ? "true" : "false";
        case GgufValueType::String:
            return display_string(std::get<std::string>(value_));
        default:
            break;
    }
    const Array& items = std::get<Array>(value_);
    std::string out = "[";
    const std::size_t shown = items.size() <= max_items ? items.size() : max_items;
    for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) out += ", ";
        out += items[i].to_display_string(max_items);
    }
    if (shown < items.size()) out += (shown > 0 ? ", ... (" : "... (") + std::to_string(items.size()) + " items)";
    return out + "]";
}

}  // namespace kvscope
