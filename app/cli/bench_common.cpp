#include "app/cli/bench_common.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/cli/engine_options.h"
#include "app/cli/output_path.h"
#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "kernels/backend.h"
#include "resources/embedded_model.h"

namespace kvscope::cli::bench {

Stats stats(const std::vector<double>& v) {
    Stats s;
    if (v.empty()) return s;
    double sum = 0;
    for (double x : v) sum += x;
    s.mean = sum / static_cast<double>(v.size());
    double sq = 0;
    for (double x : v) sq += (x - s.mean) * (x - s.mean);
    s.stddev = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
    s.min = *std::min_element(v.begin(), v.end());
    s.max = *std::max_element(v.begin(), v.end());
    return s;
}

nlohmann::json stats_json(const Stats& s) {
    return {{"mean", s.mean}, {"stddev", s.stddev}, {"min", s.min}, {"max", s.max}};
}

ArgParser parser(const std::string& command, const std::string& summary, std::vector<OptionSpec> options) {
    const std::vector<OptionSpec> common = {
        {"model", "PATH", "GGUF model file (default: the embedded stories260K)"},
        weight_type_option(),
        {"threads", "N[,N...]", "CPU threads; a list runs each (default: all cores)"},
        {"json", "", "print one JSON object instead of the table"},
        {"json-file", "PATH", "also write the JSON object to PATH"},
        {"no-repack", "",
         "read every weight as stored, in place in the mapped file, instead of packed (Q4_0/Q8_0/Q4_K/Q5_K) or copied "
         "into memory of its own (to measure what that buys)"},
        {"block-size", "N", "tokens per KV block: 8, 16 or 32 (default 16)"},
        {"cache-dtype", "TYPE", "KV cache element type: f32, f16 or q8_0 (default f32)"},
    };
    options.insert(options.end(), common.begin(), common.end());
    return ArgParser(command, summary, std::move(options));
}

std::vector<std::int64_t> integer_list(const ParsedArgs& args, const std::string& name, const std::string& fallback,
                                       std::int64_t min, std::int64_t max) {
    const std::string text = args.string(name).value_or(fallback);
    std::vector<std::int64_t> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        std::size_t used = 0;
        std::int64_t v = 0;
        try {
            v = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != item.size() || v < min || v > max) {
            throw UsageError("--" + name + ": expected integers from " + std::to_string(min) + " to " +
                             std::to_string(max) + " separated by commas, got '" + text + "'");
        }
        out.push_back(v);
    }
    if (out.empty()) throw UsageError("--" + name + ": expected at least one value");
    return out;
}

void check_fits_context(const Model& model, std::int64_t tokens) {
    const std::int32_t context = model.shape().max_context;
    if (context > 0 && tokens > context) {
        throw ConfigError("a test needs " + std::to_string(tokens) + " tokens, more than the model's context of " +
                          std::to_string(context) + "; use shorter tests");
    }
}

CommonOptions common_options(const ParsedArgs& a) {
    CommonOptions o;
    o.model_path = a.string("model").value_or(std::string(kEmbeddedModelName));
    o.weight_type = weight_type_from_args(a);
    const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    for (std::int64_t t : integer_list(a, "threads", std::to_string(hardware), 1, 1024)) {
        o.threads.push_back(static_cast<int>(t));
    }
    o.json = a.has("json");
    o.json_file = output_path(a, "json-file", "the JSON result", {o.model_path}).value_or("");
    o.pack_weights = !a.has("no-repack");
    o.block_size = static_cast<std::int32_t>(a.integer("block-size", 16, 1, 1 << 16));
    if (auto dtype = a.string("cache-dtype")) {
        const std::optional<TensorType> t = parse_tensor_type(*dtype);
        if (!t || (*t != TensorType::F32 && *t != TensorType::F16 && *t != TensorType::Q8_0)) {
            throw UsageError("--cache-dtype: expected f32, f16 or q8_0, got '" + *dtype + "'");
        }
        o.cache_dtype = *t;
    }
    return o;
}

