#include "engine/backend_factory.h"

#include <algorithm>

#include "engine/error.h"
#include "kernels/cuda/cuda_backend.h"

namespace kvscope {

BackendChoice make_backend(const Model& model, const EngineConfig& config) {
    BackendChoice choice;
    choice.config = config;
    const CachePlan plan = plan_cache(config, model.shape());  // validates the configuration
    const KvCacheSpec kv{plan.num_blocks, config.block_size, config.cache_dtype, plan.num_swap_blocks};

    if (config.backend != BackendKind::Cpu) {
        const CudaDeviceInfo& device = cuda_device_info();
        if (device.available) {
            CudaBackendOptions options;
            if (config.gpu_memory_utilization > 0.0 && !config.num_kv_blocks) {
                options.kv_memory_fraction = config.gpu_memory_utilization;
                const std::int64_t per_seq =
                    (std::int64_t{plan.max_model_len} + config.block_size - 1) / config.block_size;
                options.max_kv_blocks =
                    static_cast<std::int32_t>(std::min<std::int64_t>(per_seq * config.max_num_seqs, 1 << 24));
            }
            options.max_num_tokens = config.max_num_batched_tokens;
            options.max_num_seqs = config.max_num_seqs;
            options.max_model_len = plan.max_model_len;
            choice.backend = make_cuda_backend(model.shape(), model.weights(), kv, options);
            choice.config.num_kv_blocks = choice.backend->kv_spec().num_blocks;
            return choice;
        }
        if (config.backend == BackendKind::Cuda) {  // asked for by name: no quiet substitute
            throw ConfigError("the CUDA backend was asked for, but " + device.reason +
                              "; choose the backend auto (CUDA when a device is there, else the CPU) or cpu");
        }
        choice.note = "kvscope: " + device.reason + "; using the CPU backend";
    }
    choice.backend = make_cpu_backend(model.shape(), model.weights(), kv, CpuBackendOptions{config.num_threads});
    return choice;
}

}  // namespace kvscope
