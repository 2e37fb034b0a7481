#pragma once
// The "id"s a server lists in GET /v1/models, in order: the base model, then its adapters. Empty
// when the request fails or is refused. Header-only (httplib and nlohmann), for the server tests
// and the Qt tests alike.

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvscope::test {

inline std::vector<std::string> served_model_ids(httplib::Client& client) {
    std::vector<std::string> ids;
    const httplib::Result res = client.Get("/v1/models");
    if (!res || res->status != 200) return ids;
    const nlohmann::json list = nlohmann::json::parse(res->body);
    for (const auto& entry : list["data"]) ids.push_back(entry["id"]);
    return ids;
}

}  // namespace kvscope::test
