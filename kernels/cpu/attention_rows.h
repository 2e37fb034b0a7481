#pragma once
// The inner loops of paged attention, one table per SIMD level (attention_rows.cpp for scalar,
// attention_rows_avx2.cpp, attention_rows_avx512.cpp). paged_attention.cpp picks a table and
// does the rest (work split, online softmax bookkeeping, cache addressing) in portable code.
// Declarations only: this header is shared by baseline and SIMD files.

#include <cstdint>

namespace kvscope {

struct AttentionRowKernels {
    // out(n) <- scale * K(n, head_dim) q(head_dim); row j of K starts at k + j * k_stride
    void (*scores)(const float* q, const float* k, std::int64_t k_stride, int n, int head_dim, float scale, float* out);
    // max of x(n), n >= 1
    float (*max)(const float* x, int n);
    // x(n) <- e^(x - m), returns the sum of the new values
    float (*exp_sum)(float* x, int n, float m);
    // acc(head_dim) <- c * acc + sum_j p[j] V[j]; row j of V starts at v + j * v_stride
    void (*rescale_accumulate)(float* acc, float c, const float* p, const float* v, std::int64_t v_stride, int n,
                               int head_dim);
    // dst(n) <- f16 src(n)
    void (*f16_to_f32)(const std::uint16_t* src, float* dst, int n);
    // dst(n) <- elements [begin, begin + n) of a row stored as Q8_0 blocks (ggml layout: f16 d,
    // int8 qs[32]; x = d * q)
    void (*q8_0_to_f32)(const void* row, std::int64_t begin, int n, float* dst);
};

extern const AttentionRowKernels kAttentionRowsScalar;
extern const AttentionRowKernels kAttentionRowsAvx2;
extern const AttentionRowKernels kAttentionRowsAvx512;

// Q8_0 geometry (ggml's block_q8_0).
inline constexpr int kQ8_0BlockElems = 32;
inline constexpr int kQ8_0BlockBytes = 34;

}  // namespace kvscope
