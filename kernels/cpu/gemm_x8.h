#pragma once
// Internal to the packed matmul (kernels/cpu/matmul.cpp, kernels/cpu/gemm_x8_*.cpp): the inner
// kernels over weights repacked in groups of 8 rows (kernels/packed_weight.h), one table per SIMD
// level. Declarations only: this header is shared by baseline and SIMD files.
//
// Activations come as Q8_0 rows (ggml's block: f16 d, int8 qs[32], as quantize_row writes them)
// plus, per block, two floats {d, c}: d the block's scale as f32 and c = 8 * d * sum(qs) (the
// Q4_0 kernels multiply unsigned quants 0..15 and subtract c to get (q - 8); the Q4_K and Q5_K
// kernels subtract dmin * mn * c / 8 per sub-block for its min).

#include <cstdint>

namespace kvscope::cpu {

struct GemmX8Args {
    const std::uint8_t* w;     // packed weights: group g's blocks start at w + g * group_bytes
    std::int64_t group_bytes;  // bytes of one group of 8 rows (all its blocks)
    std::int64_t num_blocks;   // 32-element blocks per row
    const std::uint8_t* x;     // (num_x, x_row_bytes) Q8_0 activation rows
    std::int64_t x_row_bytes;  // bytes between activation rows
    const float* xd;           // (num_x, num_blocks, 2): {d, c} per activation block
    std::int64_t num_x;        // activation rows
    float* y;                  // y[t * ldy + r] for activation t and weight row r
    std::int64_t ldy;          // floats between output rows
    std::int64_t group_begin;  // the groups [group_begin, group_end) to compute
    std::int64_t group_end;
};

using GemmX8Fn = void (*)(const GemmX8Args& args);

struct GemmX8Kernels {
    GemmX8Fn q4_0;  // weights PackedFormat::Q4_0x8
    GemmX8Fn q8_0;  // weights PackedFormat::Q8_0x8
    GemmX8Fn q4_k;  // weights PackedFormat::Q4_Kx8 (num_blocks counts its 32-element sub-blocks)
    GemmX8Fn q5_k;  // weights PackedFormat::Q5_Kx8 (likewise)
};

extern const GemmX8Kernels kGemmX8Scalar;  // gemm_x8_scalar.cpp: the reference
extern const GemmX8Kernels kGemmX8Avx2;    // gemm_x8_avx2.cpp: maddubs
extern const GemmX8Kernels kGemmX8Avx512;  // gemm_x8_avx512.cpp: VNNI dpbusd on 256-bit vectors

}  // namespace kvscope::cpu
