#include "app/server/request_ids_header.h"

#include <charconv>

namespace kvscope::server {

std::string format_request_ids(const std::vector<RequestId>& ids) {
    std::string out;
    for (RequestId id : ids) {
        if (!out.empty()) out += ',';
        out += std::to_string(id);
    }
    return out;
}

std::optional<std::vector<RequestId>> parse_request_ids(const std::string& value) {
    std::vector<RequestId> ids;
    const char* at = value.data();
    const char* const end = value.data() + value.size();
    while (at < end) {
        while (at < end && *at == ' ') ++at;
        RequestId id = -1;
        const auto [next, error] = std::from_chars(at, end, id);
        if (error != std::errc() || id < 0) return std::nullopt;
        ids.push_back(id);
        at = next;
        while (at < end && *at == ' ') ++at;
        if (at == end) break;
        if (*at != ',') return std::nullopt;
        ++at;
        if (at == end) return std::nullopt;  // a trailing comma
    }
    if (ids.empty()) return std::nullopt;
    return ids;
}

}  // namespace kvscope::server
