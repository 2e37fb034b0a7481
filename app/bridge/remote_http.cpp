#include "app/bridge/remote_http.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "app/server/server_address.h"

namespace kvscope::app {

std::optional<RemoteEndpoint> parse_server_url(const std::string& url, std::string& error) {
    const std::optional<server::ServerAddress> address = server::parse_server_address(url, error);
    if (!address) return std::nullopt;
    RemoteEndpoint e;
    e.host = address->host;
    e.port = address->port;
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
