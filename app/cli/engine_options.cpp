#include "app/cli/engine_options.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "app/server/json_fields.h"
#include "resources/embedded_model.h"

namespace kvscope::cli {
namespace {

std::string lowercase(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

}  // namespace

void append_model_options(std::vector<OptionSpec>& options) {
    options.push_back({"model", "PATH", "GGUF model file (default: the embedded stories260K)"});
    options.push_back(weight_type_option());
}

OptionSpec weight_type_option() {
    std::string types;
    for (TensorType t : requantization_targets()) types += ", " + lowercase(std::string(type_name(t)));
    return {"weight-type", "TYPE",
            "re-quantise every 2-D weight at load: as-stored (default)" + types +
                ", or q4_k_m / q5_k_m (llama.cpp's mixtures: Q6_K output, attn_v and ffn_down in some layers); rows "
                "that do not fit the type's blocks stay as stored"};
}

std::optional<WeightConversion> weight_type_from_args(const ParsedArgs& args) {
    const std::optional<std::string> text = args.string("weight-type");
    if (!text || *text == "as-stored") return std::nullopt;
    const std::optional<WeightConversion> c = parse_weight_conversion(*text);
    if (!c) {
        throw UsageError("--weight-type: expected as-stored, one of " + requantization_target_list() +
                         ", or the mixture Q4_K_M or Q5_K_M, got '" + *text + "'");
    }
    return c;
}

void append_sampling_options(std::vector<OptionSpec>& options) {
    const std::vector<OptionSpec> sampling = {
        {"max-tokens", "N", "most tokens to generate per sample (default 64)"},
        {"temperature", "T", "sampling temperature; 0 = greedy (default 1.0)"},
        {"top-k", "K", "keep the K most likely tokens; 0 = off (default)"},
        {"top-p", "P", "keep the smallest set of tokens reaching probability P (default 1.0 = off)"},
        {"min-p", "P", "drop tokens below P x the most likely one's probability (default 0 = off)"},
        {"seed", "S", "random seed: the same seed gives the same output"},
        {"n", "N", "samples per prompt, sharing the prompt's KV blocks (default 1)"},
        {"repetition-penalty", "R", "penalise tokens of prompt and output (default 1.0 = off)"},
        {"presence-penalty", "P", "penalise tokens already generated (default 0)"},
        {"frequency-penalty", "P", "penalise tokens by how often they were generated (default 0)"},
        {"stop", "TEXT", "stop when the output contains TEXT", true},
        {"ignore-eos", "", "keep generating past the end-of-sequence token"},
        {"logprobs", "N", "report the chosen token's logprob and N alternatives (--json)"},
        {"prompt-logprobs", "N", "report each prompt token's logprob (after the first) and N alternatives (--json)"},
    };
    options.insert(options.end(), sampling.begin(), sampling.end());
}

void append_engine_options(std::vector<OptionSpec>& options) {
    const std::vector<OptionSpec> engine = {
        {"block-size", "N", "tokens per KV block: 8, 16 or 32 (default 16)"},
        {"kv-cache-bytes", "BYTES", "KV cache memory budget, e.g. 256M or 2G (default 256M)"},
        {"kv-cache-blocks", "N", "exact number of KV blocks (overrides --kv-cache-bytes)"},
        {"cache-dtype", "TYPE", "KV cache element type: f32, f16 or q8_0 (default f32)"},
        {"max-num-seqs", "N", "most sequences running at once (default 64)"},
        {"max-num-batched-tokens", "N", "most tokens per engine step (default 2048)"},
        {"max-model-len", "N", "most tokens per sequence, prompt + output (default: the model's context)"},
        {"enable-prefix-caching", "", "reuse KV blocks of shared prompt prefixes (default)"},
        {"no-enable-prefix-caching", "", "turn prefix caching off"},
        {"enable-chunked-prefill", "", "split long prompts over several steps (default)"},
        {"no-enable-chunked-prefill", "", "compute each prompt in one step"},
        {"preemption-mode", "MODE", "when KV blocks run out: recompute (default) or swap (to host memory)"},
        {"swap-space", "SIZE", "host memory for swapped-out KV blocks, GiB or e.g. 512M (default 1)"},
        {"threads", "N", "CPU threads (default: all cores)"},
        {"backend", "KIND", "auto (CUDA when a GPU exists, default), cpu or cuda"},
        {"gpu-memory-utilization", "F",
         "CUDA: fraction of the GPU memory free after the weights for the KV cache (default 0.9 unless "
         "--kv-cache-bytes/--kv-cache-blocks is given)"},
    };
    options.insert(options.end(), engine.begin(), engine.end());
}

std::shared_ptr<const Model> load_model_from_args(const ParsedArgs& args) {
    ModelLoadOptions options;
    if (const auto conversion = weight_type_from_args(args)) {
        options.weight_type = conversion->base;
        options.k_quant_medium = conversion->k_quant_medium;
    }
    options.threads = static_cast<int>(args.integer("threads", 0, 1, 1024));
    const auto start = std::chrono::steady_clock::now();
    auto model = Model::load(args.string("model").value_or(std::string(kEmbeddedModelName)), options);
    if (model->requantized_to() && model->num_requantized_weights() == 0) {
        const TensorType t = *model->requantized_to();
        std::fprintf(stderr,
                     "kvscope: --weight-type %s: no weight's rows are a multiple of its %d-element blocks; the "
                     "weights stay as stored\n",
                     model->requantized_name().c_str(), static_cast<int>(type_info(t).block_elems));
    } else if (model->requantized_to()) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr,
                     "kvscope: re-quantised %d weights to %s at load in %.1f s (weights %.1f MiB -> %.1f MiB)\n",
                     model->num_requantized_weights(), model->requantized_name().c_str(), seconds,
                     static_cast<double>(model->config().weight_bytes) / (1 << 20),
                     static_cast<double>(model->loaded_weight_bytes()) / (1 << 20));
    }
    return model;
}

