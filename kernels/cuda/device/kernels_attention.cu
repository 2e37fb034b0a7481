// The paged attention kernels (attention_body.h) as __global__ functions.

#include "kernels/cuda/device/launch.h"

namespace kvscope::cuda::device {
namespace {

__global__ void __launch_bounds__(kAttnThreads) attention_kernel(AttentionParams p) {
    extern __shared__ float smem[];
    attention_block(DeviceExec{}, p, blockIdx.x, blockIdx.y, blockIdx.z, smem);
}

__global__ void __launch_bounds__(kAttnThreads) attention_reduce_kernel(AttentionReduceParams p) {
    attention_reduce_block(DeviceExec{}, p, blockIdx.x);
}

}  // namespace

cudaError_t launch_attention(const AttentionParams& p, Launch l, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(l.gx), static_cast<unsigned>(l.gy), static_cast<unsigned>(l.gz));
    attention_kernel<<<grid, kAttnThreads, l.shared_bytes, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_attention_reduce(const AttentionReduceParams& p, Launch l, cudaStream_t stream) {
    attention_reduce_kernel<<<dim3(static_cast<unsigned>(l.gx)), kAttnThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t allow_attention_shared(std::size_t max_shared) {
    return cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(max_shared));
}

}  // namespace kvscope::cuda::device
