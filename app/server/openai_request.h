#pragma once
// The bodies of POST /v1/completions and /v1/chat/completions (and /tokenize, /detokenize), read strictly into a
// CompletionJob: every field with its OpenAI/vLLM name, type and range checked, prompts
// tokenised and checked against the context and the server's limits. Anything wrong is an
// ApiError (400, naming the field) - never an exception of another kind, never a crash.
//
// Sampling fields: max_tokens (chat: max_completion_tokens too), temperature, top_p, top_k,
// min_p, n, seed, stop, stop_token_ids, presence_penalty, frequency_penalty,
// repetition_penalty, ignore_eos, include_stop_str_in_output, priority; completions: prompt
// (a string, a token-id array, or a list of either), echo (with max_tokens 0: the prompt alone),
// logprobs (top-N integer; with echo the prompt's tokens are scored too), prompt_logprobs (vLLM's);
// chat:
// messages, logprobs (bool) with top_logprobs, add_generation_prompt; both: stream and
// stream_options.include_usage, return_token_ids and return_tokens_as_token_ids (vLLM's extensions). Unknown fields are
// ignored (as OpenAI does); features kvscope does not have (tools, suffix, best_of > n, non-text content, JSON response
// formats) are refused rather than silently ignored.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/sampling_params.h"

namespace kvscope::server {

struct ServerLimits {
    std::size_t max_body_bytes = 1 << 20;  // request body
    std::int32_t max_prompt_tokens = 0;    // per prompt; 0: the context length - 1
    std::int32_t max_n = 16;               // samples per prompt
    std::int32_t max_output_tokens = 0;    // max_tokens; 0: the context length
    std::int32_t max_prompts = 64;         // prompts in one completions request
};

struct RequestContext {
    const Model* model = nullptr;
    std::string served_model_name;
    std::vector<std::string> lora_names;  // more "model" names: the LoRA adapters served
    std::int32_t max_model_len = 0;
    ServerLimits limits;
};

enum class ApiKind { Completion, Chat };

struct CompletionJob {
    ApiKind kind = ApiKind::Completion;
    std::vector<std::vector<std::int32_t>> prompts;  // token ids, one list per prompt
    std::vector<std::string> prompt_texts;           // the prompts as text (for echo)
    // Per prompt: given as text (its special tokens' texts are in prompt_texts), not as ids
    // (prompt_texts is their decoding without special tokens).
    std::vector<bool> prompt_is_text;
    SamplingParams params;
    std::int32_t priority = 0;
    std::string lora;  // the adapter the "model" named; empty: the base model
    bool stream = false;
    bool include_usage = false;     // stream_options.include_usage
    bool echo = false;              // completions: prepend the prompt to the text
    bool want_logprobs = false;     // completions: logprobs given; chat: logprobs true
    bool return_token_ids = false;  // vLLM's extension: choices carry "token_ids" (and "prompt_token_ids")
    bool tokens_as_ids = false;     // vLLM's return_tokens_as_token_ids: logprobs name tokens "token_id:<id>"
    // completions: vLLM's "prompt_logprobs" (alternatives per prompt token): choices carry
    // "prompt_logprobs"; unset: none. (params.prompt_logprobs also covers an echo's logprobs.)
    std::optional<std::int32_t> prompt_logprobs;
    bool echo_only = false;  // completions: echo with max_tokens 0, the prompt alone (one token run, left out)
};

// Throws ApiError.
CompletionJob parse_completion_request(const nlohmann::json& body, const RequestContext& context);
CompletionJob parse_chat_request(const nlohmann::json& body, const RequestContext& context);

// POST /tokenize (vLLM's): {"model"?, "prompt": string, "add_special_tokens"? (true)} or
// {"model"?, "messages": [...], "add_generation_prompt"? (true), "add_special_tokens"? (true)},
// either with "return_token_strs"? (false). The tokens are those the completion or chat endpoint
// would run for the same prompt or conversation (with the defaults); no length limit but the body's.
struct TokenizeJob {
    std::vector<std::int32_t> tokens;
    bool return_token_strs = false;
};
TokenizeJob parse_tokenize_request(const nlohmann::json& body, const RequestContext& context);
// POST /detokenize (vLLM's): {"model"?, "tokens": [ids]} -> the ids, each checked against the
// vocabulary (an empty list is allowed).
std::vector<std::int32_t> parse_detokenize_request(const nlohmann::json& body, const RequestContext& context);

// The body as a JSON object; ApiError (400, code "invalid_json") when it is not one.
nlohmann::json parse_json_body(const std::string& body);

}  // namespace kvscope::server