SamplingParams sampling_params_from_args(const ParsedArgs& a) {
    SamplingParams p;
    p.max_tokens = static_cast<std::int32_t>(a.integer("max-tokens", 64, 1, 1 << 24));
    p.temperature = a.number("temperature", 1.0, 0.0, 1e6);
    p.top_k = static_cast<std::int32_t>(a.integer("top-k", 0, -1, 1 << 24));
    p.top_p = a.number("top-p", 1.0, 1e-9, 1.0);
    p.min_p = a.number("min-p", 0.0, 0.0, 1.0);
    if (auto seed = a.optional_integer("seed", 0, INT64_MAX)) p.seed = static_cast<std::uint64_t>(*seed);
    p.n = static_cast<std::int32_t>(a.integer("n", 1, 1, kMaxSamplesPerRequest));
    p.repetition_penalty = a.number("repetition-penalty", 1.0, 1e-6, 1e6);
    p.presence_penalty = a.number("presence-penalty", 0.0, -2.0, 2.0);
    p.frequency_penalty = a.number("frequency-penalty", 0.0, -2.0, 2.0);
    p.stop = a.strings("stop");
    p.ignore_eos = a.has("ignore-eos");
    if (auto n = a.optional_integer("logprobs", 0, kMaxLogprobs)) p.logprobs = static_cast<std::int32_t>(*n);
    if (auto n = a.optional_integer("prompt-logprobs", 0, kMaxLogprobs)) {
        p.prompt_logprobs = static_cast<std::int32_t>(*n);
    }
    return p;
}

EngineConfig engine_config_from_args(const ParsedArgs& a) {
    EngineConfig c;
    c.block_size = static_cast<std::int32_t>(a.integer("block-size", c.block_size, 1, 1 << 16));
    if (auto bytes = a.string("kv-cache-bytes")) c.kv_cache_bytes = parse_bytes(*bytes, "kv-cache-bytes");
    if (auto blocks = a.optional_integer("kv-cache-blocks", 1, 1 << 24)) {
        c.num_kv_blocks = static_cast<std::int32_t>(*blocks);
    }
    if (auto dtype = a.string("cache-dtype")) {
        const std::optional<TensorType> t = parse_tensor_type(*dtype);
        if (!t || (*t != TensorType::F32 && *t != TensorType::F16 && *t != TensorType::Q8_0)) {
            throw UsageError("--cache-dtype: expected f32, f16 or q8_0, got '" + *dtype + "'");
        }
        c.cache_dtype = *t;
    }
    c.max_num_seqs = static_cast<std::int32_t>(a.integer("max-num-seqs", c.max_num_seqs, 1, 1 << 20));
    c.max_num_batched_tokens =
        static_cast<std::int32_t>(a.integer("max-num-batched-tokens", c.max_num_batched_tokens, 1, 1 << 24));
    c.max_model_len = static_cast<std::int32_t>(a.integer("max-model-len", 0, 1, 1 << 24));
    c.enable_prefix_caching = a.toggle("enable-prefix-caching", c.enable_prefix_caching);
    c.enable_chunked_prefill = a.toggle("enable-chunked-prefill", c.enable_chunked_prefill);
    c.num_threads = static_cast<int>(a.integer("threads", 0, 1, 1024));
    if (auto mode = a.string("preemption-mode")) {
        if (*mode != "recompute" && *mode != "swap") {
            throw UsageError("--preemption-mode: expected recompute or swap, got '" + *mode + "'");
        }
        c.preemption_mode = *mode == "swap" ? PreemptionMode::Swap : PreemptionMode::Recompute;
    }
    if (auto swap = a.string("swap-space")) {
        // vLLM's --swap-space counts GiB; a unit (512M, 2G) may be given too.
        const bool bare = swap->find_first_not_of("0123456789.") == std::string::npos;
        try {
            c.swap_space_bytes = parse_bytes(bare ? *swap + "G" : *swap, "swap-space");
        } catch (const UsageError&) {  // named as typed, not with the unit added above
            throw UsageError("--swap-space: expected GiB such as 4, or a size such as 512M or 2G, got '" + *swap + "'");
        }
    }
    const std::string backend = a.string("backend").value_or("auto");
    const std::optional<BackendKind> kind = parse_backend_kind(backend);
    if (!kind) throw UsageError("--backend: expected auto, cpu or cuda, got '" + backend + "'");
    c.backend = *kind;
    const bool sized = a.has("kv-cache-bytes") || a.has("kv-cache-blocks");
    c.gpu_memory_utilization = a.number("gpu-memory-utilization", sized ? 0.0 : 0.9, 0.0, 0.99);
    return c;
}

