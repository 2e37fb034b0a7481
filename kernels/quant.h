#pragma once
// Per-type row kernels for GGUF tensor types: dequantise, quantise, dot products.
//
// Weight rows of type T are multiplied with activation rows that were quantised to
// vec_dot_type(T) (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants,
// F32 for F32/F16/BF16), so the inner loop is an integer dot product. vec_dot_f32 is the
// slower, exact alternative against f32 activations.
//
// `n` is the row length in elements and must be a multiple of the type's block size.
// Byte layouts are ggml's (see quant_blocks.h); files written by llama.cpp's tools load as is.

#include <cstdint>

#include "kernels/cpu_features.h"
#include "kernels/tensor_type.h"

namespace kvscope {

struct TypeKernels {
    TensorType type;
    TensorType vec_dot_type;  // what activations are quantised to before vec_dot
    // dst(n) f32 <- src row of `type`
    void (*dequantize)(const void* src, float* dst, std::int64_t n);
    // dst row of `type` <- src(n) f32 (round to nearest, as ggml's reference quantisers)
    void (*quantize)(const float* src, void* dst, std::int64_t n);
    // sum_i w[i] * x[i]; w a row of `type`, x a row of `vec_dot_type`
    float (*vec_dot)(std::int64_t n, const void* w, const void* x);
    // sum_i w[i] * x[i]; w a row of `type`, x f32
    float (*vec_dot_f32)(std::int64_t n, const void* w, const float* x);
};

// The kernels for a computable type (see TensorTypeInfo::computable) and for the activation
// types Q8_1 and Q8_K, at the active SIMD level of this CPU.
const TypeKernels& type_kernels(TensorType type);

// The same at a given level (tests compare levels; a level above the CPU's must not be asked for).
const TypeKernels& type_kernels(TensorType type, SimdLevel level);

// Convenience wrappers over type_kernels(type).
void dequantize_row(TensorType type, const void* src, float* dst, std::int64_t n);
void quantize_row(TensorType type, const float* src, void* dst, std::int64_t n);
inline TensorType vec_dot_type(TensorType type) { return type_kernels(type).vec_dot_type; }

}  // namespace kvscope
