// kvscope-cli quantize: write a GGUF file again with its weights re-quantised (llama-quantize for
// a plain type), so a model converted once loads without --weight-type.

#include <chrono>
#include <cstdio>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/output_path.h"
#include "engine/gguf.h"
#include "engine/quantize_file.h"
#include "engine/requantization.h"

namespace kvscope::cli {

int run_quantize(const std::vector<std::string>& args) {
    const ArgParser parser(
        "quantize", "Write a GGUF model again with every 2-D weight re-quantised to one type.",
        {{"model", "PATH", "the GGUF file to read (required)"},
         {"out", "PATH", "where to write the new file (required; not the input)"},
         {"type", "TYPE",
          "f16, q8_0, q6_k, q5_k, q4_k or q4_0, or q4_k_m / q5_k_m (llama.cpp's mixtures: Q6_K output, attn_v and "
          "ffn_down in some layers) (required); rows that do not fit the blocks stay as they are"},
         {"threads", "N", "threads that quantise (default: all cores)"}});
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const std::optional<std::string> in = a.string("model"), out = a.string("out"), type = a.string("type");
    if (!in) throw UsageError("--model PATH is required");
    if (!out) throw UsageError("--out PATH is required");
    if (!type) {
        throw UsageError("--type TYPE is required: " + requantization_target_list() +
                         ", or the mixture Q4_K_M or Q5_K_M");
    }
    // a plain type, or Q4_K_M / Q5_K_M: the mixture over Q4_K / Q5_K
    const std::optional<WeightConversion> conversion = parse_weight_conversion(*type);
    if (!conversion) {
        throw UsageError("--type: expected " + requantization_target_list() +
                         ", or the mixture Q4_K_M or Q5_K_M, got '" + *type + "'");
    }
    output_path(a, "out", "the GGUF file", {*in});
    const int threads = static_cast<int>(a.integer("threads", 0, 1, 1024));
    const GgufFile file = GgufFile::open(*in);
    const auto start = std::chrono::steady_clock::now();
    const QuantizeFileResult r = quantize_file(file, conversion->base, *out, threads, conversion->k_quant_medium);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr,
                 "kvscope: wrote %s: %d of %d tensors re-quantised to %s in %.1f s (tensor data %.1f MiB -> %.1f "
                 "MiB)\n",
                 out->c_str(), r.num_converted, r.num_tensors,
                 (conversion->name() + (conversion->k_quant_medium ? " mixture" : "")).c_str(), seconds,
                 static_cast<double>(r.bytes_in) / (1 << 20), static_cast<double>(r.bytes_out) / (1 << 20));
    return 0;
}

}  // namespace kvscope::cli
