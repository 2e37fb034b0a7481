#pragma once
// The client side of server-sent events (text/event-stream): bytes in as they arrive, the data
// of each complete event out. "data:" lines of one event are joined with "\n"; comment lines
// (":" first), other fields and CR LF line ends are handled as the WHATWG spec says.

#include <string>
#include <string_view>
#include <vector>

namespace kvscope::server {

class SseParser {
public:
    // Appends the data of every event completed by `bytes` to `events`.
    void feed(std::string_view bytes, std::vector<std::string>& events);

private:
    void line(std::string_view text, std::vector<std::string>& events);

    std::string pending_;  // an incomplete line
    std::string data_;     // the current event's data so far
    bool has_data_ = false;
};

}  // namespace kvscope::server
