// The quantised matmul kernels (matmul_body.h) as __global__ functions: the decode GEMV for
// each weight type and activation-row count, and the dequantisation to f16.

#include "kernels/cuda/device/launch.h"

namespace kvscope::cuda::device {
namespace {

template <TensorType T, int NT>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(GemvParams p) {
    extern __shared__ float smem[];
    gemv_block<T, NT>(DeviceExec{}, p, blockIdx.x, smem);
}

template <TensorType T>
__global__ void __launch_bounds__(kDequantThreads) dequant_f16_kernel(DequantParams p) {
    dequant_f16_block<T>(DeviceExec{}, p, blockIdx.x);
}

template <TensorType T>
cudaError_t gemv_typed(int nt, const GemvParams& p, Launch l, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(l.gx));
    const std::size_t shared = static_cast<std::size_t>(nt) * kGemvThreads * sizeof(float);
    switch (nt) {
        case 1:
            gemv_kernel<T, 1><<<grid, kGemvThreads, shared, stream>>>(p);
            break;
        case 2:
            gemv_kernel<T, 2><<<grid, kGemvThreads, shared, stream>>>(p);
            break;
        case 4:
            gemv_kernel<T, 4><<<grid, kGemvThreads, shared, stream>>>(p);
            break;
        case 8:
            gemv_kernel<T, 8><<<grid, kGemvThreads, shared, stream>>>(p);
            break;
        default:
            return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

template <TensorType T>
cudaError_t dequant_typed(const DequantParams& p, Launch l, cudaStream_t stream) {
    dequant_f16_kernel<T><<<dim3(static_cast<unsigned>(l.gx)), kDequantThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

}  // namespace

#define KVSCOPE_QUANT_TYPES(X) \
    X(Q4_0)                    \
    X(Q4_1)                    \
    X(Q5_0)                    \
    X(Q5_1)                    \
    X(Q8_0)                    \
    X(Q4_K)                    \
    X(Q5_K)                    \
    X(Q6_K)

cudaError_t launch_gemv(TensorType type, int nt, const GemvParams& p, Launch l, cudaStream_t stream) {
    switch (type) {
#define KVSCOPE_CASE(T) \
    case TensorType::T: \
        return gemv_typed<TensorType::T>(nt, p, l, stream);
        KVSCOPE_QUANT_TYPES(KVSCOPE_CASE)
#undef KVSCOPE_CASE
        default:
            return cudaErrorInvalidValue;
    }
}

cudaError_t launch_dequant_f16(TensorType type, const DequantParams& p, Launch l, cudaStream_t stream) {
    switch (type) {
#define KVSCOPE_CASE(T) \
    case TensorType::T: \
        return dequant_typed<TensorType::T>(p, l, stream);
        KVSCOPE_QUANT_TYPES(KVSCOPE_CASE)
#undef KVSCOPE_CASE
        default:
            return cudaErrorInvalidValue;
    }
}

}  // namespace kvscope::cuda::device
