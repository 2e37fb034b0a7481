#pragma once
// A chat completion's logprobs read back into the engine's SampleResults, on the client side:
// {"content": [{"token": "token_id:<id>", "logprob", "top_logprobs": [{"token", "logprob"}]}]}
// as a server answers with vLLM's "return_tokens_as_token_ids" (a kvscope or vLLM server). The
// OpenAI format has no rank: it is counted among the alternatives when the token is one of them,
// else 0 (more than the alternatives, how much more the server did not say).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace kvscope::server {

// "token_id:123" -> 123; nullopt for anything else.
std::optional<std::int32_t> token_id_of(const nlohmann::json& token);

// `content`: the "content" list of one choice's (or chunk's) "logprobs". nullopt, with `error`
// saying what is wrong, when an entry is not such a token (no id, no number for its logprob).
std::optional<std::vector<SampleResult>> chat_logprobs_from_json(const nlohmann::json& content, std::string& error);

}  // namespace kvscope::server
