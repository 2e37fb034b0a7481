#include "engine/perplexity.h"

#include <cmath>
#include <map>
#include <string>

#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope {

std::int32_t first_scored_entry(const PerplexityOptions& options) {
    return options.score_all ? 0 : options.context / 2;
}

std::vector<std::vector<std::int32_t>> perplexity_chunks(std::span<const std::int32_t> tokens,
                                                         const Tokenizer& tokenizer, const PerplexityOptions& options) {
    const bool bos = tokenizer.add_bos() && tokenizer.bos_id() >= 0;
    return perplexity_chunks(tokens, bos ? std::optional(tokenizer.bos_id()) : std::nullopt, options);
}

std::vector<std::vector<std::int32_t>> perplexity_chunks(std::span<const std::int32_t> tokens,
                                                         std::optional<std::int32_t> bos,
                                                         const PerplexityOptions& options) {
    if (options.context < 4) {
        throw ConfigError("a perplexity context of " + std::to_string(options.context) +
                          " tokens is too short; give at least 4");
    }
    if (options.max_chunks < 0) throw ConfigError("the number of chunks must not be negative");
    const auto context = static_cast<std::size_t>(options.context);
    std::size_t count = tokens.size() / context;
    if (count == 0) {
        throw ConfigError("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                          std::to_string(context) + "; give a longer text or a smaller context");
    }
    if (options.max_chunks > 0) count = std::min(count, static_cast<std::size_t>(options.max_chunks));
    std::vector<std::vector<std::int32_t>> chunks(count);
    for (std::size_t i = 0; i < count; ++i) {
        chunks[i].assign(tokens.begin() + static_cast<std::ptrdiff_t>(i * context),
                         tokens.begin() + static_cast<std::ptrdiff_t>((i + 1) * context));
        if (bos) chunks[i][0] = *bos;
    }
    return chunks;
}

Request perplexity_request(std::span<const std::int32_t> chunk) {
    Request request;
    request.prompt_token_ids.assign(chunk.begin(), chunk.end());
    request.params.temperature = 0;
    request.params.max_tokens = 1;
    request.params.ignore_eos = true;
    request.params.prompt_logprobs = 0;
    return request;
}

void check_perplexity_context(const PerplexityOptions& options, std::int32_t max_model_len) {
    if (options.context >= max_model_len) {
        throw ConfigError("a perplexity context of " + std::to_string(options.context) +
                          " tokens needs a context of at least " + std::to_string(options.context + 1) +
                          " (the chunk and one sampled token), but the engine's is " + std::to_string(max_model_len) +
                          "; use a smaller context or raise max_model_len");
    }
}

void score_prompt_logprobs(PerplexityChunk& chunk, std::int32_t& received, std::span<const SampleResult> logprobs,
                           const PerplexityOptions& options) {
    const std::int32_t first = first_scored_entry(options);
    for (const SampleResult& scored : logprobs) {
        if (received++ < first) continue;  // entry j scores the chunk's token j + 1
        const double nll = -static_cast<double>(scored.logprob);
        chunk.nll_sum += nll;
        chunk.nll_square_sum += nll * nll;
        ++chunk.num_scored;
    }
}

std::int32_t scored_per_chunk(const PerplexityOptions& options) {
    return options.context - 1 - first_scored_entry(options);
}

std::vector<PerplexityChunk> run_perplexity(Engine& engine, const std::vector<std::vector<std::int32_t>>& chunks,
                                            const PerplexityOptions& options,
                                            const std::function<void(const PerplexityChunk&)>& on_chunk,
                                            const PerplexityRowObserver& on_row) {
    KV_CHECK(!engine.has_work());
    check_perplexity_context(options, engine.cache_plan().max_model_len);
    const std::int32_t first = first_scored_entry(options);
    std::map<RequestId, std::size_t> chunk_of;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        KV_CHECK(chunks[i].size() == static_cast<std::size_t>(options.context));
        try {
            chunk_of[engine.add_request(perplexity_request(chunks[i]))] = i;
        } catch (const ConfigError& e) {  // the engine is left as it was found
            for (const auto& [id, chunk] : chunk_of) engine.abort(id);
            while (engine.has_work()) engine.step();
            const std::string chunk = "a perplexity chunk of " + std::to_string(options.context) + " tokens: ";
            const auto* too_large = dynamic_cast<const RequestTooLargeError*>(&e);
            if (!too_large) throw ConfigError(chunk + e.what());
            // The engine's advice names max_tokens, which a perplexity run does not have.
            throw ConfigError(chunk + too_large->reason() +
                              (too_large->limit() == RequestTooLargeError::Limit::kv_blocks
                                   ? "; raise the KV cache size or use a smaller context"
                                   : "; enable chunked prefill, raise max_num_batched_tokens or use a smaller "
                                     "context"));
        }
    }

    // The rows go to on_row while this runs, and nowhere once it returns or throws.
    struct ObserverReset {
        Engine& engine;
        ~ObserverReset() { engine.observe_prompt_logits({}); }
    } reset{engine};
    if (on_row) {
        engine.observe_prompt_logits([&](RequestId id, std::int32_t position, std::span<const float> logits) {
            if (position >= first) on_row(chunk_of.at(id), position, logits);
        });
    }

    std::vector<PerplexityChunk> results(chunks.size());
    std::vector<std::int32_t> entries(chunks.size(), 0);  // prompt logprobs received per chunk
    std::vector<bool> done(chunks.size(), false);
    std::size_t next_to_report = 0;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            const std::size_t index = chunk_of.at(out.id);
            PerplexityChunk& chunk = results[index];
            chunk.index = static_cast<std::int32_t>(index);
            score_prompt_logprobs(chunk, entries[index], out.prompt_logprobs, options);
            if (out.finished) {
                KV_CHECK(chunk.num_scored == scored_per_chunk(options));
                done[index] = true;
            }
        }
        while (next_to_report < chunks.size() && done[next_to_report]) {
            if (on_chunk) on_chunk(results[next_to_report]);
            ++next_to_report;
        }
    }
    return results;
}

PerplexityEstimate estimate_perplexity(std::span<const PerplexityChunk> chunks) {
    PerplexityEstimate e;
    double sum = 0.0, square_sum = 0.0;
    for (const PerplexityChunk& c : chunks) {
        e.num_scored += c.num_scored;
        sum += c.nll_sum;
        square_sum += c.nll_square_sum;
    }
    if (e.num_scored == 0) return e;
    const auto n = static_cast<double>(e.num_scored);
    e.nll_mean = sum / n;
    e.ppl = std::exp(e.nll_mean);
    const double variance = square_sum / n - e.nll_mean * e.nll_mean;
    if (e.num_scored > 1 && variance > 0) e.ppl_error = e.ppl * std::sqrt(variance / (n - 1));
    return e;
}

}  // namespace kvscope
