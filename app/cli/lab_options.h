#pragma once
// Helpers of the memory-lab commands (lab, make-trace, generate --trace-out).

#include <cstdint>

#include "app/cli/args.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "engine/trace.h"

namespace kvscope::cli {

// K and V bytes of one token, all layers, in the --cache-dtype given (default f32, the
// engine's). Throws UsageError for a bad dtype, ConfigError for one the model cannot use.
std::int64_t kv_bytes_per_token(const Model& model, const ParsedArgs& args);

// The header of a trace recorded from `engine`: its model, context, KV budget and bytes per token.
TraceHeader trace_header_of(const Engine& engine, const std::string& source);

}  // namespace kvscope::cli
