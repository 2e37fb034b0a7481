#include "app/server/json_fields.h"

#include <cmath>

#include "engine/shortest_text.h"

namespace kvscope::server {
namespace {

std::string range_text(double min, double max) {
    auto fmt = [](double v) {  // the shortest form that reads back the same: 1e-09, not 0.000000
        if (std::abs(v) >= 1e15) return v > 0 ? std::string("inf") : std::string("-inf");
        return shortest_text(v);
    };
    std::string out = "[";  // (built by appending: GCC 12 warns falsely on "[" + std::string)
    out.append(fmt(min)).append(", ").append(fmt(max)).append("]");
    return out;
}

ApiError wrong_type(const std::string& key, const std::string& expected, const nlohmann::json& value) {
    return bad_field(key, "'" + key + "' must be " + expected + ", got " + json_type_name(value), "invalid_type");
}

}  // namespace

std::string json_type_name(const nlohmann::json& value) {
    switch (value.type()) {
        case nlohmann::json::value_t::null:
            return "null";
        case nlohmann::json::value_t::boolean:
            return "a boolean";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
            return "an integer";
        case nlohmann::json::value_t::number_float:
            return "a number";
        case nlohmann::json::value_t::string:
            return "a string";
        case nlohmann::json::value_t::array:
            return "an array";
        case nlohmann::json::value_t::object:
            return "an object";
        default:
            return "an unsupported value";
    }
}

const nlohmann::json* JsonFields::find(const std::string& key) const {
    const auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
}

std::optional<bool> JsonFields::boolean(const std::string& key) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw wrong_type(key, "true or false", *v);
    return v->get<bool>();
}

std::optional<std::int64_t> JsonFields::integer(const std::string& key, std::int64_t min, std::int64_t max) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
        throw bad_field(key, "'" + key + "' is " + v->dump() + ", outside " +
                                 range_text(static_cast<double>(min), static_cast<double>(max)));
    }
    if (!v->is_number_integer()) throw wrong_type(key, "an integer", *v);
    const std::int64_t i = v->get<std::int64_t>();
    if (i < min || i > max) {
        throw bad_field(key, "'" + key + "' is " + std::to_string(i) + ", outside " +
                                 range_text(static_cast<double>(min), static_cast<double>(max)));
    }
    return i;
}

std::optional<double> JsonFields::number(const std::string& key, double min, double max) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw wrong_type(key, "a number", *v);
    const double d = v->get<double>();
    if (!(d >= min && d <= max)) {
        throw bad_field(key, "'" + key + "' is " + v->dump() + ", outside " + range_text(min, max));
    }
    return d;
}

std::optional<std::string> JsonFields::string(const std::string& key) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw wrong_type(key, "a string", *v);
    return v->get<std::string>();
}

std::optional<std::vector<std::string>> JsonFields::strings(const std::string& key, std::size_t max_count) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_string()) return std::vector<std::string>{v->get<std::string>()};
    if (!v->is_array()) throw wrong_type(key, "a string or a list of strings", *v);
    if (v->size() > max_count) {
        throw bad_field(key, "'" + key + "' has " + std::to_string(v->size()) + " entries; at most " +
                                 std::to_string(max_count) + " are allowed");
    }
    std::vector<std::string> out;
    for (const nlohmann::json& s : *v) {
        if (!s.is_string()) throw wrong_type(key, "a string or a list of strings", s);
        out.push_back(s.get<std::string>());
    }
    return out;
}

std::optional<std::vector<std::int64_t>> JsonFields::integers(const std::string& key, std::int64_t min,
                                                              std::int64_t max, std::size_t max_count) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_array()) throw wrong_type(key, "a list of integers", *v);
    if (v->size() > max_count) {
        throw bad_field(key, "'" + key + "' has " + std::to_string(v->size()) + " entries; at most " +
                                 std::to_string(max_count) + " are allowed");
    }
    std::vector<std::int64_t> out;
    for (const nlohmann::json& i : *v) {
        if (!i.is_number_integer()) throw wrong_type(key, "a list of integers", i);
        const std::int64_t value = i.get<std::int64_t>();
        if (i.is_number_unsigned() ? i.get<std::uint64_t>() > static_cast<std::uint64_t>(max)
                                   : (value < min || value > max)) {
            throw bad_field(key, "'" + key + "' holds " + i.dump() + ", outside " +
                                     range_text(static_cast<double>(min), static_cast<double>(max)));
        }
        out.push_back(value);
    }
    return out;
}

}  // namespace kvscope::server
