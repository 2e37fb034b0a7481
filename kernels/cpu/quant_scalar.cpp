// The scalar kernel list: complete, the fallback of every SIMD level.

#include "kernels/cpu/quant_kernels.h"

namespace kvscope::cpu {
namespace {

using T = TensorType;

// {type, vec_dot_type, dequantize, quantize, vec_dot, vec_dot_f32}
constinit const TypeKernels kEntries[] = {
    {T::F32, T::F32, dequantize_f32, quantize_f32, vec_dot_f32, vec_dot_f32_f32},
    {T::F16, T::F32, dequantize_f16, quantize_f16, vec_dot_f16, vec_dot_f32_f16},
    {T::BF16, T::F32, dequantize_bf16, quantize_bf16, vec_dot_bf16, vec_dot_f32_bf16},
    {T::Q4_0, T::Q8_0, dequantize_q4_0, quantize_q4_0, vec_dot_q4_0, vec_dot_f32_q4_0},
    {T::Q4_1, T::Q8_1, dequantize_q4_1, quantize_q4_1, vec_dot_q4_1, vec_dot_f32_q4_1},
    {T::Q5_0, T::Q8_0, dequantize_q5_0, quantize_q5_0, vec_dot_q5_0, vec_dot_f32_q5_0},
    {T::Q5_1, T::Q8_1, dequantize_q5_1, quantize_q5_1, vec_dot_q5_1, vec_dot_f32_q5_1},
    {T::Q8_0, T::Q8_0, dequantize_q8_0, quantize_q8_0, vec_dot_q8_0, vec_dot_f32_q8_0},
    {T::Q4_K, T::Q8_K, dequantize_q4_k, quantize_q4_k, vec_dot_q4_k, vec_dot_f32_q4_k},
    {T::Q5_K, T::Q8_K, dequantize_q5_k, quantize_q5_k, vec_dot_q5_k, vec_dot_f32_q5_k},
    {T::Q6_K, T::Q8_K, dequantize_q6_k, quantize_q6_k, vec_dot_q6_k, vec_dot_f32_q6_k},
    // activation types: no integer vec_dot of their own
    {T::Q8_1, T::F32, dequantize_q8_1, quantize_q8_1, nullptr, vec_dot_f32_q8_1},
    {T::Q8_K, T::F32, dequantize_q8_k, quantize_q8_k, nullptr, vec_dot_f32_q8_k},
};

}  // namespace

constinit const KernelList kScalarKernels = {kEntries, static_cast<int>(sizeof(kEntries) / sizeof(kEntries[0]))};

}  // namespace kvscope::cpu
