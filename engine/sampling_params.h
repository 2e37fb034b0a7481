#pragma once
// Per-request sampling parameters, with vLLM's meanings, defaults and validation ranges
// (vllm/sampling_params.py). The request front-ends (CLI, chat, HTTP) fill one in and call
// validate() before the request reaches the engine; the sampler assumes a validated value.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kvscope {

// Most alternatives a request may ask for per token (vLLM's default `max_logprobs`).
inline constexpr int32_t kMaxLogprobs = 20;
// Most samples per request (vLLM's default VLLM_MAX_N_SEQUENCES).
inline constexpr int32_t kMaxSamplesPerRequest = 16384;
// A temperature in (0, kMinTemperature) samples at kMinTemperature (vLLM's _MAX_TEMP), which keeps
// logits / temperature finite. Only a temperature of exactly 0 is greedy.
inline constexpr double kMinTemperature = 0.01;

struct SamplingParams {
    int32_t n = 1;            // samples (output sequences) per request, [1, kMaxSamplesPerRequest]
    int32_t max_tokens = 16;  // most generated tokens per sample, >= 1

    double temperature = 1.0;  // >= 0; 0 = greedy (argmax; top_k, top_p, min_p are then ignored)
    int32_t top_k = 0;         // keep the k most likely tokens (ties at the k-th logit too); -1 or 0 = off
    double top_p = 1.0;        // keep the smallest most-likely set reaching this mass, (0, 1]; 1 = off
    double min_p = 0.0;        // drop tokens with p < min_p * p_max, [0, 1]; 0 = off

    double repetition_penalty = 1.0;  // > 0; over prompt and output tokens; 1 = off
    double presence_penalty = 0.0;    // [-2, 2]; over output tokens; 0 = off
    double frequency_penalty = 0.0;   // [-2, 2]; over output tokens; 0 = off

    // Same seed, same output, whatever else is batched with the request. Unset: drawn from the
    // process-wide seed source (engine/rng.h). JSON front-ends map vLLM's "seed": -1 to unset and
    // other negative seeds to their two's-complement value.
    std::optional<uint64_t> seed;

    std::vector<std::string> stop;        // stop strings: non-empty, valid UTF-8
    std::vector<int32_t> stop_token_ids;  // tokens that end a sample, each in [0, vocab_size)
    bool ignore_eos = false;              // keep generating past the model's end-of-sequence token
    bool include_stop_str_in_output = false;

    // Alternatives to return per token besides the chosen one, [0, kMaxLogprobs]; unset = none.
    std::optional<int32_t> logprobs;
    // vLLM's prompt_logprobs: the logprob of every prompt token after the first (how likely the
    // model found it given the tokens before it), with this many alternatives each,
    // [0, kMaxLogprobs]; unset = none. Always raw (the model's log-softmax). A request that asks
    // for them computes its whole prompt: it reads nothing from the prefix cache.
    std::optional<int32_t> prompt_logprobs;

    // Throws ConfigError, with a one-line message naming the field, its value and the allowed
    // range, for the first field that is out of range.
    void validate(int32_t vocab_size) const;

    bool is_greedy() const { return temperature == 0.0; }
    // The temperature the sampler divides by: kMinTemperature for 0 < temperature < kMinTemperature.
    double effective_temperature() const;
    bool has_penalties() const;
};

}  // namespace kvscope
