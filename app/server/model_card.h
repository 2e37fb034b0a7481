#pragma once
// What a remote client needs to know of the model a kvscope server runs, beyond OpenAI's model
// object: its vocabulary (size, BOS/EOS ids, the first ordinary token id, whether prompts start
// with BOS), so that a workbench attached over HTTP can make synthetic token-id prompts, and the
// cache layout. GET /v1/models publishes it as the "kvscope" object of each entry (vLLM adds
// fields of its own there, such as max_model_len; OpenAI clients ignore fields they do not know).
// model_card_from_json() is the client's side: a vLLM or llama.cpp entry has no such object.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "app/server/engine_host.h"
#include "engine/tokenizer.h"

namespace kvscope::server {

struct ModelCard {
    std::string architecture;   // "llama", "qwen2"
    std::string weight_type;    // the type of most weight bytes as served (a re-quantisation target if any)
    std::string chat_template;  // "plain", "chatml", ...
    std::string backend;        // "cpu (avx2)", "cuda", ...
    std::string cache_dtype;    // the KV cache's element type ("F32", "F16", "Q8_0")
    std::int64_t num_params = 0;
    std::int32_t num_layers = 0;
    std::int32_t vocab_size = 0;
    std::int32_t bos_token_id = -1;  // -1: none
    std::int32_t eos_token_id = -1;
    bool add_bos = false;                    // the server starts text prompts with BOS
    std::int32_t first_normal_token_id = 0;  // the first ordinary (not control, unknown, unused or byte) token
    std::int32_t block_size = 0;             // tokens per KV block
    std::int32_t num_blocks = 0;
    std::int64_t block_bytes = 0;  // one block, all layers, K and V
    std::int32_t max_model_len = 0;
};

ModelCard model_card(const ServingInfo& info);
nlohmann::json to_json(const ModelCard& card);
// The card of one GET /v1/models entry: nullopt when it has no "kvscope" object, or one whose
// vocabulary fields are missing or inconsistent (which a client must not make prompts from).
std::optional<ModelCard> model_card_from_json(const nlohmann::json& entry);

// The first ordinary token id (Normal or Undefined type): synthetic prompts draw their tokens
// from here up, so that they decode to readable text. 0 when every token is special.
std::int32_t first_ordinary_token(const Tokenizer& tokenizer);

}  // namespace kvscope::server
