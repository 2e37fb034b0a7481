// kvscope-cli make-lora: synthetic LoRA adapters (random A and B) for a base model.

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/output_path.h"
#include "engine/gguf.h"
#include "engine/synthetic_lora.h"

namespace kvscope::cli {

int run_make_lora(const std::vector<std::string>& args) {
    const ArgParser parser("make-lora", "Write a GGUF LoRA adapter with random A and B for a base model.",
                           {{"base", "MODEL", "the base model's GGUF file (required)"},
                            {"out", "PATH", "where to write the adapter .gguf (required)"},
                            {"rank", "R", "rank of every pair (default 16)"},
                            {"alpha", "A", "adapter.lora.alpha; the delta's scale is alpha / rank (default 16)"},
                            {"targets", "LIST", "comma-separated projections: q,k,v,o,gate,up,down (default q,k,v,o)"},
                            {"seed", "S", "random seed (default 1)"}});
    if (ArgParser::wants_help(args)) {
        std::cout << parser.help();
        return 0;
    }
    const ParsedArgs a = parser.parse(args);
    const std::optional<std::string> base = a.string("base");
    if (!base) throw UsageError("--base MODEL is required");
    const std::optional<std::string> out = output_path(a, "out", "the adapter", {*base});
    if (!out) throw UsageError("--out PATH is required");
    SyntheticLoraSpec spec;
    spec.rank = static_cast<std::int32_t>(a.integer("rank", spec.rank, 1, 4096));
    spec.alpha = static_cast<float>(a.number("alpha", spec.alpha, 0.0, 1e6));
    if (spec.alpha == 0.0f) {  // adapter.lora.alpha = 0 is read as "not set": scale 1, not 0
        throw UsageError(
            "--alpha 0 would be read back as 'no alpha' (scale 1, as llama.cpp reads adapters); give a "
            "positive alpha (the scale is alpha / rank)");
    }
    spec.seed = static_cast<std::uint64_t>(a.integer("seed", 1, 0, INT64_MAX));
    if (auto list = a.string("targets")) {
        spec.targets.clear();
        std::size_t start = 0;
        while (start <= list->size()) {
            const std::size_t comma = std::min(list->find(',', start), list->size());
            const std::string name = list->substr(start, comma - start);
            try {
                spec.targets.push_back(parse_lora_target(name));
            } catch (const std::exception& e) {
                throw UsageError(std::string("--targets: ") + e.what());
            }
            if (std::count(spec.targets.begin(), spec.targets.end(), spec.targets.back()) > 1) {
                throw UsageError("--targets: '" + name + "' is named twice; name each target once");
            }
            start = comma + 1;
        }
    }
    const GgufFile file = GgufFile::open(*base);
    write_synthetic_lora(spec, file, *out);
    std::fprintf(stderr, "kvscope: wrote %s (rank %d, alpha %g, %zu targets per layer)\n", out->c_str(), spec.rank,
                 static_cast<double>(spec.alpha), spec.targets.size());
    return 0;
}

}  // namespace kvscope::cli
