#pragma once
// The CUDA backend's public face, in plain C++ (no CUDA header): whether a device is there, and
// the factory. Everything else of kernels/cuda stays inside that folder.
//
// Built only with KVSCOPE_CUDA (CMake); without it these still link (kernels/cuda/stub) and
// report that kvscope was built without CUDA.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/backend.h"

namespace kvscope {

struct CudaDeviceInfo {
    bool available = false;
    std::string reason;  // why not, when unavailable: one line ("no CUDA device: ...")
    int device = 0;
    std::string name;             // "NVIDIA H100 80GB HBM3"
    int compute_capability = 0;   // 90 for sm_90
    int num_sms = 0;              // streaming multiprocessors
    std::size_t free_bytes = 0;   // free device memory when probed
    std::size_t total_bytes = 0;  // device memory
};

// True when this build has the CUDA backend (KVSCOPE_CUDA).
bool cuda_compiled();

// Probes device 0 once per process (later calls return the same value); never throws. Any
// CUDA error (no driver, no device, a driver older than the runtime) reads as "no device".
const CudaDeviceInfo& cuda_device_info();

struct CudaBackendOptions {
    // > 0: the KV cache takes this fraction of the device memory that is free once the weights
    // and the step workspace are in place; kv.num_blocks is then ignored and kv_spec() tells
    // the count. 0: exactly kv.num_blocks blocks.
    double kv_memory_fraction = 0.0;
    // With kv_memory_fraction: at most this many blocks (what max_num_seqs sequences of
    // max_model_len tokens can hold at once; 0 = no cap), so that small models leave the rest of
    // the GPU to other processes.
    std::int32_t max_kv_blocks = 0;
    std::int32_t max_num_tokens = 2048;  // tokens per step the workspace is sized for (grows beyond)
    std::int32_t max_num_seqs = 64;      // sequences per step, likewise
    std::int32_t max_model_len = 0;      // longest sequence (sizes the block tables); 0 = grow as needed
    bool use_graphs = true;              // replay decode steps from CUDA graphs (env KVSCOPE_CUDA_GRAPHS=0: off)
};

// Uploads the weights, allocates the KV cache (and kv.num_swap_blocks blocks of pinned host
// memory for swapping) on device 0. Throws ConfigError when there is no device, a weight type
// the kernels lack, or not enough device memory (saying how much is needed).
std::unique_ptr<Backend> make_cuda_backend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv,
                                           const CudaBackendOptions& options);

// The same backend code on the host emulation of the device (kernels/cuda/device_ops.h): the
// CUDA kernel bodies run on the CPU. Slow; for tests on machines without a GPU.
std::unique_ptr<Backend> make_emulated_cuda_backend(const ModelShape& shape, const ModelWeights& weights,
                                                    const KvCacheSpec& kv, const CudaBackendOptions& options);

}  // namespace kvscope
