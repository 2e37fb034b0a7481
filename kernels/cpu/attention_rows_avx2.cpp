// AVX2 + FMA + F16C inner loops of paged attention (see attention_rows.h). Compiled with
// -mavx2 -mfma -mf16c; uses intrinsics and local helpers only (no shared inline functions).

#include <cstring>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/simd_avx2.h"

namespace kvscope {
namespace {

// Partial dot products of q with one key, 8 lanes; the masked tail reads no memory past head_dim.
inline __m256 dot_lanes(const float* q, const float* k, int head_dim) {
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    int d = 0;
    for (; d + 16 <= head_dim; d += 16) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), a);
        b = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_loadu_ps(k + d + 8), b);
    }
    for (; d + 8 <= head_dim; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), a);
    if (d < head_dim) {
        const __m256i mask = cpu::avx2_tail_mask(head_dim - d);
        a = _mm256_fmadd_ps(_mm256_maskload_ps(q + d, mask), _mm256_maskload_ps(k + d, mask), a);
    }
    return _mm256_add_ps(a, b);
}

void scores_avx2(const float* q, const float* k, std::int64_t k_stride, int n, int head_dim, float scale, float* out) {
    int j = 0;
    // four keys at a time: four independent accumulators, q loaded once per step
    for (; j + 4 <= n; j += 4) {
        const float* k0 = k + j * k_stride;
        const float* k1 = k0 + k_stride;
        const float* k2 = k1 + k_stride;
        const float* k3 = k2 + k_stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int d = 0;
        for (; d + 8 <= head_dim; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
        }
        if (d < head_dim) {
            const __m256i mask = cpu::avx2_tail_mask(head_dim - d);
            const __m256 qv = _mm256_maskload_ps(q + d, mask);
            a0 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k0 + d, mask), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k1 + d, mask), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k2 + d, mask), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k3 + d, mask), a3);
        }
        // reduce the four accumulators at once: lanes 0..3 of the result are the four dots
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(out + j, _mm_mul_ps(s, _mm_set1_ps(scale)));
    }
    for (; j < n; ++j) out[j] = cpu::avx2_hsum(dot_lanes(q, k + j * k_stride, head_dim)) * scale;
}

float max_avx2(const float* x, int n) {
    const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
    __m256 m = neg_inf;
    for (int j = 0; j < n; j += 8) {
        const __m256i mask = cpu::avx2_tail_mask(n - j < 8 ? n - j : 8);
        m = _mm256_max_ps(m, _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + j, mask), _mm256_castsi256_ps(mask)));
    }
    return cpu::avx2_hmax(m);
}

float exp_sum_avx2(float* x, int n, float m) {
    const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256i mask = cpu::avx2_tail_mask(n - j < 8 ? n - j : 8);
        // lanes past n become -inf, whose exponential is 0
        const __m256 v = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + j, mask), _mm256_castsi256_ps(mask));
        const __m256 e = cpu::avx2_exp(_mm256_sub_ps(v, vm));
        _mm256_maskstore_ps(x + j, mask, e);
        sum = _mm256_add_ps(sum, e);
    }
    return cpu::avx2_hsum(sum);
}

void rescale_accumulate_avx2(float* acc, float c, const float* p, const float* v, std::int64_t v_stride, int n,
                             int head_dim) {
    const __m256 vc = _mm256_set1_ps(c);
    int d = 0;
    // 32 dims at a time in four registers, all n rows of V streamed through them
    for (; d + 32 <= head_dim; d += 32) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + d), vc);
        __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 8), vc);
        __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 16), vc);
        __m256 a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + d + 24), vc);
        for (int j = 0; j < n; ++j) {
            const float* vj = v + j * v_stride + d;
            const __m256 pj = _mm256_set1_ps(p[j]);
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
        }
        _mm256_storeu_ps(acc + d, a0);
        _mm256_storeu_ps(acc + d + 8, a1);
        _mm256_storeu_ps(acc + d + 16, a2);
        _mm256_storeu_ps(acc + d + 24, a3);
    }
    // the rest 8 dims at a time, the last group masked
    for (; d < head_dim; d += 8) {
        const __m256i mask = cpu::avx2_tail_mask(head_dim - d < 8 ? head_dim - d : 8);
        __m256 a = _mm256_mul_ps(_mm256_maskload_ps(acc + d, mask), vc);
        for (int j = 0; j < n; ++j) {
            a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_maskload_ps(v + j * v_stride + d, mask), a);
        }
        _mm256_maskstore_ps(acc + d, mask, a);
    }
}

void f16_to_f32_avx2(const std::uint16_t* src, float* dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    }
    for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

void q8_0_to_f32_avx2(const void* row, std::int64_t begin, int n, float* dst) {
    const auto* bytes = static_cast<const std::uint8_t*>(row);
    int i = 0;
    while (i < n) {
        // the Q8_0 block holding element begin + i, and where in it that element sits
        const std::int64_t e = begin + i;
        const std::uint8_t* block = bytes + (e / kQ8_0BlockElems) * kQ8_0BlockBytes;  // f16 d, int8 qs[32]
        const int offset = static_cast<int>(e % kQ8_0BlockElems);
        const int len = n - i < kQ8_0BlockElems - offset ? n - i : kQ8_0BlockElems - offset;
        std::uint16_t d16;
        std::memcpy(&d16, block, 2);
        const float d = _cvtsh_ss(d16);
        const auto* qs = reinterpret_cast<const std::int8_t*>(block + 2);
        if (len == kQ8_0BlockElems) {
            // a whole block: 4 x 8 int8 -> int32 -> float, times d
            const __m256 vd = _mm256_set1_ps(d);
            for (int r = 0; r < 4; ++r) {
                const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 8 * r)));
                _mm256_storeu_ps(dst + i + 8 * r, _mm256_mul_ps(_mm256_cvtepi32_ps(q), vd));
            }
        } else {
            for (int t = 0; t < len; ++t) dst[i + t] = d * static_cast<float>(qs[offset + t]);
        }
        i += len;
    }
}

}  // namespace

const AttentionRowKernels kAttentionRowsAvx2 = {
    scores_avx2, max_avx2, exp_sum_avx2, rescale_accumulate_avx2, f16_to_f32_avx2, q8_0_to_f32_avx2,
};

}  // namespace kvscope
