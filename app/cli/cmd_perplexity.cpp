// kvscope-cli perplexity: a model's perplexity over a text file, cut and scored as llama.cpp's
// llama-perplexity does (engine/perplexity.h), through the paged engine with its cache settings.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/engine_options.h"
#include "engine/error.h"
#include "engine/perplexity.h"

namespace kvscope::cli {
namespace {

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path + ": cannot open the text file; check the path");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw FileError(path + ": cannot read the text file");
    if (text.str().empty()) throw FileError(path + ": the text file is empty; give a text to score");
    return text.str();
}

PerplexityOptions perplexity_options_from_args(const ParsedArgs& a) {
    PerplexityOptions options;
    options.context = static_cast<std::int32_t>(a.integer("ctx", options.context, 4, 1 << 20));
    options.max_chunks = static_cast<std::int32_t>(a.integer("chunks", 0, 1, 1 << 24));
    const std::string score = a.string("score").value_or("second-half");
    if (score != "second-half" && score != "all") {
        throw UsageError("--score: expected second-half or all, got '" + score + "'");
    }
    options.score_all = score == "all";
    return options;
}

}  // namespace

int run_perplexity(const std::vector<std::string>& args) {
    std::vector<OptionSpec> options = {
        {"file", "PATH", "the text to score, UTF-8 (required)"},
        {"ctx", "N", "tokens per chunk (default 512, as llama-perplexity's -c)"},
        {"chunks", "N", "score only the first N chunks (default: every whole chunk of the text)"},
        {"score", "WHICH",
         "second-half (default, as llama-perplexity: the tokens after ctx/2 of each chunk) or all (every token "
         "after the first)"},
        {"json", "", "print one JSON object with the result instead of the running estimate"},
    };
    append_model_options(options);
    append_engine_options(options);
    const ArgParser parser(
        "perplexity", "Measure a model's perplexity over a text, chunk by chunk, as llama-perplexity does.", options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const std::optional<std::string> path = a.string("file");
    if (!path) throw UsageError("--file PATH is required: the text to score");
    const PerplexityOptions popts = perplexity_options_from_args(a);
    const EngineConfig config = engine_config_from_args(a);
    const std::string text = read_text_file(*path);

    const std::shared_ptr<const Model> model = load_model_from_args(a);
    const std::vector<std::int32_t> tokens = model->tokenizer().encode(text, /*add_special=*/true, false);
    const std::vector<std::vector<std::int32_t>> chunks = perplexity_chunks(tokens, model->tokenizer(), popts);
    Engine engine(model, config);
    report_backend_note(engine);
    const bool json = a.has("json");
    const std::int32_t first = first_scored_entry(popts);
    const ModelConfig& mc = model->config();
    const std::string weights = model->requantized_to() ? std::string(type_name(*model->requantized_to()))
                                : mc.file_type.empty()  ? std::string(type_name(mc.weight_type))
                                                        : mc.file_type;
    std::fprintf(stderr,
                 "kvscope: perplexity of %s (%s weights) on %s: %zu tokens, %zu chunks of %d, scoring %d tokens of "
                 "each; %s, KV cache %s\n",
                 model->config().name.c_str(), weights.c_str(), path->c_str(), tokens.size(), chunks.size(),
                 popts.context, popts.context - 1 - first, engine.backend_name().c_str(),
                 std::string(type_name(config.cache_dtype)).c_str());

    const auto start = std::chrono::steady_clock::now();
    std::vector<PerplexityChunk> done;
    nlohmann::json chunk_json = nlohmann::json::array();
    const std::vector<PerplexityChunk> results = run_perplexity(engine, chunks, popts, [&](const PerplexityChunk& c) {
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
        const nlohmann::json out = {{"model", model->config().name},
                                    {"file", *path},
                                    {"weight_type", weights},
                                    {"cache_dtype", type_name(config.cache_dtype)},
                                    {"backend", engine.backend_name()},
                                    {"context", popts.context},
                                    {"score", popts.score_all ? "all" : "second-half"},
                                    {"text_tokens", tokens.size()},
                                    {"num_chunks", chunks.size()},
                                    {"scored_tokens", e.num_scored},
                                    {"nll_mean", e.nll_mean},
                                    {"ppl", e.ppl},
                                    {"ppl_error", e.ppl_error},
                                    {"chunks", chunk_json},
                                    {"seconds", seconds},
                                    {"tokens_per_second", tokens_per_second}};
        std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", e.ppl, e.ppl_error);
        std::fprintf(stderr, "kvscope: %zu chunks (%lld tokens) in %.1f s, %.1f tokens/s\n", chunks.size(),
                     static_cast<long long>(chunks.size()) * popts.context, seconds, tokens_per_second);
    }
    return 0;
}

}  // namespace kvscope::cli
