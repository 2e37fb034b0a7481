// kvscope-cli make-model: synthetic GGUF models with random weights, for benchmarks at real sizes.

#include <cstdio>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/output_path.h"
#include "engine/synthetic_model.h"

namespace kvscope::cli {

int run_make_model(const std::vector<std::string>& args) {
    std::string presets;
    for (const std::string& n : synthetic_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
    const ArgParser parser(
        "make-model", "Write a GGUF model with random weights at a given shape and weight type.",
        {{"out", "PATH", "where to write the .gguf file (required)"},
         {"preset", "NAME", "start from a real model's shape: " + presets},
         {"arch", "NAME", "llama or qwen2 (default llama)"},
         {"layers", "N", "number of transformer blocks"},
         {"dim", "N", "embedding length"},
         {"ffn", "N", "feed-forward length"},
         {"heads", "N", "attention heads"},
         {"kv-heads", "N", "key/value heads (grouped-query attention)"},
         {"vocab", "N", "vocabulary size (at least 300)"},
         {"context", "N", "context length in the metadata"},
         {"type", "TYPE",
          "weight type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, or q4_k_m / q5_k_m "
          "(llama.cpp's mixtures: Q6_K output, attn_v and ffn_down in some layers)"},
         {"tied", "", "no output.weight: logits reuse the embedding"},
         {"tokenizer", "KIND", "llama (SentencePiece, default) or gpt2 (byte-level BPE with ChatML tokens)"},
         {"name", "TEXT", "general.name"},
         {"seed", "S", "random seed of the weights (default 1)"}});
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const std::optional<std::string> out = output_path(a, "out", "the GGUF file");
    if (!out) throw UsageError("--out PATH is required");
    SyntheticModelSpec spec = a.has("preset") ? synthetic_preset(*a.string("preset")) : SyntheticModelSpec{};
    constexpr std::int64_t kMax = 1 << 22;
    spec.architecture = a.string("arch").value_or(spec.architecture);
    spec.num_layers = static_cast<std::int32_t>(a.integer("layers", spec.num_layers, 1, 1024));
    spec.dim = static_cast<std::int32_t>(a.integer("dim", spec.dim, 1, kMax));
    spec.ffn_dim = static_cast<std::int32_t>(a.integer("ffn", spec.ffn_dim, 1, kMax));
    spec.num_heads = static_cast<std::int32_t>(a.integer("heads", spec.num_heads, 1, 4096));
    spec.num_kv_heads = static_cast<std::int32_t>(a.integer("kv-heads", spec.num_kv_heads, 1, 4096));
    spec.vocab_size = static_cast<std::int32_t>(a.integer("vocab", spec.vocab_size, 1, kMax));
    spec.context_length = static_cast<std::int32_t>(a.integer("context", spec.context_length, 1, 1 << 24));
    spec.tied_embeddings = spec.tied_embeddings || a.has("tied");
    spec.name = a.string("name").value_or(spec.name);
    spec.tokenizer = a.string("tokenizer").value_or(spec.tokenizer);
    spec.seed = static_cast<std::uint64_t>(a.integer("seed", 1, 0, INT64_MAX));
    if (auto type = a.string("type"); type && !parse_synthetic_weight_type(*type, spec)) {
        throw UsageError("--type: unknown weight type '" + *type +
                         "'; use a tensor type (q4_0, q4_k, ...) or q4_k_m, q5_k_m");
    }
    write_synthetic_model(spec, *out);
    const std::string type = std::string(type_name(spec.weight_type)) + (spec.k_quant_medium ? "_M mixture" : "");
    std::fprintf(stderr, "kvscope: wrote %s (%s, %d layers, dim %d, %s)\n", out->c_str(), spec.architecture.c_str(),
                 spec.num_layers, spec.dim, type.c_str());
    return 0;
}

}  // namespace kvscope::cli
