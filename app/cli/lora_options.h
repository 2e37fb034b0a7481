#pragma once
// The --lora NAME=PATH option of generate and serve: LoRA adapters loaded for the model and
// registered with the engine under their names.

#include <string>
#include <utility>
#include <vector>

#include "app/cli/args.h"
#include "engine/engine.h"

namespace kvscope::cli {

void append_lora_options(std::vector<OptionSpec>& options);

// "NAME=PATH" -> (NAME, PATH); UsageError naming --lora otherwise.
std::pair<std::string, std::string> parse_lora_spec(const std::string& spec);

// Loads every --lora adapter for `model`, in order. Throws UsageError for a malformed option,
// kvscope::Error for a file that does not fit the model.
std::vector<std::pair<std::string, std::shared_ptr<const LoraAdapter>>> load_loras_from_args(const ParsedArgs& args,
                                                                                             const Model& model);
// The same, added to the engine.
void add_loras_from_args(const ParsedArgs& args, Engine& engine);

}  // namespace kvscope::cli
