#pragma once
// Q6_K's 6-bit quants unpacked with AVX2, shared by the row kernels of both SIMD levels
// (quant_k_avx2.cpp, quant_avx512.cpp). Include only from files compiled with the AVX2 flags;
// `static inline`, as simd_avx2.h.

#include <immintrin.h>

#include "kernels/cpu/simd_avx2.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {

// Q6_K half h (128 elements) as 4 vectors of 6-bit quants (q + 32, 0..63), 32 elements each.
static inline void avx2_unpack_q6_half(const BlockQ6_K& a, int h, __m256i q[4]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i low2 = _mm256_set1_epi8(0x03);
    const __m256i ql0 = avx2_load(a.ql + 64 * h);
    const __m256i ql1 = avx2_load(a.ql + 64 * h + 32);
    const __m256i qh = avx2_load(a.qh + 32 * h);
    q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4));
}

}  // namespace kvscope::cpu
