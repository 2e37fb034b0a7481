#include "engine/config.h"

#include <algorithm>

#include "engine/error.h"
#include "kernels/backend.h"
#include "kernels/paged_kv.h"

namespace kvscope {

std::vector<std::string> EngineConfig::validate() const {
    std::vector<std::string> problems;
    if (block_size != 8 && block_size != 16 && block_size != 32) {
        problems.push_back("block size " + std::to_string(block_size) + " is not supported; use 8, 16 or 32");
    }
    if (!num_kv_blocks && kv_cache_bytes <= 0) {
        problems.push_back("KV cache budget of " + std::to_string(kv_cache_bytes) + " bytes; give a positive size");
    }
    if (num_kv_blocks && *num_kv_blocks < 1) {
        problems.push_back("KV cache of " + std::to_string(*num_kv_blocks) + " blocks; give at least 1 block");
    }
    if (cache_dtype != TensorType::F32 && cache_dtype != TensorType::F16 && cache_dtype != TensorType::Q8_0) {
        problems.push_back("cache dtype " + std::string(type_name(cache_dtype)) +
                           " is not supported; use f32, f16 or q8_0");
    }
    if (max_num_seqs < 1) {
        problems.push_back("max_num_seqs " + std::to_string(max_num_seqs) + "; give at least 1");
    }
    if (max_num_batched_tokens < 1) {
        problems.push_back("max_num_batched_tokens " + std::to_string(max_num_batched_tokens) + "; give at least 1");
    }
    if (max_model_len < 0) {
        problems.push_back("max_model_len " + std::to_string(max_model_len) + "; give 0 (the model's) or a length");
    }
    if (preemption_mode == PreemptionMode::Swap && swap_space_bytes <= 0) {
        problems.push_back("swap space of " + std::to_string(swap_space_bytes) +
                           " bytes; give a positive size for preemption by swap");
    }
    if (!(gpu_memory_utilization >= 0.0 && gpu_memory_utilization < 1.0)) {
        problems.push_back("gpu_memory_utilization " + std::to_string(gpu_memory_utilization) +
                           "; give a fraction in [0, 1), or 0 to use the KV cache byte budget");
    }
    if (num_threads < 0) {
        problems.push_back("num_threads " + std::to_string(num_threads) + "; give 0 (all) or a count");
    }
    return problems;
}

void EngineConfig::check() const {
    const std::vector<std::string> problems = validate();
    if (problems.empty()) return;
    std::string joined;
    for (const std::string& p : problems) joined += (joined.empty() ? "" : "; ") + p;
    throw ConfigError(joined);
}

CachePlan plan_cache(const EngineConfig& config, const ModelShape& shape) {
    config.check();
    CachePlan plan;
    if (const std::string problem = kv_cache_layout_error(config.cache_dtype, shape.num_kv_heads, shape.head_dim);
        !problem.empty()) {
        throw ConfigError(problem);
    }
    plan.block_bytes = kv_block_bytes(shape, KvCacheSpec{1, config.block_size, config.cache_dtype});
    if (config.num_kv_blocks) {
        plan.num_blocks = *config.num_kv_blocks;
    } else {
        const std::int64_t blocks = config.kv_cache_bytes / static_cast<std::int64_t>(plan.block_bytes);
        if (blocks < 1) {
            throw ConfigError("a KV cache budget of " + std::to_string(config.kv_cache_bytes) +
                              " bytes holds no block of " + std::to_string(plan.block_bytes) +
                              " bytes for this model; raise the budget");
        }
        plan.num_blocks = static_cast<std::int32_t>(std::min<std::int64_t>(blocks, 1 << 24));
    }
    if (config.max_model_len > shape.max_context) {  // positions the model was never trained on: garbage
        throw ConfigError("max_model_len " + std::to_string(config.max_model_len) +
                          " is longer than the model's context of " + std::to_string(shape.max_context) +
                          " tokens; give at most " + std::to_string(shape.max_context) + " (or 0 for the model's)");
    }
    plan.max_model_len = config.max_model_len > 0 ? config.max_model_len : shape.max_context;
    if (config.preemption_mode == PreemptionMode::Swap) {
        const std::int64_t blocks = config.swap_space_bytes / static_cast<std::int64_t>(plan.block_bytes);
        if (blocks < 1) {
            throw ConfigError("a swap space of " + std::to_string(config.swap_space_bytes) +
                              " bytes holds no block of " + std::to_string(plan.block_bytes) +
                              " bytes for this model; raise the swap space");
        }
        plan.num_swap_blocks = static_cast<std::int32_t>(std::min<std::int64_t>(blocks, 1 << 24));
    }
    return plan;
}

std::string_view backend_kind_name(BackendKind kind) {
    switch (kind) {
        case BackendKind::Cpu:
            return "cpu";
        case BackendKind::Cuda:
            return "cuda";
        case BackendKind::Auto:
            return "auto";
    }
    return "?";
}

std::optional<BackendKind> parse_backend_kind(std::string_view name) {
    for (BackendKind k : {BackendKind::Cpu, BackendKind::Cuda, BackendKind::Auto}) {
        if (name == backend_kind_name(k)) return k;
    }
    return std::nullopt;
}

}  // namespace kvscope
