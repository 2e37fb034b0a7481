#pragma once
// Everything an Engine is built from, in one aggregate with defaults. validate() returns every
// problem as a line that names the setting, its value and what to use instead.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/model_weights.h"
#include "kernels/tensor_type.h"

namespace kvscope {

// Where the forward pass runs. Auto: CUDA when this build has it and a device exists, else the CPU.
enum class BackendKind { Cpu, Cuda, Auto };
// What happens to a running sequence when KV blocks run out (vLLM's preemption modes).
enum class PreemptionMode {
    Recompute,  // free its blocks; it recomputes prompt and output when it runs again
    Swap,       // copy its blocks to host swap space and back when it resumes (recompute if full)
};

struct EngineConfig {
    // KV cache
    std::int32_t block_size = 16;               // tokens per block: 8, 16 or 32
    std::int64_t kv_cache_bytes = 256ll << 20;  // memory budget for K and V of all layers
    std::optional<std::int32_t> num_kv_blocks;  // exact block count; overrides kv_cache_bytes
    TensorType cache_dtype = TensorType::F32;   // F32, F16 or Q8_0
    bool enable_prefix_caching = true;

    // Scheduler
    std::int32_t max_num_seqs = 64;              // sequences running at once
    std::int32_t max_num_batched_tokens = 2048;  // tokens per step (decodes + prefill chunks)
    bool enable_chunked_prefill = true;          // split long prompts over several steps

    std::int32_t max_model_len = 0;  // prompt + output per sequence; 0 = the model's
    PreemptionMode preemption_mode = PreemptionMode::Recompute;
    std::int64_t swap_space_bytes = 1ll << 30;  // host memory for swapped-out blocks (swap mode only)

    // Backend
    BackendKind backend = BackendKind::Cpu;
    int num_threads = 0;  // CPU threads; 0 = all hardware threads
    // CUDA: the KV cache takes this fraction of the GPU memory free after the weights (overrides
    // kv_cache_bytes, not num_kv_blocks); 0 = use kv_cache_bytes.
    double gpu_memory_utilization = 0.0;

    std::vector<std::string> validate() const;
    // Throws ConfigError with the problems, joined by "; ", if there are any.
    void check() const;
};

// What the configuration comes to for a given model: the block count the budget buys, the
// context limit, bytes per block.
struct CachePlan {
    std::int32_t num_blocks = 0;
    std::int32_t max_model_len = 0;
    std::size_t block_bytes = 0;
    std::int32_t num_swap_blocks = 0;  // host blocks for preemption by swap (0 in recompute mode)
};

// Throws ConfigError if the budget (or, in swap mode, the swap space) buys no block, the dtype does not fit the model
// (Q8_0 needs kv_dim to be a multiple of 32), or max_model_len exceeds what the cache can ever hold.
CachePlan plan_cache(const EngineConfig& config, const ModelShape& shape);

}  // namespace kvscope

namespace kvscope {
std::string_view backend_kind_name(BackendKind kind);                  // "cpu", "cuda", "auto"
std::optional<BackendKind> parse_backend_kind(std::string_view name);  // the inverse
}  // namespace kvscope