std::shared_ptr<const Model> load_model(const CommonOptions& common) {
    ModelLoadOptions options;
    if (common.weight_type) {
        options.weight_type = common.weight_type->base;
        options.k_quant_medium = common.weight_type->k_quant_medium;
    }
    options.threads = *std::max_element(common.threads.begin(), common.threads.end());
    return Model::load(common.model_path, options);
}

std::unique_ptr<Engine> make_engine(std::shared_ptr<const Model> model, const EngineConfig& config, bool pack_weights) {
    config.check();
    const CachePlan plan = plan_cache(config, model->shape());
    auto backend = make_cpu_backend(model->shape(), model->weights(),
                                    KvCacheSpec{plan.num_blocks, config.block_size, config.cache_dtype},
                                    CpuBackendOptions{config.num_threads, pack_weights});
    return std::make_unique<Engine>(std::move(model), config, std::move(backend));
}

std::int32_t blocks_for(std::int64_t num_seqs, std::int64_t tokens, std::int32_t block_size) {
    return static_cast<std::int32_t>(num_seqs * ((tokens + block_size - 1) / block_size) + 1);
}

std::vector<std::int32_t> random_prompt(const Model& model, std::int32_t len, std::uint64_t seed) {
    const std::int32_t vocab = model.shape().vocab_size;
    const std::int32_t first = std::min(3, vocab - 1);
    SequenceRandom random(seed, 0);
    std::vector<std::int32_t> ids;
    const Tokenizer& tok = model.tokenizer();
    if (tok.add_bos() && tok.bos_id() >= 0 && len > 0) ids.push_back(tok.bos_id());
    while (static_cast<std::int32_t>(ids.size()) < len) {
        ids.push_back(first + static_cast<std::int32_t>(random.uniform01() * (vocab - first)) % (vocab - first));
    }
    return ids;
}

SamplingParams fixed_length_params(std::int32_t max_tokens) {
    SamplingParams p;
    p.max_tokens = max_tokens;
    p.temperature = 0;
    p.ignore_eos = true;
    return p;
}

double run_to_completion(Engine& engine) {
    const auto start = std::chrono::steady_clock::now();
    while (engine.has_work()) engine.step();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

nlohmann::json model_json(const Model& model, const std::string& path) {
    const ModelConfig& c = model.config();
    return {
        {"path", path},
        {"name", c.name},
        {"architecture", c.architecture_name},
        {"weight_type", std::string(type_name(c.weight_type))},
        {"requantized_to", model.requantized_to() ? nlohmann::json(model.requantized_name()) : nlohmann::json(nullptr)},
        {"params", c.num_params},
        {"weight_bytes", c.weight_bytes},
        {"loaded_weight_bytes", model.loaded_weight_bytes()},
        {"layers", c.shape.num_layers},
        {"dim", c.shape.dim}};
}

std::string format_bytes(double bytes) {
    char buf[32];
    if (bytes >= 1024.0 * 1024 * 1024)
        std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else
        std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / (1024.0 * 1024));
    return buf;
}

std::string format_number(double value, int precision) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*f", precision, value);
    return buf;
}

std::string Table::render() const {
    std::vector<std::size_t> width(header_.size(), 0);
    for (std::size_t c = 0; c < header_.size(); ++c) width[c] = std::max<std::size_t>(header_[c].size(), 3);
    for (const auto& row : rows_) {
        for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& cells) {
        out += "|";
        for (std::size_t c = 0; c < width.size(); ++c) {
            const std::string cell = c < cells.size() ? cells[c] : "";
            out += ' ';
            out.append(width[c] > cell.size() ? width[c] - cell.size() : 0, ' ');  // right-aligned
            out += cell;
            out += " |";
        }
        out += "\n";
    };
    line(header_);
    out += "|";
    for (std::size_t w : width) {
        out += ' ';
        out.append(w > 0 ? w - 1 : 0, '-');
        out += ": |";
    }
    out += "\n";
    for (const auto& row : rows_) line(row);
    return out;
}

void print_result(const CommonOptions& options, const nlohmann::json& j, const Table& table) {
    const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (options.json)
        std::cout << text;
    else
        std::cout << table.render();
    std::cout.flush();
    if (!options.json_file.empty()) write_file_atomically(options.json_file, text, "the JSON result");
}

}  // namespace kvscope::cli::bench
