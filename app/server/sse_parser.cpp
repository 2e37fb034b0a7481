#include "app/server/sse_parser.h"

namespace kvscope::server {

void SseParser::feed(std::string_view bytes, std::vector<std::string>& events) {
    pending_.append(bytes);
    std::size_t start = 0;
    for (;;) {
        const std::size_t eol = pending_.find_first_of("\r\n", start);
        if (eol == std::string::npos) break;
        // A CR at the very end may be the first half of CR LF: wait for the next byte.
        if (pending_[eol] == '\r' && eol + 1 == pending_.size()) break;
        line(std::string_view(pending_).substr(start, eol - start), events);
        start = eol + (pending_[eol] == '\r' && pending_[eol + 1] == '\n' ? 2 : 1);
    }
    pending_.erase(0, start);
}

void SseParser::line(std::string_view text, std::vector<std::string>& events) {
    if (text.empty()) {  // the end of an event
        if (has_data_) events.push_back(std::move(data_));
        data_.clear();
        has_data_ = false;
        return;
    }
    if (text.front() == ':') return;  // a comment
    const std::size_t colon = text.find(':');
    const std::string_view field = text.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field != "data") return;  // event, id, retry: not needed here
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
}

}  // namespace kvscope::server
