#pragma once
// What the `kvscope-cli bench ...` subcommands share: their common options, building an engine
// on the CPU backend for a measurement, random prompts, statistics, the model's description, and
// the readable table every subcommand prints (JSON with --json).

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/model.h"

namespace kvscope::cli::bench {

struct Stats {
    double mean = 0, stddev = 0, min = 0, max = 0;  // stddev: sample standard deviation (n - 1)
};
Stats stats(const std::vector<double>& values);
nlohmann::json stats_json(const Stats& s);

// The parser of a bench subcommand: its own options, then --model, --weight-type, --threads,
// --json, --json-file, --no-repack, --block-size, --cache-dtype (the options every bench takes).
ArgParser parser(const std::string& command, const std::string& summary, std::vector<OptionSpec> options);

struct CommonOptions {
    std::string model_path;    // as given (or the embedded model's name)
    std::optional<WeightConversion> weight_type;  // --weight-type: re-quantised at load (nullopt: as stored)
    std::vector<int> threads;  // --threads 1,2 -> {1, 2}; default {hardware threads}
    bool json = false;
    std::string json_file;  // --json-file: the JSON also goes there (the table to stdout)
    bool pack_weights = true;
    std::int32_t block_size = 16;
    TensorType cache_dtype = TensorType::F32;
};
CommonOptions common_options(const ParsedArgs& args);

// The model of --model, re-quantised as --weight-type asks (on the most threads of --threads).
std::shared_ptr<const Model> load_model(const CommonOptions& common);
// ConfigError unless a sequence of `tokens` tokens fits the model's context.
void check_fits_context(const Model& model, std::int64_t tokens);

// "1,2,4" -> {1, 2, 4}; each in [min, max]. Throws UsageError naming the option.
std::vector<std::int64_t> integer_list(const ParsedArgs& args, const std::string& name, const std::string& fallback,
                                       std::int64_t min, std::int64_t max);

// An engine on the CPU backend with `threads` threads and weights packed or not.
std::unique_ptr<Engine> make_engine(std::shared_ptr<const Model> model, const EngineConfig& config, bool pack_weights);

// KV blocks for num_seqs sequences of up to `tokens` tokens each (plus one spare block).
std::int32_t blocks_for(std::int64_t num_seqs, std::int64_t tokens, std::int32_t block_size);

// `len` prompt ids: the model's BOS when it adds one, then ids drawn uniformly from the
// vocabulary past the first 3 (the special tokens of SentencePiece vocabularies). Deterministic.
std::vector<std::int32_t> random_prompt(const Model& model, std::int32_t len, std::uint64_t seed);

// Greedy, ignore_eos, exactly max_tokens tokens.
SamplingParams fixed_length_params(std::int32_t max_tokens);

// Runs the engine until it has no work; returns the seconds it took.
double run_to_completion(Engine& engine);

// The model as every bench reports it: name, file, weight type, parameters, bytes.
nlohmann::json model_json(const Model& model, const std::string& path);
// "590.4 MiB"
std::string format_bytes(double bytes);
// printf("%.*f")
std::string format_number(double value, int precision);

// A table in the Markdown style llama-bench prints: right-aligned columns, a header rule.
class Table {
public:
    explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::string render() const;

private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

// Prints `j` (--json) or the table, to stdout; writes `j` to --json-file when given.
void print_result(const CommonOptions& options, const nlohmann::json& j, const Table& table);

}  // namespace kvscope::cli::bench
