// AVX-512 (F/BW/VL) inner loops of paged attention (see attention_rows.h). Compiled with the
// AVX-512 flag set; used only on CPUs that have it. Intrinsics and local helpers only.

#include <cstring>

#include "kernels/cpu/attention_rows.h"

// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which its own
// -Wuninitialized flags wherever they are inlined: a false positive of the header, not of this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

namespace kvscope {
namespace {

// The first `count` of 16 lanes (0..16).
inline __mmask16 tail_mask16(int count) {
    return static_cast<__mmask16>((1u << count) - 1u);
}

// e^x per lane, as cpu::avx2_exp (simd_avx2.h): x = n ln2 + r, degree-7 Taylor polynomial for e^r,
// times 2^n by scalef. Lanes with x < -87.3 (and -inf) give 0; x is clamped above at 88.3.
inline __m512 exp_avx512(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.3f));
    const __m512 n =
        _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.4286068202862268e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(keep, p, n);
}

void scores_avx512(const float* q, const float* k, std::int64_t k_stride, int n, int head_dim, float scale,
                   float* out) {
    int j = 0;
    // four keys at a time: four independent accumulators, q loaded once per step
    for (; j + 4 <= n; j += 4) {
        const float* k0 = k + j * k_stride;
        const float* k1 = k0 + k_stride;
        const float* k2 = k1 + k_stride;
        const float* k3 = k2 + k_stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int d = 0; d < head_dim; d += 16) {
            const __mmask16 m = tail_mask16(head_dim - d < 16 ? head_dim - d : 16);
            const __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + d), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k1 + d), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k2 + d), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k3 + d), a3);
        }
        out[j] = _mm512_reduce_add_ps(a0) * scale;
        out[j + 1] = _mm512_reduce_add_ps(a1) * scale;
        out[j + 2] = _mm512_reduce_add_ps(a2) * scale;
        out[j + 3] = _mm512_reduce_add_ps(a3) * scale;
    }
    for (; j < n; ++j) {
        const float* kj = k + j * k_stride;
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < head_dim; d += 16) {
            const __mmask16 m = tail_mask16(head_dim - d < 16 ? head_dim - d : 16);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), _mm512_maskz_loadu_ps(m, kj + d), a);
        }
        out[j] = _mm512_reduce_add_ps(a) * scale;
    }
}

float max_avx512(const float* x, int n) {
    const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
    __m512 m = neg_inf;
    for (int j = 0; j < n; j += 16) {
        const __mmask16 mask = tail_mask16(n - j < 16 ? n - j : 16);
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(neg_inf, mask, x + j));
    }
    return _mm512_reduce_max_ps(m);
}

float exp_sum_avx512(float* x, int n, float m) {
    const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        const __mmask16 mask = tail_mask16(n - j < 16 ? n - j : 16);
        // lanes past n read as -inf, whose exponential is 0
        const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_mask_loadu_ps(neg_inf, mask, x + j), vm));
        _mm512_mask_storeu_ps(x + j, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

void rescale_accumulate_avx512(float* acc, float c, const float* p, const float* v, std::int64_t v_stride, int n,
                               int head_dim) {
    const __m512 vc = _mm512_set1_ps(c);
    int d = 0;
    // 64 dims at a time in four registers, all n rows of V streamed through them
    for (; d + 64 <= head_dim; d += 64) {
        __m512 a0 = _mm512_mul_ps(_mm512_loadu_ps(acc + d), vc);
        __m512 a1 = _mm512_mul_ps(_mm512_loadu_ps(acc + d + 16), vc);
        __m512 a2 = _mm512_mul_ps(_mm512_loadu_ps(acc + d + 32), vc);
        __m512 a3 = _mm512_mul_ps(_mm512_loadu_ps(acc + d + 48), vc);
        for (int j = 0; j < n; ++j) {
            const float* vj = v + j * v_stride + d;
            const __m512 pj = _mm512_set1_ps(p[j]);
            a0 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj), a0);
            a1 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16), a1);
            a2 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 32), a2);
            a3 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 48), a3);
        }
        _mm512_storeu_ps(acc + d, a0);
        _mm512_storeu_ps(acc + d + 16, a1);
        _mm512_storeu_ps(acc + d + 32, a2);
        _mm512_storeu_ps(acc + d + 48, a3);
    }
    // the rest 16 dims at a time, the last group masked
    for (; d < head_dim; d += 16) {
        const __mmask16 m = tail_mask16(head_dim - d < 16 ? head_dim - d : 16);
        __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + d), vc);
        for (int j = 0; j < n; ++j) {
            a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(m, v + j * v_stride + d), a);
        }
        _mm512_mask_storeu_ps(acc + d, m, a);
    }
}

void f16_to_f32_avx512(const std::uint16_t* src, float* dst, int n) {
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask16(n - i < 16 ? n - i : 16);
        const __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(h));
    }
}

void q8_0_to_f32_avx512(const void* row, std::int64_t begin, int n, float* dst) {
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
            // a whole block: 2 x 16 int8 -> int32 -> float, times d
            const __m512 vd = _mm512_set1_ps(d);
            for (int r = 0; r < 2; ++r) {
                const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * r)));
                _mm512_storeu_ps(dst + i + 16 * r, _mm512_mul_ps(_mm512_cvtepi32_ps(q), vd));
            }
        } else {
            for (int t = 0; t < len; ++t) dst[i + t] = d * static_cast<float>(qs[offset + t]);
        }
        i += len;
    }
}

}  // namespace

const AttentionRowKernels kAttentionRowsAvx512 = {
    scores_avx512, max_avx512, exp_sum_avx512, rescale_accumulate_avx512, f16_to_f32_avx512, q8_0_to_f32_avx512,
};

}  // namespace kvscope
