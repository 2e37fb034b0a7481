// kvscope-cli perplexity: a model's perplexity over a text file, cut and scored as llama.cpp's
// llama-perplexity does (engine/perplexity.h), through the paged engine with its cache settings;
// and its KL divergence from a base run's distributions (engine/kl_divergence.h).

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/engine_options.h"
#include "app/cli/output_path.h"
#include "app/cli/perplexity_report.h"
#include "app/cli/perplexity_server.h"
#include "engine/error.h"
#include "engine/kl_divergence.h"
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

// What is scored: the chunks of --file, or (with --kl-divergence) those stored in the base file.
// Read before the model is loaded (a wrong path is said at once), cut once it is.
struct Scoring {
    PerplexityOptions options;
    std::string text;  // --file's
    std::vector<std::vector<std::int32_t>> chunks;
    std::size_t text_tokens = 0;
    std::string source;
    std::optional<KlBaseFile> base;
};

Scoring read_scoring(const ParsedArgs& a) {
    Scoring s;
    if (const auto base = a.string("kl-divergence")) {
        for (const char* option : {"file", "ctx", "chunks", "score", "kl-divergence-base"}) {
            if (a.has(option)) {
                throw UsageError(std::string("--") + option +
                                 ": --kl-divergence takes the text, its chunks and what is scored from the base "
                                 "file; leave --" +
                                 option + " out");
            }
        }
        s.base = KlBaseFile::open(*base);
        const KlBaseLayout& l = s.base->layout();
        s.options.context = l.context;
        s.options.score_all = l.first_entry == 0;
        if (first_scored_entry(s.options) != l.first_entry) {
            throw FileError(*base + ": scores from entry " + std::to_string(l.first_entry) +
                            ", neither the second half nor every token; write it again");
        }
        s.chunks = s.base->chunks();
        s.text_tokens = s.chunks.size() * static_cast<std::size_t>(l.context);
        s.source = *base;
        return s;
    }
    const std::optional<std::string> path = a.string("file");
    if (!path) throw UsageError("--file PATH is required: the text to score (or --kl-divergence BASE)");
    s.options = perplexity_options_from_args(a);
    s.text = read_text_file(*path);
    s.source = *path;
    return s;
}

// The chunks for `model`: the text's, or the base's once its vocabulary is checked.
void cut_chunks(Scoring& s, const Model& model) {
    if (s.base) {
        const std::int32_t vocab = s.base->layout().vocab_size;
        if (vocab != model.shape().vocab_size) {
            throw ConfigError(s.source + ": the base was measured over a vocabulary of " + std::to_string(vocab) +
                              " tokens, this model has " + std::to_string(model.shape().vocab_size) +
                              "; compare models that share a tokenizer");
        }
        return;
    }
    const std::vector<std::int32_t> tokens = model.tokenizer().encode(s.text, /*add_special=*/true, false);
    s.chunks = perplexity_chunks(tokens, model.tokenizer(), s.options);
    s.text_tokens = tokens.size();
}

nlohmann::json kl_json(const KlStats& k) {
    nlohmann::json percentiles = nlohmann::json::object();
    for (const auto& [q, value] : k.kld_percentiles) {
        std::ostringstream name;
        name << "p" << q;
        percentiles[name.str()] = value;
    }
    return {{"positions", k.num_positions},
            {"kld_mean", k.kld_mean},
            {"kld_mean_error", k.kld_mean_error},
            {"kld_min", k.kld_min},
            {"kld_max", k.kld_max},
            {"kld_percentiles", percentiles},
            {"same_top", k.same_top},
            {"same_top_error", k.same_top_error},
            {"delta_p_rms", k.delta_p_rms},
            {"ln_ppl_ratio", k.ln_ppl_ratio},
            {"ln_ppl_ratio_error", k.ln_ppl_ratio_error},
            {"base_ppl", k.base_ppl}};
}