void report_backend_note(const Engine& engine) {
    static bool reported = false;
    if (reported || engine.backend_note().empty()) return;
    reported = true;
    std::fprintf(stderr, "%s\n", engine.backend_note().c_str());
}

void apply_sampling_json(const nlohmann::json& j, SamplingParams& p) {
    // The HTTP API's reader: a wrong type, a fraction or a number past the field's range is an
    // error naming the field, never a silently wrapped or truncated value.
    constexpr std::int64_t kMax32 = std::numeric_limits<std::int32_t>::max();
    const server::JsonFields f(j);
    if (auto v = f.integer("max_tokens", 1, kMax32)) p.max_tokens = static_cast<std::int32_t>(*v);
    if (auto v = f.number("temperature", -1e300, 1e300)) p.temperature = *v;
    if (auto v = f.integer("top_k", -1, kMax32)) p.top_k = static_cast<std::int32_t>(*v);
    if (auto v = f.number("top_p", -1e300, 1e300)) p.top_p = *v;
    if (auto v = f.number("min_p", -1e300, 1e300)) p.min_p = *v;
    if (auto v = f.integer("n", 1, kMax32)) p.n = static_cast<std::int32_t>(*v);
    if (auto v = f.number("presence_penalty", -1e300, 1e300)) p.presence_penalty = *v;
    if (auto v = f.number("frequency_penalty", -1e300, 1e300)) p.frequency_penalty = *v;
    if (auto v = f.number("repetition_penalty", -1e300, 1e300)) p.repetition_penalty = *v;
    if (auto v = f.boolean("ignore_eos")) p.ignore_eos = *v;
    if (auto v = f.integer("logprobs", 0, kMax32)) p.logprobs = static_cast<std::int32_t>(*v);
    if (auto v = f.integer("prompt_logprobs", 0, kMax32)) p.prompt_logprobs = static_cast<std::int32_t>(*v);
    if (const nlohmann::json* seed = f.find("seed")) {
        // As the HTTP API (vLLM): -1 is "no seed"; other negative seeds are their two's complement.
        if (seed->is_number_unsigned()) {
            p.seed = seed->get<std::uint64_t>();
        } else if (const auto s = f.integer("seed", std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::max());
                   s && *s != -1) {
            p.seed = static_cast<std::uint64_t>(*s);
        } else {
            p.seed.reset();
        }
    }
    if (auto stop = f.strings("stop", 64)) p.stop = std::move(*stop);
}

std::int64_t parse_bytes(const std::string& text, const std::string& option) {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    std::string unit = text.substr(used);
    for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    double scale = 0;
    if (unit.empty() || unit == "B")
        scale = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB")
        scale = 1024.0;
    else if (unit == "M" || unit == "MB" || unit == "MIB")
        scale = 1024.0 * 1024;
    else if (unit == "G" || unit == "GB" || unit == "GIB")
        scale = 1024.0 * 1024 * 1024;
    if (used == 0 || scale == 0 || !(value > 0) || value * scale > 9e18) {
        throw UsageError("--" + option + ": expected a size such as 268435456, 256M or 2G, got '" + text + "'");
    }
    return static_cast<std::int64_t>(std::llround(value * scale));
}

}  // namespace kvscope::cli
