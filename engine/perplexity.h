#pragma once
// Perplexity of a model over a text, measured as llama.cpp's llama-perplexity does, so that the
// two can be compared number for number: the text is tokenised once (with BOS), cut into chunks
// of `context` tokens, each chunk's first token replaced by BOS (when the tokenizer adds one),
// and each chunk scored by its second half — the tokens after position context / 2, each
// predicted from at least half a context — or, with score_all, every token after the first.
//
// The chunks run through the engine as one batch of requests with prompt logprobs, so the paged
// cache, chunked prefill and the cache dtype are all in what is measured.
//
//   PPL = exp(mean NLL) over every scored token of every chunk;
//   its uncertainty, PPL * (standard error of the mean NLL), is what llama-perplexity prints.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "engine/engine.h"

namespace kvscope {

struct PerplexityOptions {
    std::int32_t context = 512;   // tokens per chunk (llama-perplexity's -c)
    std::int32_t max_chunks = 0;  // 0: every whole chunk the text holds (--chunks)
    bool score_all = false;       // score every token after the first, not only the second half
};

struct PerplexityChunk {
    std::int32_t index = 0;  // 0-based, in text order
    std::int32_t num_scored = 0;
    double nll_sum = 0.0;  // sum of -log p(token) over its scored tokens
    double nll_square_sum = 0.0;
};

struct PerplexityEstimate {
    std::int64_t num_scored = 0;
    double nll_mean = 0.0;
    double ppl = 0.0;
    double ppl_error = 0.0;  // PPL * standard error of the mean NLL (0 with fewer than 2 tokens)
};

// The chunks of `tokens` (the text encoded with BOS), as llama-perplexity cuts them. Throws
// ConfigError when the text holds no whole chunk or the context is out of range.
std::vector<std::vector<std::int32_t>> perplexity_chunks(std::span<const std::int32_t> tokens,
                                                         const Tokenizer& tokenizer, const PerplexityOptions& options);
// The same, with the BOS token each chunk starts with given (nullopt: the tokenizer adds none), as
// a server's tokenizer tells it (an empty prompt tokenised with special tokens).
std::vector<std::vector<std::int32_t>> perplexity_chunks(std::span<const std::int32_t> tokens,
                                                         std::optional<std::int32_t> bos,
                                                         const PerplexityOptions& options);
// The first prompt-logprob entry a chunk scores (entry j scores the chunk's token j + 1).
std::int32_t first_scored_entry(const PerplexityOptions& options);

// The request that scores one chunk: its prompt logprobs, one greedy token after it.
Request perplexity_request(std::span<const std::int32_t> chunk);
// Throws ConfigError unless an engine whose longest sequence is max_model_len tokens holds a
// chunk of options.context tokens and the one token sampled after it.
void check_perplexity_context(const PerplexityOptions& options, std::int32_t max_model_len);
// Adds the prompt logprobs of one output of a chunk's request to its score. `received` counts the
// entries the chunk has had so far (entry j scores the chunk's token j + 1); entries from
// first_scored_entry(options) on are scored.
void score_prompt_logprobs(PerplexityChunk& chunk, std::int32_t& received, std::span<const SampleResult> logprobs,
                           const PerplexityOptions& options);
// The tokens a whole chunk scores: context - 1 - first_scored_entry(options).
std::int32_t scored_per_chunk(const PerplexityOptions& options);

// Called for every scored entry of every chunk with the logits that score it (entry j predicts
// the chunk's token j + 1), as the engine computes them: chunks interleave.
using PerplexityRowObserver = std::function<void(std::size_t chunk, std::int32_t entry, std::span<const float> logits)>;

// Runs `chunks` through `engine` (which must have no other work) as one batch and calls
// `on_chunk` for each chunk in text order as soon as it and those before it are done. Throws
// ConfigError when the engine cannot hold a chunk (context >= its max_model_len).
std::vector<PerplexityChunk> run_perplexity(Engine& engine, const std::vector<std::vector<std::int32_t>>& chunks,
                                            const PerplexityOptions& options,
                                            const std::function<void(const PerplexityChunk&)>& on_chunk = {},
                                            const PerplexityRowObserver& on_row = {});

// The estimate over the scored tokens of `chunks` (a running estimate: pass the first k).
PerplexityEstimate estimate_perplexity(std::span<const PerplexityChunk> chunks);

}  // namespace kvscope
