#pragma once
// `kvscope-cli bench serve`: a load generator for any OpenAI-compatible server, measuring what
// vLLM's `vllm bench serve` measures, with the same definitions (vllm/benchmarks/serve.py):
//   every request streams (stream_options.include_usage) and is timed on the client:
//   TTFT   time from sending to the first chunk that carries choices
//   ITL    the gaps between later chunks (one chunk per token from vLLM and kvscope)
//   E2E    time from sending to the last chunk with choices
//   TPOT   (E2E - TTFT) / (output tokens - 1), for requests with more than one output token
//   output tokens: usage.completion_tokens; input tokens: usage.prompt_tokens
//   throughputs: completed requests, output tokens, input + output tokens, per second of the
//   whole run; latencies: mean, median, standard deviation and percentiles (numpy's linear
//   interpolation).
// Requests come from engine/workload.h (length distributions, a shared prefix, Poisson arrivals
// at a rate, or all at once) and are sent as token ids or, for servers that need text, as the
// text of those ids.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "engine/workload.h"

namespace kvscope::server {

struct BenchServeOptions {
    std::string url = "http://127.0.0.1:8000";
    std::string endpoint = "/v1/completions";  // or /v1/chat/completions
    std::string model;                         // empty: the first model of GET /v1/models
    std::string api_key;                       // sent as a Bearer token when not empty
    WorkloadSpec workload;
    std::int32_t max_concurrency = 0;  // most requests in flight; 0: no limit
    bool text_prompts = false;         // send text instead of token ids (chat always sends text)
    bool ignore_eos = true;            // generate exactly the requested output lengths
    double temperature = 0.0;
    double timeout_s = 600;  // per request
    std::vector<double> percentiles = {99};
};

struct BenchPrompt {
    std::vector<std::int32_t> token_ids;
    std::string text;
    std::int32_t prompt_len = 0;  // tokens (for text prompts: of the ids it was made from)
    std::int32_t output_len = 0;
    double arrival_s = 0;
};

struct BenchRequestResult {
    bool success = false;
    std::string error;
    std::int32_t prompt_len = 0;
    std::int32_t output_tokens = 0;
    std::int32_t cached_tokens = -1;  // usage.prompt_tokens_details.cached_tokens; -1: not told
    double start_s = 0;               // after the start of the run
    double ttft_s = 0;
    double latency_s = 0;  // E2E
    std::vector<double> itl_s;
    std::string generated_text;
};

struct LatencySummary {
    double mean_ms = 0, median_ms = 0, std_ms = 0;
    std::vector<std::pair<double, double>> percentiles_ms;  // (p, value)
};

struct BenchServeResult {
    std::vector<BenchRequestResult> requests;  // in prompt order
    double duration_s = 0;
    std::int64_t completed = 0, failed = 0;
    std::int64_t total_input_tokens = 0, total_output_tokens = 0;
    // Input tokens the server's prefix cache served (its usage's cached_tokens, summed); -1 when
    // no completed request's usage told them (a vLLM without --enable-prompt-tokens-details).
    std::int64_t total_cached_tokens = -1;
    double request_throughput = 0, output_throughput = 0, total_token_throughput = 0;
    LatencySummary ttft, tpot, itl, e2el;
};

// The prompts of a workload, with `tokenizer` giving the vocabulary, BOS and (for text) the text.
std::vector<BenchPrompt> make_bench_prompts(const WorkloadSpec& workload, const Tokenizer& tokenizer, bool text);

// Asks GET /v1/models for the first model id. Throws ConfigError when the server cannot be
// reached or lists none.
std::string first_served_model(const BenchServeOptions& options);

// Sends every prompt at its arrival time (at most max_concurrency in flight), waits for all.
BenchServeResult run_bench_serve(const BenchServeOptions& options, const std::vector<BenchPrompt>& prompts);

// The figures of a finished run (completed requests only), as vLLM computes them.
void summarize(BenchServeResult& result, const std::vector<double>& percentiles);
// numpy.percentile with linear interpolation; 0 for no values.
double percentile(std::vector<double> values, double p);

std::string bench_table(const BenchServeOptions& options, const BenchServeResult& result);
nlohmann::json bench_json(const BenchServeOptions& options, const BenchServeResult& result);

}  // namespace kvscope::server
