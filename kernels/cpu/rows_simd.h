#pragma once
// Row kernels compiled for SIMD targets (kernels/cpu/rows_avx2.cpp). Called by the dispatchers
// in norm.cpp, elementwise.cpp and softmax.cpp only when the CPU has the target; the Avx512
// level runs these too (one-pass, memory-bound loops, where 512-bit vectors gain little).
// Declarations only: this header is shared by baseline and SIMD files.

#include <cstdint>

namespace kvscope::avx2 {

// y(dim) = x(dim) / sqrt(mean(x^2) + eps) * w(dim); y may be x.
void rms_norm_row(const float* x, const float* w, float* y, std::int64_t dim, float eps);
// out(n) = silu(gate) * up
void swiglu(const float* gate, const float* up, float* out, std::int64_t n);
// x(n) <- softmax(x), in place
void softmax(float* x, std::int64_t n);

}  // namespace kvscope::avx2
