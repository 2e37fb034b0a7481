#include "app/bridge/remote_http.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace kvscope::app {

std::optional<RemoteEndpoint> parse_server_url(const std::string& url, std::string& error) {
    std::string rest = url;
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back()))) rest.pop_back();
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.erase(0, 1);
    if (rest.rfind("https://", 0) == 0) {
        error = "'" + url + "': https is not supported; use http:// (or a TLS-terminating proxy on this machine)";
        return std::nullopt;
    }
    if (rest.rfind("http://", 0) == 0) rest.erase(0, 7);
    for (const std::string tail : {"/v1/", "/v1", "/"}) {
        if (rest.size() >= tail.size() && rest.compare(rest.size() - tail.size(), tail.size(), tail) == 0) {
            rest.erase(rest.size() - tail.size());
            break;
        }
    }
    RemoteEndpoint e;
    const std::size_t colon = rest.rfind(':');
    e.host = colon == std::string::npos ? rest : rest.substr(0, colon);
    bool ok = !e.host.empty() && e.host.find('/') == std::string::npos;
    if (ok && colon != std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
             std::stoi(port) >= 1 && std::stoi(port) <= 65535;
        if (ok) e.port = std::stoi(port);
    }
    if (!ok) {
        error = "'" + url + "' is not a server address; type one like http://127.0.0.1:8000";
        return std::nullopt;
    }
    return e;
}

std::unique_ptr<httplib::Client> make_client(const RemoteEndpoint& endpoint, int connect_s, int read_s) {
    auto client = std::make_unique<httplib::Client>(endpoint.host, endpoint.port);
    client->set_connection_timeout(connect_s, 0);
    client->set_read_timeout(read_s, 0);
    client->set_write_timeout(read_s, 0);
    client->set_tcp_nodelay(true);
    if (!endpoint.api_key.empty()) client->set_bearer_token_auth(endpoint.api_key);
    return client;
}

std::string describe(httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
            return "cannot connect (is a server listening there?)";
        case httplib::Error::ConnectionTimeout:
            return "no answer to the connection within the timeout";
        case httplib::Error::Read:
            return "the connection broke while reading the answer";
        case httplib::Error::Canceled:
            return "cancelled";
        default:
            return httplib::to_string(error);
    }
}

std::string error_message(int status, const std::string& body) {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error")) {
        const nlohmann::json& e = j["error"];
        if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"];
        if (e.is_string()) return e;
    }
    const std::string first = body.substr(0, body.find('\n')).substr(0, 200);
    return first.empty() ? "HTTP " + std::to_string(status) : "HTTP " + std::to_string(status) + ": " + first;
}

}  // namespace kvscope::app
