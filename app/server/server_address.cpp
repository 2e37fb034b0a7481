#include "app/server/server_address.h"

#include <cctype>

namespace kvscope::server {

std::optional<ServerAddress> parse_server_address(const std::string& url, std::string& error) {
    std::string rest = url;
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back()))) rest.pop_back();
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.erase(0, 1);
    if (const std::size_t scheme_end = rest.find("://"); scheme_end != std::string::npos) {
        const std::string scheme = rest.substr(0, scheme_end);
        if (scheme == "https") {
            error = "'" + url +
                    "': https is not supported; type an http address like http://127.0.0.1:8000 (a TLS-terminating "
                    "proxy on this machine can forward to it)";
            return std::nullopt;
        }
        if (scheme != "http") {
            error =
                "'" + url + "': the scheme '" + scheme + "' is not HTTP; type an address like http://127.0.0.1:8000";
            return std::nullopt;
        }
        rest.erase(0, scheme_end + 3);
    }
    for (const std::string tail : {"/v1/", "/v1", "/"}) {
        if (rest.size() >= tail.size() && rest.compare(rest.size() - tail.size(), tail.size(), tail) == 0) {
            rest.erase(rest.size() - tail.size());
            break;
        }
    }
    ServerAddress a;
    const std::size_t colon = rest.rfind(':');
    a.host = colon == std::string::npos ? rest : rest.substr(0, colon);
    bool ok = !a.host.empty() && a.host.find('/') == std::string::npos;
    if (ok && colon != std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
             std::stoi(port) >= 1 && std::stoi(port) <= 65535;
        if (ok) a.port = std::stoi(port);
    }
    if (!ok) {
        error = "'" + url +
                "' is not a server address (a path other than /v1 is not one either); type one like "
                "http://127.0.0.1:8000";
        return std::nullopt;
    }
    return a;
}

}  // namespace kvscope::server
