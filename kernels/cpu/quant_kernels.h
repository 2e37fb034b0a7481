#pragma once
// Internal to the row kernels (kernels/quant.cpp, kernels/cpu/quant_*.cpp; the matmul takes
// dot4_q4_k_avx2): the per-level kernel lists that the dispatcher in quant.cpp merges into its
// tables, and the scalar kernels that SIMD files reuse for what they do not implement.
//
// The lists are constant-initialised data (no code runs to build them), so the dispatcher can
// read a SIMD file's list on any CPU; it only calls into it on a CPU that has the level.

#include <cstdint>

#include "kernels/quant.h"

namespace kvscope::cpu {

// A level's kernels for some types. A null field means "use the level below".
struct KernelList {
    const TypeKernels* entries;
    int num_entries;
};

extern const KernelList kScalarKernels;  // complete: every computable type plus Q8_1 and Q8_K
extern const KernelList kAvx2Kernels;    // quant_avx2.cpp: F32/F16/BF16 and the legacy quants
extern const KernelList kAvx2KKernels;   // quant_k_avx2.cpp: the K-quants
extern const KernelList kAvx512Kernels;  // quant_avx512.cpp

// Scalar kernels (quant_scalar_*.cpp), one name per (operation, type).
void dequantize_f32(const void* src, float* dst, std::int64_t n);
void dequantize_f16(const void* src, float* dst, std::int64_t n);
void dequantize_bf16(const void* src, float* dst, std::int64_t n);
void dequantize_q4_0(const void* src, float* dst, std::int64_t n);
void dequantize_q4_1(const void* src, float* dst, std::int64_t n);
void dequantize_q5_0(const void* src, float* dst, std::int64_t n);
void dequantize_q5_1(const void* src, float* dst, std::int64_t n);
void dequantize_q8_0(const void* src, float* dst, std::int64_t n);
void dequantize_q8_1(const void* src, float* dst, std::int64_t n);
void dequantize_q4_k(const void* src, float* dst, std::int64_t n);
void dequantize_q5_k(const void* src, float* dst, std::int64_t n);
void dequantize_q6_k(const void* src, float* dst, std::int64_t n);
void dequantize_q8_k(const void* src, float* dst, std::int64_t n);

void quantize_f32(const float* src, void* dst, std::int64_t n);
void quantize_f16(const float* src, void* dst, std::int64_t n);
void quantize_bf16(const float* src, void* dst, std::int64_t n);
void quantize_q4_0(const float* src, void* dst, std::int64_t n);
void quantize_q4_1(const float* src, void* dst, std::int64_t n);
void quantize_q5_0(const float* src, void* dst, std::int64_t n);
void quantize_q5_1(const float* src, void* dst, std::int64_t n);
void quantize_q8_0(const float* src, void* dst, std::int64_t n);
void quantize_q8_1(const float* src, void* dst, std::int64_t n);
void quantize_q4_k(const float* src, void* dst, std::int64_t n);
void quantize_q5_k(const float* src, void* dst, std::int64_t n);
void quantize_q6_k(const float* src, void* dst, std::int64_t n);
void quantize_q8_k(const float* src, void* dst, std::int64_t n);
// The K-quant weight quantisers built for AVX2 (quant_k_quantize_avx2.cpp): the same bytes as the
// three above, faster.
void quantize_q4_k_avx2(const float* src, void* dst, std::int64_t n);
void quantize_q5_k_avx2(const float* src, void* dst, std::int64_t n);
void quantize_q6_k_avx2(const float* src, void* dst, std::int64_t n);

// vec_dot against vec_dot_type (x is f32 for the float types).
float vec_dot_f32(std::int64_t n, const void* w, const void* x);
float vec_dot_f16(std::int64_t n, const void* w, const void* x);
float vec_dot_bf16(std::int64_t n, const void* w, const void* x);
float vec_dot_q4_0(std::int64_t n, const void* w, const void* x);  // x: Q8_0
float vec_dot_q4_1(std::int64_t n, const void* w, const void* x);  // x: Q8_1
float vec_dot_q5_0(std::int64_t n, const void* w, const void* x);  // x: Q8_0
float vec_dot_q5_1(std::int64_t n, const void* w, const void* x);  // x: Q8_1
float vec_dot_q8_0(std::int64_t n, const void* w, const void* x);  // x: Q8_0
float vec_dot_q4_k(std::int64_t n, const void* w, const void* x);  // x: Q8_K
float vec_dot_q5_k(std::int64_t n, const void* w, const void* x);  // x: Q8_K
float vec_dot_q6_k(std::int64_t n, const void* w, const void* x);  // x: Q8_K

// One weight row against 4 activation rows at once (x, x + x_stride, ...), out[t] the vec_dot of
// row t, bit for bit: what prompt processing uses for row-by-row types, sharing the weight
// row's unpacking among the 4. AVX2 (quant_k_avx2.cpp): Q4_K and Q6_K (the two of a Q4_K_M file);
// AVX-512 (quant_avx512.cpp): Q6_K (Q4_K packs).
using RowDot4Fn = void (*)(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out);
void dot4_q4_k_avx2(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out);    // x: Q8_K
void dot4_q6_k_avx2(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out);    // x: Q8_K
void dot4_q6_k_avx512(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out);  // x: Q8_K

// vec_dot_f32 (x is f32). The block types dequantise a block at a time into a stack buffer.
float vec_dot_f32_f32(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_f16(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_bf16(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q4_0(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q4_1(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q5_0(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q5_1(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q8_0(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q8_1(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q4_k(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q5_k(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q6_k(std::int64_t n, const void* w, const float* x);
float vec_dot_f32_q8_k(std::int64_t n, const void* w, const float* x);

// Round to nearest, ties to even, for |x| < 2^22 (the quantisers' rounding; SIMD paths use the
// same, so every level writes the same bytes for the activation types).
static inline int round_to_int(float x) {
    // adding 1.5 * 2^23 leaves the integer in the low mantissa bits
    const float biased = x + 12582912.0f;
    std::int32_t bits;
    __builtin_memcpy(&bits, &biased, sizeof(bits));
    return (bits & 0x007fffff) - 0x00400000;
}

}  // namespace kvscope::cpu
