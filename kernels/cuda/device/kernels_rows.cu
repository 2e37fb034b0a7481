// The per-token kernels (row_bodies.h, paged_kv_body.h) as __global__ functions.

#include "kernels/cuda/device/launch.h"

namespace kvscope::cuda::device {
namespace {

__global__ void __launch_bounds__(kRowThreads) gather_kernel(GatherParams p) {
    gather_block(DeviceExec{}, p, blockIdx.x);
}

__global__ void __launch_bounds__(kRowThreads) rms_norm_kernel(RmsNormParams p) {
    extern __shared__ float smem[];
    rms_norm_block(DeviceExec{}, p, blockIdx.x, smem);
}

__global__ void __launch_bounds__(kRowThreads) rope_cos_sin_kernel(RopeCosSinParams p) {
    rope_cos_sin_block(DeviceExec{}, p, blockIdx.x);
}

__global__ void __launch_bounds__(kRowThreads) rope_kernel(RopeParams p) {
    rope_block(DeviceExec{}, p, blockIdx.x);
}

__global__ void __launch_bounds__(kElemThreads) elementwise_kernel(ElemParams p) {
    elementwise_block(DeviceExec{}, p, blockIdx.x);
}

__global__ void __launch_bounds__(kKvThreads) write_kv_kernel(WriteKvParams p) {
    write_kv_block(DeviceExec{}, p, blockIdx.x);
}

__global__ void __launch_bounds__(kKvThreads) copy_blocks_kernel(CopyBlocksParams p) {
    copy_blocks_block(DeviceExec{}, p, blockIdx.x, blockIdx.y);
}

dim3 grid(Launch l) {
    return dim3(static_cast<unsigned>(l.gx), static_cast<unsigned>(l.gy), static_cast<unsigned>(l.gz));
}

}  // namespace

cudaError_t launch_gather(const GatherParams& p, Launch l, cudaStream_t stream) {
    gather_kernel<<<grid(l), kRowThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_rms_norm(const RmsNormParams& p, Launch l, cudaStream_t stream) {
    rms_norm_kernel<<<grid(l), kRowThreads, kRmsNormSharedFloats * sizeof(float), stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_rope_cos_sin(const RopeCosSinParams& p, Launch l, cudaStream_t stream) {
    rope_cos_sin_kernel<<<grid(l), kRowThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_rope(const RopeParams& p, Launch l, cudaStream_t stream) {
    rope_kernel<<<grid(l), kRowThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_elementwise(const ElemParams& p, Launch l, cudaStream_t stream) {
    elementwise_kernel<<<grid(l), kElemThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_write_kv(const WriteKvParams& p, Launch l, cudaStream_t stream) {
    write_kv_kernel<<<grid(l), kKvThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t launch_copy_blocks(const CopyBlocksParams& p, Launch l, cudaStream_t stream) {
    copy_blocks_kernel<<<grid(l), kKvThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

cudaError_t check_kernel_image() {
    cudaFuncAttributes attributes;
    return cudaFuncGetAttributes(&attributes, elementwise_kernel);
}

}  // namespace kvscope::cuda::device
