#pragma once
// What the CUDA backend asks of a device, in plain C++: memory, copies, the kernels of
// kernels/cuda/*_body.h, a GEMM, and graphs. Two implementations:
//   - the real one (kernels/cuda/device/, built with KVSCOPE_CUDA): cudaMalloc, one stream,
//     the __global__ kernels, cuBLAS, CUDA graphs;
//   - a host emulation (host_ops.cpp, always built): malloc, memcpy, the same kernel bodies run
//     block by block and thread by thread on the CPU, a plain GEMM, and graphs that record the
//     launches and replay them.
// The backend (cuda_backend.cpp) is written once against this interface, so its logic (buffer
// sizes, padding, graph buckets, tiling, split-K) runs in the CPU tests as it runs on a GPU.
//
// Ordering: everything runs in issue order on one stream; download() and synchronize() wait.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/cuda/attention_body.h"
#include "kernels/cuda/matmul_body.h"
#include "kernels/cuda/paged_kv_body.h"
#include "kernels/cuda/row_bodies.h"

namespace kvscope::cuda {

// Blocks of a launch (threads per block are fixed per kernel) and its dynamic shared memory.
struct Launch {
    int gx = 1, gy = 1, gz = 1;
    std::size_t shared_bytes = 0;
};

using GraphHandle = std::int64_t;  // 0: none

class DeviceOps {
public:
    virtual ~DeviceOps() = default;

    virtual std::string device_name() const = 0;
    virtual std::size_t free_memory() const = 0;
    virtual int num_sms() const = 0;
    // Dynamic shared memory one block may use (after opting in where the device needs it).
    virtual std::size_t max_shared_bytes() const = 0;

    // Device memory (throws ConfigError when there is not enough), and pinned host memory the
    // device reads and writes directly (host_device_pointer gives its device address).
    virtual void* alloc(std::size_t bytes) = 0;
    virtual void release(void* p) = 0;
    virtual void* alloc_host(std::size_t bytes) = 0;
    virtual void release_host(void* p) = 0;
    virtual void* host_device_pointer(void* host) = 0;

    // Copies on the stream. `src` of upload is host memory the caller keeps unchanged until the
    // next synchronize() (pinned) or pageable memory (then the call returns once it is read).
    virtual void upload(void* dst, const void* src, std::size_t bytes) = 0;
    // height rows of width bytes, from src (spitch apart) to dst (dpitch apart).
    virtual void upload_2d(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                           std::size_t height) = 0;
    virtual void download(void* dst, const void* src, std::size_t bytes) = 0;  // waits for the result
    virtual void synchronize() = 0;

    // Kernels: one launch each, on the stream.
    virtual void gather(const GatherParams& p, Launch l) = 0;
    virtual void rms_norm(const RmsNormParams& p, Launch l) = 0;
    virtual void rope_cos_sin(const RopeCosSinParams& p, Launch l) = 0;
    virtual void rope(const RopeParams& p, Launch l) = 0;
    virtual void elementwise(const ElemParams& p, Launch l) = 0;
    virtual void write_kv(const WriteKvParams& p, Launch l) = 0;
    virtual void copy_blocks(const CopyBlocksParams& p, Launch l) = 0;
    // nt: 1, 2, 4 or 8 activation rows per pass (p.n <= nt).
    virtual void gemv(TensorType type, int nt, const GemvParams& p, Launch l) = 0;
    virtual void dequant_f16(TensorType type, const DequantParams& p, Launch l) = 0;
    virtual void attention(const AttentionParams& p, Launch l) = 0;
    virtual void attention_reduce(const AttentionReduceParams& p, Launch l) = 0;

    // y(n, ldy) columns [0, rows) = x(n, cols) · w(rows, cols)ᵀ, f32 accumulation; w and x both
    // of `type` (F32, F16 or BF16), rows contiguous; y f32 with rows ldy apart.
    virtual void gemm(TensorType type, const void* w, std::int64_t rows, std::int64_t cols, const void* x,
                      std::int64_t n, float* y, std::int64_t ldy) = 0;

    // Graphs: launches between begin_capture and end_capture are recorded, not run; a graph
    // replays them with the parameters they had (buffers are read at replay).
    virtual void begin_capture() = 0;
    virtual GraphHandle end_capture() = 0;
    virtual void launch_graph(GraphHandle graph) = 0;
    virtual void destroy_graph(GraphHandle graph) = 0;
};

// The host emulation (always available).
std::unique_ptr<DeviceOps> make_host_device_ops();
// The real device (KVSCOPE_CUDA builds with a device; throws ConfigError otherwise).
std::unique_ptr<DeviceOps> make_cuda_device_ops();

}  // namespace kvscope::cuda
