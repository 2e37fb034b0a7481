#pragma once
// Where an OpenAI-compatible server is, from what a user types: "http://host:port", "host:port"
// or "http://host", with a trailing "/" or the OpenAI clients' base path "/v1" allowed. Shared by
// bench serve, perplexity --url and the workbench's attach, so they take the same addresses.

#include <optional>
#include <string>

namespace kvscope::server {

struct ServerAddress {
    std::string host;
    int port = 80;
    std::string url() const { return "http://" + host + ":" + std::to_string(port); }
};

// nullopt with `error` set (one line: what is wrong, what to type instead) for anything else:
// another scheme (https and ftp included), another path, a bad port.
std::optional<ServerAddress> parse_server_address(const std::string& url, std::string& error);

}  // namespace kvscope::server
