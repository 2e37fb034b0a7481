#pragma once
// OpenAI response bodies for completions and chat completions, whole and streamed:
//   completions  {"id": "cmpl-...", "object": "text_completion", "created", "model",
//                 "choices": [{"index", "text", "logprobs", "finish_reason", "stop_reason"}], "usage"}
//   chat         {"id": "chatcmpl-...", "object": "chat.completion", ..., "choices": [{"index",
//                 "message": {"role": "assistant", "content"}, "logprobs", "finish_reason"}], "usage"}
//   chunks       "object": "text_completion" / "chat.completion.chunk", one per engine output,
//                 chat deltas {"role"} first, then {"content"}; a final {"choices": [], "usage"}
//                 chunk with stream_options.include_usage.
// Choice i of a request with several prompts and n samples is prompt i / n, sample i % n.
// With return_token_ids (vLLM's extension) choices also carry "token_ids" and, whole,
// "prompt_token_ids"; chunks carry the new "token_ids".
// Logprobs: completions {"tokens", "token_logprobs", "top_logprobs", "text_offset"} (with echo the
// prompt's tokens first, the first of them with null logprob and alternatives; "text_offset" in
// characters of the choice's text, see text_offsets.h); completions' "prompt_logprobs" as vLLM's: [null, {"<id>":
// {"logprob", "rank", "decoded_token"}, ...}, ...], the prompt token and its alternatives; chat
// {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}]}.
// With return_tokens_as_token_ids (vLLM's) the logprobs name each token "token_id:<id>" instead
// of its piece (keys and "token"); "bytes" stay the piece's.

#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/server/openai_request.h"
#include "app/server/request_stream.h"
#include "app/server/text_offsets.h"

namespace kvscope::server {

struct ResponseMeta {
    std::string id;  // "cmpl-..." / "chatcmpl-..."
    std::int64_t created = 0;
    std::string model;
};

struct ChoiceText {
    std::string text;
    std::vector<std::int32_t> token_ids;
    std::vector<SampleResult> logprobs;
    std::vector<std::int64_t> text_offsets;  // per token (with completions' logprobs): where its text starts
    FinishReason finish = FinishReason::none;
    nlohmann::json stop_reason;  // null, the stop string or the stop token id that ended it
};

// Collects a request's outputs into its choices.
class CompletionAccumulator {
public:
    CompletionAccumulator(const CompletionJob& job, const Tokenizer& tokenizer);

    // Adds the item's news to its choices; returns the indices of the choices it touched, with
    // the part of each that is new (for a streamed chunk).
    struct Delta {
        std::size_t choice = 0;
        std::string text;
        std::vector<std::int32_t> token_ids;
        std::vector<SampleResult> logprobs;
        FinishReason finish = FinishReason::none;
        std::vector<std::int64_t> text_offsets;  // per new token, as ChoiceText's
        nlohmann::json stop_reason;              // as ChoiceText's, on the delta that finishes
    };
    std::vector<Delta> add(const StreamItem& item);

    const std::vector<ChoiceText>& choices() const { return choices_; }
    // Per prompt: entry i scores prompt token i + 1 (when the job asked for prompt logprobs).
    const std::vector<std::vector<SampleResult>>& prompt_logprobs() const { return prompt_logprobs_; }
    std::int64_t prompt_tokens() const { return prompt_tokens_; }
    // Why the engine ended one of the job's requests itself (RequestOutput::error), or "".
    const std::string& engine_error() const { return engine_error_; }
    std::int64_t completion_tokens() const;
    // Prompt tokens the prefix cache served, over the prompts that have finished.
    std::int64_t cached_tokens() const { return cached_tokens_; }

private:
    std::int32_t n_ = 1;
    bool echo_only_ = false;  // the sampled token is not part of the response
    bool count_offsets_ = false;
    std::vector<ChoiceText> choices_;
    std::vector<std::vector<SampleResult>> prompt_logprobs_;
    std::vector<TextOffsets> offsets_;  // per choice: counts its text from the echoed prompt's end
    std::int64_t prompt_tokens_ = 0;
    std::int64_t cached_tokens_ = 0;
    std::string engine_error_;
};

// {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details": {"cached_tokens"}}
// (OpenAI's; vLLM's with --enable-prompt-tokens-details).
nlohmann::json usage_json(std::int64_t prompt_tokens, std::int64_t completion_tokens, std::int64_t cached_tokens);

// The whole response (stream: false).
nlohmann::json completion_response(const ResponseMeta& meta, const CompletionJob& job, const CompletionAccumulator& acc,
                                   const Tokenizer& tokenizer);

// Streamed chunks. Each choice may open with a chunk of its own (has_first_chunk): chat's
// {"role": "assistant", "content": ""}, sent for every choice with the first token; completions'
// echoed prompt (with its logprobs when asked) and vLLM's "prompt_logprobs", sent just before the
// choice's first delta, when its prompt's logprobs have arrived.
bool has_first_chunk(const CompletionJob& job);
nlohmann::json first_chunk(const ResponseMeta& meta, const CompletionJob& job, std::size_t choice,
                           const CompletionAccumulator& acc, const Tokenizer& tokenizer);
nlohmann::json delta_chunk(const ResponseMeta& meta, const CompletionJob& job, const CompletionAccumulator::Delta& d,
                           const Tokenizer& tokenizer);
nlohmann::json usage_chunk(const ResponseMeta& meta, const CompletionJob& job, const CompletionAccumulator& acc);

// "data: <json>\n\n", and the closing "data: [DONE]\n\n".
std::string sse_event(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace kvscope::server
