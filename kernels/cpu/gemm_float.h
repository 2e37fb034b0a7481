#pragma once
// Internal to the matmul (kernels/cpu/matmul.cpp, kernels/cpu/gemm_float_avx2.cpp): a tiled
// GEMM of f32 activations with F32, F16 or BF16 weights stored row by row, for prompt
// processing (decode uses the row dot products). Tiles of 4 weight rows x 3 activation rows keep
// 12 accumulators of 8 lanes in registers; weight rows go in panels that stay in L2 while the
// activation tiles pass. Declarations only: shared by baseline and SIMD files.

#include <cstdint>

namespace kvscope::cpu {

struct GemmFloatArgs {
    const void* w;      // (rows, cols) weights of the type the function is for
    std::int64_t cols;  // elements per row (any count: the tail is handled)
    const float* x;     // (num_x, cols) activations
    std::int64_t num_x;
    float* y;  // y[t * ldy + r]
    std::int64_t ldy;
    std::int64_t row_begin;  // the weight rows [row_begin, row_end) to compute
    std::int64_t row_end;
};

using GemmFloatFn = void (*)(const GemmFloatArgs& args);

struct GemmFloatKernels {
    GemmFloatFn f32, f16, bf16;
};

extern const GemmFloatKernels kGemmFloatAvx2;  // gemm_float_avx2.cpp (also used at the AVX-512 level)

}  // namespace kvscope::cpu
