#include "app/cli/lora_options.h"

#include <cstdio>

#include "engine/lora_adapter.h"

namespace kvscope::cli {

void append_lora_options(std::vector<OptionSpec>& options) {
    options.push_back({"lora", "NAME=PATH", "load a LoRA adapter (GGUF) that requests pick by NAME", true});
}

std::pair<std::string, std::string> parse_lora_spec(const std::string& spec) {
    const std::size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
        throw UsageError("--lora: expected NAME=PATH (e.g. --lora sql=adapters/sql.gguf), got '" + spec + "'");
    }
    return {spec.substr(0, eq), spec.substr(eq + 1)};
}

std::vector<std::pair<std::string, std::shared_ptr<const LoraAdapter>>> load_loras_from_args(const ParsedArgs& args,
                                                                                             const Model& model) {
    std::vector<std::pair<std::string, std::shared_ptr<const LoraAdapter>>> loras;
    for (const std::string& spec : args.strings("lora")) {
        const auto [name, path] = parse_lora_spec(spec);
        std::shared_ptr<const LoraAdapter> adapter = LoraAdapter::load(path, model);
        std::fprintf(stderr, "kvscope: LoRA '%s' from %s (rank %d, alpha %g, %d pairs)\n", name.c_str(), path.c_str(),
                     adapter->rank(), static_cast<double>(adapter->alpha()), adapter->num_pairs());
        loras.emplace_back(name, std::move(adapter));
    }
    return loras;
}

void add_loras_from_args(const ParsedArgs& args, Engine& engine) {
    for (auto& [name, adapter] : load_loras_from_args(args, engine.model())) engine.add_lora(name, std::move(adapter));
}

}  // namespace kvscope::cli
