#pragma once
// Plain HTTP to a server the workbench attaches to (cpp-httplib's client, no TLS): where it is,
// and clients with timeouts short enough that an unreachable or stalled server shows as an
// error within seconds instead of a wait.

#include <httplib.h>

#include <memory>
#include <optional>
#include <string>

namespace kvscope::app {

struct RemoteEndpoint {
    std::string host;
    int port = 80;
    std::string api_key;  // empty: none sent
    std::string url() const { return "http://" + host + ":" + std::to_string(port); }
};

// "http://host:port", "host:port" or "http://host" (trailing "/" or "/v1" allowed). nullopt and
// `error` set (one line, what to type instead) for anything else, https included.
std::optional<RemoteEndpoint> parse_server_url(const std::string& url, std::string& error);

// A client with connect / read timeouts in seconds and the API key as a Bearer token.
std::unique_ptr<httplib::Client> make_client(const RemoteEndpoint& endpoint, int connect_s, int read_s);

// "connection refused", "timed out", ...: a failed request, said for a status bar.
std::string describe(httplib::Error error);

// The message of an OpenAI-style error body, or the body's first line, or "HTTP <status>".
std::string error_message(int status, const std::string& body);

}  // namespace kvscope::app
