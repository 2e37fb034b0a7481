// GgufFile: typed access to metadata. A missing key is nullopt (or, for require_*, a ModelError
// naming the key); a key of the wrong type is a ModelError naming the key and both types.

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_cursor.h"

namespace kvscope {
namespace {

std::string type_description(const GgufValue& v) {
    std::string s(gguf_value_type_name(v.type()));
    if (v.type() == GgufValueType::Array) s += " of " + std::string(gguf_value_type_name(v.element_type()));
    return s;
}

[[noreturn]] void wrong_type(const GgufFile& file, std::string_view key, const GgufValue& v,
                             std::string_view expected) {
    throw ModelError(gguf_detail::printable(file.name(), 512) + ": metadata key '" + gguf_detail::printable(key) +
                     "' has type " + type_description(v) + ", expected " + std::string(expected) +
                     "; the file does not follow the GGUF conventions for this key, re-convert the model");
}

[[noreturn]] void missing(const GgufFile& file, std::string_view key) {
    const GgufValue* arch = file.find("general.architecture");
    const std::string* arch_name = arch != nullptr ? arch->as_string() : nullptr;
    const std::string what = arch_name != nullptr ? gguf_detail::printable(*arch_name) + " model" : "model";
    throw ModelError(gguf_detail::printable(file.name(), 512) + ": missing required key '" +
                     gguf_detail::printable(key) + "'; the file is not a complete " + what +
                     ", re-convert it with a current llama.cpp converter");
}

bool is_numeric_type(GgufValueType t) {
    return t != GgufValueType::Bool && t != GgufValueType::String && t != GgufValueType::Array;
}

template <typename T>
T require(const GgufFile& file, std::string_view key, std::optional<T> value) {
    if (!value) missing(file, key);
    return std::move(*value);
}

}  // namespace

const GgufValue* GgufFile::find(std::string_view key) const {
    for (const auto& [k, v] : metadata_) {
        if (k == key) return &v;
    }
    return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    for (const GgufTensorInfo& t : tensors_) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (const std::string* s = v->as_string()) return *s;
    wrong_type(*this, key, *v, "string");
}

std::optional<std::int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_integer()) wrong_type(*this, key, *v, "an integer");
    if (const auto i = v->as_int()) return i;
    throw ModelError(gguf_detail::printable(name(), 512) + ": metadata key '" + gguf_detail::printable(key) + "' is " +
                     v->to_display_string() + ", too large for a signed 64-bit integer; the file is corrupt");
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (const auto f = v->as_float()) return f;
    wrong_type(*this, key, *v, "a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (const auto b = v->as_bool()) return b;
    wrong_type(*this, key, *v, "bool");
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type() != GgufValueType::Array || v->element_type() != GgufValueType::String) {
        wrong_type(*this, key, *v, "array of string");
    }
    std::vector<std::string> out;
    out.reserve(v->as_array()->size());
    for (const GgufValue& item : *v->as_array()) out.push_back(*item.as_string());
    return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type() != GgufValueType::Array || !is_numeric_type(v->element_type())) {
        wrong_type(*this, key, *v, "array of numbers");
    }
    std::vector<float> out;
    out.reserve(v->as_array()->size());
    for (const GgufValue& item : *v->as_array()) out.push_back(static_cast<float>(*item.as_float()));
    return out;
}

std::optional<std::vector<std::int64_t>> GgufFile::get_int_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type() != GgufValueType::Array || !is_numeric_type(v->element_type()) ||
        v->element_type() == GgufValueType::Float32 || v->element_type() == GgufValueType::Float64) {
        wrong_type(*this, key, *v, "array of integers");
    }
    std::vector<std::int64_t> out;
    out.reserve(v->as_array()->size());
    for (const GgufValue& item : *v->as_array()) {
        const auto i = item.as_int();
        if (!i) {
            throw ModelError(gguf_detail::printable(name(), 512) + ": metadata key '" + gguf_detail::printable(key) +
                             "' holds " + item.to_display_string() +
                             ", too large for a signed 64-bit integer; the file is corrupt");
        }
        out.push_back(*i);
    }
    return out;
}

std::string GgufFile::require_string(std::string_view key) const {
    return require(*this, key, get_string(key));
}

std::int64_t GgufFile::require_int(std::string_view key) const {
    return require(*this, key, get_int(key));
}

double GgufFile::require_float(std::string_view key) const {
    return require(*this, key, get_float(key));
}

}  // namespace kvscope
