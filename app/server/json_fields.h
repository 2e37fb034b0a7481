#pragma once
// Typed reads of optional fields of a JSON request object. A field that is absent or null gives
// nullopt; a field of the wrong type or out of range throws ApiError (400) naming it.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/server/api_error.h"

namespace kvscope::server {

class JsonFields {
public:
    explicit JsonFields(const nlohmann::json& object) : object_(object) {}

    const nlohmann::json* find(const std::string& key) const;
    std::optional<bool> boolean(const std::string& key) const;
    std::optional<std::int64_t> integer(const std::string& key, std::int64_t min, std::int64_t max) const;
    std::optional<double> number(const std::string& key, double min, double max) const;
    std::optional<std::string> string(const std::string& key) const;
    // A string or a list of strings.
    std::optional<std::vector<std::string>> strings(const std::string& key, std::size_t max_count) const;
    std::optional<std::vector<std::int64_t>> integers(const std::string& key, std::int64_t min, std::int64_t max,
                                                      std::size_t max_count) const;

private:
    const nlohmann::json& object_;
};

// "an integer", "a string", ... for messages.
std::string json_type_name(const nlohmann::json& value);

}  // namespace kvscope::server