void print_kl(const KlStats& k) {
    std::printf("KL divergence from the base, over %lld positions:\n", static_cast<long long>(k.num_positions));
    std::printf("  PPL(base)                : %.4f\n", k.base_ppl);
    std::printf("  ln(PPL / PPL(base))      : %.6f +/- %.6f\n", k.ln_ppl_ratio, k.ln_ppl_ratio_error);
    std::printf("  mean KLD                 : %.6f +/- %.6f\n", k.kld_mean, k.kld_mean_error);
    for (const auto& [q, value] : k.kld_percentiles) std::printf("  %5.1f%% KLD               : %.6f\n", q, value);
    std::printf("  max KLD                  : %.6f\n", k.kld_max);
    std::printf("  same top token           : %.3f +/- %.3f %%\n", 100 * k.same_top, 100 * k.same_top_error);
    std::printf("  RMS delta p              : %.4f %%\n", 100 * k.delta_p_rms);
}

}  // namespace

int run_perplexity(const std::vector<std::string>& args) {
    std::vector<OptionSpec> options = {
        {"file", "PATH", "the text to score, UTF-8 (required unless --kl-divergence)"},
        {"ctx", "N", "tokens per chunk (default 512, as llama-perplexity's -c)"},
        {"chunks", "N", "score only the first N chunks (default: every whole chunk of the text)"},
        {"score", "WHICH",
         "second-half (default, as llama-perplexity: the tokens after ctx/2 of each chunk) or all (every token "
         "after the first)"},
        {"kl-divergence-base", "FILE",
         "also store the token distribution of every scored position in FILE (2 bytes a vocabulary entry), the "
         "base for --kl-divergence"},
        {"kl-divergence", "FILE",
         "score the chunks stored in FILE and compare with its distributions: KL divergence, same top token, "
         "PPL ratio (for another weight type, cache dtype or file of the same vocabulary)"},
        {"json", "", "print one JSON object with the result instead of the running estimate"},
    };
    append_model_options(options);
    append_engine_options(options);
    const std::size_t local_options = options.size();
    append_server_perplexity_options(options);
    const ArgParser parser(
        "perplexity", "Measure a model's perplexity over a text, chunk by chunk, as llama-perplexity does.", options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    if (a.has("url")) {
        // The server's model, weights and cache are what is measured: the local ones do not apply.
        for (std::size_t i = 0; i < local_options; ++i) {
            const std::string& name = options[i].name;
            const bool text_option =
                name == "file" || name == "ctx" || name == "chunks" || name == "score" || name == "json";
            if (!text_option && a.has(name))
                throw UsageError("--" + name +
                                 " does not apply with --url (the server's model and cache are measured); "
                                 "leave it out");
        }
        const std::optional<std::string> path = a.string("file");
        if (!path) throw UsageError("--file PATH is required: the text to score");
        return run_server_perplexity_command(a, perplexity_options_from_args(a), read_text_file(*path), *path);
    }
    for (const char* name : {"served-model", "api-key", "concurrency"}) {
        if (a.has(name)) throw UsageError(std::string("--") + name + " goes with --url; give the server's --url too");
    }
    const EngineConfig config = engine_config_from_args(a);
    output_path(a, "kl-divergence-base", "the KL-divergence base",
                {a.string("model").value_or(""), a.string("file").value_or("")});
    Scoring s = read_scoring(a);
    const std::shared_ptr<const Model> model = load_model_from_args(a);
    cut_chunks(s, *model);
    const PerplexityOptions& popts = s.options;
    Engine engine(model, config);
    report_backend_note(engine);
    const bool json = a.has("json");
    const std::int32_t first = first_scored_entry(popts);
    const ModelConfig& mc = model->config();
    const std::string weights = model->requantized_to() ? model->requantized_name()
                                : mc.file_type.empty()  ? std::string(type_name(mc.weight_type))
                                                        : mc.file_type;
    std::fprintf(stderr,
                 "kvscope: perplexity of %s (%s weights) on %s: %zu tokens, %zu chunks of %d, scoring %d tokens of "
                 "each; %s, KV cache %s\n",
                 mc.name.c_str(), weights.c_str(), s.source.c_str(), s.text_tokens, s.chunks.size(), popts.context,
                 popts.context - 1 - first, engine.backend_name().c_str(),
                 std::string(type_name(config.cache_dtype)).c_str());

    // Rows: stored for a later comparison, or compared with the stored ones.
    const KlBaseLayout layout{model->shape().vocab_size, popts.context, first,
                              static_cast<std::int32_t>(s.chunks.size())};
    std::optional<KlBaseWriter> writer;
    if (const auto path = a.string("kl-divergence-base")) writer.emplace(*path, layout, s.chunks);
    KlAccumulator kl;
    std::vector<double> base_row, chunk_kld(s.chunks.size(), 0.0);
    PerplexityRowObserver on_row;
    if (writer) {
        on_row = [&](std::size_t chunk, std::int32_t entry, std::span<const float> logits) {
            writer->write(chunk, entry, logits);
        };
    } else if (s.base) {
        on_row = [&](std::size_t chunk, std::int32_t entry, std::span<const float> logits) {
            s.base->row(chunk, entry, base_row);
            chunk_kld[chunk] += kl.add(base_row, logits, s.chunks[chunk][static_cast<std::size_t>(entry) + 1]);
        };
    }

    const auto start = std::chrono::steady_clock::now();
    std::vector<PerplexityChunk> done;
    nlohmann::json chunk_json = nlohmann::json::array();
    const auto on_chunk = [&](const PerplexityChunk& c) {
        done.push_back(c);
        const PerplexityEstimate running = estimate_perplexity(done);
        const double kld = chunk_kld[static_cast<std::size_t>(c.index)] / c.num_scored;
        if (json) {
            nlohmann::json j = {{"index", c.index + 1},
                                {"nll_mean", c.nll_sum / c.num_scored},
                                {"ppl", std::exp(c.nll_sum / c.num_scored)},
                                {"running_ppl", running.ppl}};
            if (s.base) j["kld_mean"] = kld;
            chunk_json.push_back(std::move(j));
        } else if (s.base) {
            std::printf("[%d]%.4f (KLD %.6f),", c.index + 1, running.ppl, kld);
        } else {
            std::printf("[%d]%.4f,", c.index + 1, running.ppl);
        }
        if (!json) std::fflush(stdout);
    };
    const std::vector<PerplexityChunk> results = run_perplexity(engine, s.chunks, popts, on_chunk, on_row);
    if (writer) writer->commit();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const PerplexityEstimate e = estimate_perplexity(results);
    const double tokens_per_second = seconds > 0 ? static_cast<double>(s.chunks.size()) * popts.context / seconds : 0;
    if (json) {
        nlohmann::json out = perplexity_result_json(popts, s.text_tokens, s.chunks.size(), e, seconds);
        out.update({{"model", mc.name},
                    {"file", s.source},
                    {"weight_type", weights},
                    {"cache_dtype", type_name(config.cache_dtype)},
                    {"backend", engine.backend_name()},
                    {"chunks", chunk_json}});
        if (s.base) out["kl_divergence"] = kl_json(kl.stats());
        std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", e.ppl, e.ppl_error);
        if (s.base) print_kl(kl.stats());
        std::fflush(stdout);
        std::fprintf(stderr, "kvscope: %zu chunks (%lld tokens) in %.1f s, %.1f tokens/s\n", s.chunks.size(),
                     static_cast<long long>(s.chunks.size()) * popts.context, seconds, tokens_per_second);
    }
    if (writer) {
        std::fprintf(stderr, "kvscope: wrote the distributions of %lld positions to %s (%.1f MiB)\n",
                     static_cast<long long>(e.num_scored), a.string("kl-divergence-base")->c_str(),
                     static_cast<double>(layout.file_size()) / (1 << 20));
    }
    return 0;
}

}  // namespace kvscope::cli
