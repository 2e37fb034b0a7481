#pragma once
// Perplexity of a model served over HTTP (kvscope's or vLLM's OpenAI server), cut and scored as
// llama-perplexity does (engine/perplexity.h): the server's POST /tokenize cuts the text (an empty
// prompt tokenised with special tokens tells the BOS each chunk starts with, max_model_len bounds
// the context), and each chunk goes to /v1/completions as token ids with vLLM's "prompt_logprobs"
// (unstreamed: vLLM refuses them on a stream), greedy, one token. Used by `kvscope-cli perplexity
// --url` and by the workbench attached to a server.

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/perplexity.h"

namespace kvscope::server {

struct ServerText {
    std::vector<std::int32_t> tokens;  // the text with its special tokens
    std::optional<std::int32_t> bos;   // what the tokenizer puts first; nullopt: nothing
    std::int32_t max_model_len = 0;
};

// Throws ConfigError (one line: what failed, what to do) when the server cannot be reached, has
// no /tokenize, refuses the text or answers something else. `model` "" sends no "model".
ServerText tokenize_at_server(httplib::Client& client, const std::string& model, std::string_view text);

// vLLM's "prompt_logprobs" of a choice ([null, {"<id>": {"logprob", "rank", "decoded_token"}},
// ...], one entry per prompt token) as the engine gives them: an entry per token after the first,
// each the prompt token's logprob and rank with up to `top` alternatives, most likely first.
// nullopt and `error` set when the list does not fit the prompt.
std::optional<std::vector<SampleResult>> prompt_logprobs_from_json(const nlohmann::json& list,
                                                                   std::span<const std::int32_t> prompt,
                                                                   std::int32_t top, std::string& error);

// The body that scores one chunk: token ids, prompt_logprobs 0, greedy, one token, unstreamed.
nlohmann::json perplexity_body(std::span<const std::int32_t> chunk, const std::string& model);

struct ServerPerplexityOptions {
    std::string url = "http://127.0.0.1:8000";
    std::string api_key;           // sent as a Bearer token when not empty
    std::string model;             // "": the first model of /v1/models
    std::int32_t concurrency = 4;  // chunks in flight at once
    double timeout_s = 600;
};

// An HTTP client for the server; ConfigError for a URL that is none.
std::unique_ptr<httplib::Client> perplexity_client(const ServerPerplexityOptions& o);

// Scores `chunks` at the server, `concurrency` at a time; `on_chunk` (on the calling thread) gets
// each in text order as soon as it and every one before it are scored. Throws ConfigError when a
// chunk is refused or its answer cannot be read.
std::vector<PerplexityChunk> run_server_perplexity(const ServerPerplexityOptions& o, const std::string& model,
                                                   const std::vector<std::vector<std::int32_t>>& chunks,
                                                   const PerplexityOptions& options,
                                                   const std::function<void(const PerplexityChunk&)>& on_chunk);

}  // namespace kvscope::server
