#pragma once
// When a sample ends: stop strings in its text (StopChecker), and the per-token checks of vLLM's
// check_stop (vllm/v1/core/sched/utils.py): EOS, stop_token_ids, then length.
//
// Stop strings. The text of a sample arrives as deltas (valid UTF-8). StopChecker emits text as
// soon as it cannot be part of a stop string: it holds back only the longest suffix that is still a
// proper prefix of some stop string, so matches across delta boundaries are found and nothing is
// held that cannot match. The sample stops at the first position where a stop string ends; if
// several end there, the longest wins. The output ends before the stop string, or after it with
// include_stop_str_in_output (then nothing is ever held back). The result does not depend on how
// the text was split into deltas. (vLLM checks stop strings in list order and holds back a fixed
// max_len - 1 characters; the outputs agree except when two stop strings occur in the same delta.)

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling_params.h"

namespace kvscope {

struct StopMatch {
    bool stopped = false;
    int32_t stop_index = -1;  // index of the matched stop string, -1 if none
};

class StopChecker {
public:
    // Stop strings must be non-empty (SamplingParams::validate checks that).
    StopChecker(std::vector<std::string> stop_strings, bool include_stop_str_in_output);
    explicit StopChecker(const SamplingParams& params) : StopChecker(params.stop, params.include_stop_str_in_output) {}

    // Appends to `out` the part of the text so far that is safe to emit now. Once a stop string
    // has matched, this and every later call append nothing and return the same match.
    StopMatch feed(std::string_view delta, std::string& out);

    // At the end of the sample (not stopped by a string): appends the held-back text.
    void flush(std::string& out);

    bool stopped() const { return match_.stopped; }
    const StopMatch& match() const { return match_; }
    // Bytes received but not yet emitted.
    size_t num_held_bytes() const { return include_in_output_ ? 0 : buffer_.size(); }

private:
    // Length of the longest suffix of buffer_ that is a proper prefix of a stop string.
    size_t held_suffix_length() const;

    std::vector<std::string> stop_strings_;
    bool include_in_output_;
    size_t max_stop_length_ = 0;
    // Not yet emitted text (held back), or with include_in_output, the last max_len - 1 bytes
    // already emitted, for matches that straddle deltas.
    std::string buffer_;
    StopMatch match_;
};

enum class FinishReason : uint8_t {
    none,    // keep going
    stop,    // EOS, a stop token or a stop string ("stop" in the OpenAI API)
    length,  // max_tokens or the context length ("length")
    abort,   // aborted by the client or the engine ("abort")
};

// "stop", "length", or "" for none.
std::string_view finish_reason_name(FinishReason reason);

struct TokenFinish {
    FinishReason reason = FinishReason::none;
    int32_t stop_token_id = -1;  // the stop_token_ids entry that ended it (vLLM's stop_reason), else -1
};

// After `token` was appended as the num_output_tokens-th output token, in vLLM's order: an EOS
// token (any of eos_token_ids; skipped with ignore_eos) -> stop; a stop_token_ids entry -> stop
// (even with ignore_eos); num_output_tokens >= max_tokens, or the context is full -> length.
TokenFinish check_token_finish(int32_t token, int32_t num_output_tokens, bool context_full,
                               const SamplingParams& params, std::span<const int32_t> eos_token_ids);

}  // namespace kvscope
