#include "engine/stop_checker.h"

#include <algorithm>

#include "kernels/check.h"

namespace kvscope {

StopChecker::StopChecker(std::vector<std::string> stop_strings, bool include_stop_str_in_output)
    : stop_strings_(std::move(stop_strings)), include_in_output_(include_stop_str_in_output) {
    for (const std::string& stop : stop_strings_) {
        KV_CHECK_MSG(!stop.empty(), "empty stop string (SamplingParams::validate rejects them)");
        max_stop_length_ = std::max(max_stop_length_, stop.size());
    }
    buffer_.reserve(2 * max_stop_length_ + 64);
}

StopMatch StopChecker::feed(std::string_view delta, std::string& out) {
    if (match_.stopped) return match_;
    if (stop_strings_.empty()) {
        out.append(delta);
        return match_;
    }
    // buffer_ = [emitted context | held text] + delta. Neither old part contains a whole stop
    // string, so any match found now ends inside delta.
    const size_t num_emitted = include_in_output_ ? buffer_.size() : 0;
    buffer_.append(delta);

    // The match that ends first; on a tie the longer one (it starts earlier).
    size_t match_start = std::string::npos;
    size_t match_end = std::string::npos;
    for (size_t i = 0; i < stop_strings_.size(); ++i) {
        const std::string& stop = stop_strings_[i];
        const size_t start = buffer_.find(stop);
        if (start == std::string::npos) continue;
        const size_t end = start + stop.size();
        if (match_end == std::string::npos || end < match_end || (end == match_end && start < match_start)) {
            match_start = start;
            match_end = end;
            match_.stop_index = static_cast<int32_t>(i);
        }
    }
    if (match_end != std::string::npos) {
        const size_t cut = include_in_output_ ? match_end : match_start;
        KV_CHECK(cut >= num_emitted);
        out.append(buffer_, num_emitted, cut - num_emitted);
        match_.stopped = true;
        buffer_.clear();
        return match_;
    }

    if (include_in_output_) {
        // Emit everything; keep only the context a straddling match could start in.
        out.append(buffer_, num_emitted, std::string::npos);
        const size_t context = max_stop_length_ - 1;
        if (buffer_.size() > context) buffer_.erase(0, buffer_.size() - context);
    } else {
        // Emit all but the suffix that could still grow into a stop string.
        const size_t num_held = held_suffix_length();
        out.append(buffer_, 0, buffer_.size() - num_held);
        buffer_.erase(0, buffer_.size() - num_held);
    }
    return match_;
}

void StopChecker::flush(std::string& out) {
    if (!match_.stopped && !include_in_output_) out.append(buffer_);
    buffer_.clear();
}

size_t StopChecker::held_suffix_length() const {
    const size_t longest = std::min(buffer_.size(), max_stop_length_ - 1);
    for (size_t length = longest; length > 0; --length) {
        const std::string_view suffix = std::string_view(buffer_).substr(buffer_.size() - length);
        for (const std::string& stop : stop_strings_) {
            if (stop.size() > length && std::string_view(stop).substr(0, length) == suffix) return length;
        }
    }
    return 0;
}

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::stop:
            return "stop";
        case FinishReason::length:
            return "length";
        case FinishReason::abort:
            return "abort";
        case FinishReason::none:
            break;
    }
    return "";
}

TokenFinish check_token_finish(int32_t token, int32_t num_output_tokens, bool context_full,
                               const SamplingParams& params, std::span<const int32_t> eos_token_ids) {
    if (!params.ignore_eos && std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end()) {
        return {FinishReason::stop, -1};
    }
    if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), token) != params.stop_token_ids.end()) {
        return {FinishReason::stop, token};
    }
    if (num_output_tokens >= params.max_tokens || context_full) return {FinishReason::length, -1};
    return {};
}

}  // namespace kvscope
