#include "app/cli/lab_options.h"

#include "engine/config.h"

namespace kvscope::cli {

std::int64_t kv_bytes_per_token(const Model& model, const ParsedArgs& args) {
    EngineConfig config;
    config.num_kv_blocks = 1;
    if (auto dtype = args.string("cache-dtype")) {
        const std::optional<TensorType> t = parse_tensor_type(*dtype);
        if (!t || (*t != TensorType::F32 && *t != TensorType::F16 && *t != TensorType::Q8_0)) {
            throw UsageError("--cache-dtype: expected f32, f16 or q8_0, got '" + *dtype + "'");
        }
        config.cache_dtype = *t;
    }
    const CachePlan plan = plan_cache(config, model.shape());
    return static_cast<std::int64_t>(plan.block_bytes) / config.block_size;
}

TraceHeader trace_header_of(const Engine& engine, const std::string& source) {
    TraceHeader header;
    header.source = source;
    header.model = engine.model().config().name;
    header.max_model_len = engine.cache_plan().max_model_len;
    header.kv_bytes_per_token = static_cast<std::int64_t>(engine.cache_plan().block_bytes) / engine.config().block_size;
    header.kv_cache_tokens = std::int64_t{engine.cache_plan().num_blocks} * engine.config().block_size;
    return header;
}

}  // namespace kvscope::cli
