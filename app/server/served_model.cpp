#include "app/server/served_model.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace kvscope::server {

std::string first_served_model(httplib::Client& client, const std::string& url, const std::string& model_option) {
    const httplib::Result res = client.Get("/v1/models");
    if (!res)
        throw ConfigError("cannot reach " + url + " (" + httplib::to_string(res.error()) + "); is the server running?");
    if (res->status != 200)
        throw ConfigError(url + "/v1/models answered HTTP " + std::to_string(res->status) +
                          "; check --url and --api-key");
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
        !j["data"][0].is_object() || !j["data"][0].contains("id") || !j["data"][0]["id"].is_string())
        throw ConfigError(url + "/v1/models lists no model; give " + model_option);
    return j["data"][0]["id"].get<std::string>();
}

}  // namespace kvscope::server
