#pragma once
// Option groups that several kvscope-cli commands share: the model, sampling and the engine's
// cache and scheduler settings, with vLLM's flag names where vLLM has one.

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "engine/sampling_params.h"

namespace kvscope::cli {

void append_model_options(std::vector<OptionSpec>& options);
void append_sampling_options(std::vector<OptionSpec>& options);
void append_engine_options(std::vector<OptionSpec>& options);

// --model with --weight-type (re-quantisation at load, on --threads threads).
std::shared_ptr<const Model> load_model_from_args(const ParsedArgs& args);
// --weight-type: "as-stored" (the default), a re-quantisation target (f16, q8_0, q6_k, q5_k,
// q4_k, q4_0) or a mixture (q4_k_m, q5_k_m); any case. Throws UsageError naming the choices.
std::optional<WeightConversion> weight_type_from_args(const ParsedArgs& args);
// The help line of --weight-type, shared with the bench commands.
OptionSpec weight_type_option();
SamplingParams sampling_params_from_args(const ParsedArgs& args);
EngineConfig engine_config_from_args(const ParsedArgs& args);
// Prints the engine's backend note ("...; using the CPU backend") to stderr, once per process.
void report_backend_note(const Engine& engine);

// Overrides `params` with the sampling fields present in a JSON object (OpenAI/vLLM names: those
// of kSamplingJsonFields), read as the HTTP API reads them. Throws server::ApiError naming the
// field for a wrong type or a number out of its range.
void apply_sampling_json(const nlohmann::json& j, SamplingParams& params);
inline constexpr const char* kSamplingJsonFields[] = {
    "max_tokens",        "temperature",        "top_k",      "top_p",    "min_p",           "n",    "presence_penalty",
    "frequency_penalty", "repetition_penalty", "ignore_eos", "logprobs", "prompt_logprobs", "seed", "stop"};

// "1073741824", "512M", "512MiB", "2G", "1.5GB" -> bytes. Throws UsageError naming `option`.
std::int64_t parse_bytes(const std::string& text, const std::string& option);

}  // namespace kvscope::cli
