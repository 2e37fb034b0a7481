#pragma once
// Errors the API reports to clients, in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
// with an HTTP status (400 bad request, 401 bad or missing API key, 404 unknown model or path,
// 413 body too large, 503 shutting down). Handlers throw ApiError; the server turns it into the
// response. Messages are one line: what is wrong, where, and what to do.

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace kvscope::server {

class ApiError : public std::runtime_error {
public:
    ApiError(int status, std::string message, std::string param = {}, std::string code = {},
             std::string type = "invalid_request_error")
        : std::runtime_error(message),
          status_(status),
          param_(std::move(param)),
          code_(std::move(code)),
          type_(std::move(type)) {}

    int status() const { return status_; }
    const std::string& param() const { return param_; }  // empty: null
    const std::string& code() const { return code_; }    // empty: null
    const std::string& type() const { return type_; }

    nlohmann::json to_json() const {
        nlohmann::json error = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
        if (!param_.empty()) error["param"] = param_;
        if (!code_.empty()) error["code"] = code_;
        return {{"error", error}};
    }

private:
    int status_;
    std::string param_;
    std::string code_;
    std::string type_;
};

// 400 for a field: `param` names it.
inline ApiError bad_field(std::string param, std::string message, std::string code = "invalid_value") {
    return ApiError(400, std::move(message), std::move(param), std::move(code));
}

// JSON text that never throws on invalid UTF-8 (replaced by U+FFFD).
inline std::string dump_json(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kvscope::server
