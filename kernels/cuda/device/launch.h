#pragma once
// The __global__ kernels' launchers (kernels_*.cu): each wraps one body of kernels/cuda in a
// kernel and launches it on `stream`, returning cudaGetLastError(). Real device only.

#include <cuda_runtime_api.h>

#include "kernels/cuda/device_ops.h"

namespace kvscope::cuda::device {

cudaError_t launch_gather(const GatherParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_rms_norm(const RmsNormParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_rope_cos_sin(const RopeCosSinParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_rope(const RopeParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_elementwise(const ElemParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_write_kv(const WriteKvParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_copy_blocks(const CopyBlocksParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_gemv(TensorType type, int nt, const GemvParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_dequant_f16(TensorType type, const DequantParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_attention(const AttentionParams& p, Launch l, cudaStream_t stream);
cudaError_t launch_attention_reduce(const AttentionReduceParams& p, Launch l, cudaStream_t stream);

// Lets the attention kernel use up to max_shared bytes of dynamic shared memory.
cudaError_t allow_attention_shared(std::size_t max_shared);
// cudaSuccess when the current device can run this build's kernels (an image for its
// architecture, or PTX it can compile).
cudaError_t check_kernel_image();

}  // namespace kvscope::cuda::device
