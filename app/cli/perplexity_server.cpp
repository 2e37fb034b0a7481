#include "app/cli/perplexity_server.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "app/cli/perplexity_report.h"
#include "app/server/perplexity_client.h"
#include "app/server/served_model.h"
#include "engine/error.h"

namespace kvscope::cli {

void append_server_perplexity_options(std::vector<OptionSpec>& options) {
    options.push_back({"url", "URL",
                       "measure the model a kvscope or vLLM server serves instead (its /tokenize cuts the text, its "
                       "prompt_logprobs score it); the model and engine options do not apply"});
    options.push_back({"served-model", "NAME", "with --url: the model to ask for (default: the first of /v1/models)"});
    options.push_back({"api-key", "KEY", "with --url: Bearer token (default: $OPENAI_API_KEY)"});
    options.push_back({"concurrency", "N", "with --url: chunks in flight at once (default 4)"});
}

int run_server_perplexity_command(const ParsedArgs& a, const PerplexityOptions& popts, const std::string& text,
                                  const std::string& source) {
    server::ServerPerplexityOptions o;
    o.url = *a.string("url");
    while (!o.url.empty() && o.url.back() == '/') o.url.pop_back();
    if (auto key = a.string("api-key")) {
        o.api_key = *key;
    } else if (const char* env = std::getenv("OPENAI_API_KEY"); env && *env) {
        o.api_key = env;
    }
    o.concurrency = static_cast<std::int32_t>(a.integer("concurrency", 4, 1, 256));
    const std::unique_ptr<httplib::Client> client = server::perplexity_client(o);
    const std::optional<std::string> served = a.string("served-model");
    const std::string model = served ? *served : server::first_served_model(*client, o.url, "--served-model");
    const server::ServerText tokens = server::tokenize_at_server(*client, model, text);
    check_perplexity_context(popts, tokens.max_model_len);
    const std::vector<std::vector<std::int32_t>> chunks = perplexity_chunks(tokens.tokens, tokens.bos, popts);
    const bool json = a.has("json");
    std::fprintf(stderr,
                 "kvscope: perplexity of %s at %s on %s: %zu tokens, %zu chunks of %d, scoring %d tokens of each\n",
                 model.c_str(), o.url.c_str(), source.c_str(), tokens.tokens.size(), chunks.size(), popts.context,
                 scored_per_chunk(popts));

    const auto start = std::chrono::steady_clock::now();
    std::vector<PerplexityChunk> done;
    nlohmann::json chunk_json = nlohmann::json::array();
    const std::vector<PerplexityChunk> results =
        server::run_server_perplexity(o, model, chunks, popts, [&](const PerplexityChunk& c) {
            done.push_back(c);
            const PerplexityEstimate running = estimate_perplexity(done);
            if (json) {
                chunk_json.push_back({{"index", c.index + 1},
                                      {"nll_mean", c.nll_sum / c.num_scored},
                                      {"ppl", std::exp(c.nll_sum / c.num_scored)},
                                      {"running_ppl", running.ppl}});
            } else {
                std::printf("[%d]%.4f,", c.index + 1, running.ppl);
                std::fflush(stdout);
            }
        });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const PerplexityEstimate e = estimate_perplexity(results);
    const double tokens_per_second = seconds > 0 ? static_cast<double>(chunks.size()) * popts.context / seconds : 0;
    if (json) {
        nlohmann::json out = perplexity_result_json(popts, tokens.tokens.size(), chunks.size(), e, seconds);
        out.update({{"model", model},
                    {"url", o.url},
                    {"file", source},
                    {"weight_type", nullptr},
                    {"cache_dtype", nullptr},
                    {"backend", "server"},
                    {"chunks", chunk_json}});
        std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", e.ppl, e.ppl_error);
        std::fflush(stdout);
        std::fprintf(stderr, "kvscope: %zu chunks (%lld tokens) in %.1f s, %.1f tokens/s\n", chunks.size(),
                     static_cast<long long>(chunks.size()) * popts.context, seconds, tokens_per_second);
    }
    return 0;
}

}  // namespace kvscope::cli
