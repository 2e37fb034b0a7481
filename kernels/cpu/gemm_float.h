#pragma once
// Internal to the matmul (kernels/cpu/matmul.cpp, kernels/cpu/gemm_float_*.cpp): a tiled GEMM of
// f32 activations with F32, F16 or BF16 weights stored row by row, for prompt processing (decode
// uses the row dot products). Tiles of weight rows x activation rows keep their accumulators in
// registers (AVX2: 4 x 3 of 8 lanes; AVX-512: 6 x 4 of 16 lanes); weight rows go in panels that
// stay in L2 while the activation tiles pass (kernels/cpu/gemm_float_tiles.h). Declarations only: shared by baseline
// and SIMD files.

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

extern const GemmFloatKernels kGemmFloatAvx2;    // gemm_float_avx2.cpp
extern const GemmFloatKernels kGemmFloatAvx512;  // gemm_float_avx512.cpp

}  // namespace kvscope::cpu
