// AVX2 + FMA row kernels (see rows_simd.h). Compiled with -mavx2 -mfma -mf16c. Uses no inline
// function from a shared header (std::sqrt and the like): a copy compiled here could be picked
// by the linker for baseline callers.

#include "kernels/cpu/rows_simd.h"
#include "kernels/cpu/simd_avx2.h"

namespace kvscope::avx2 {

void rms_norm_row(const float* x, const float* w, float* y, std::int64_t dim, float eps) {
    // 1. sum of squares: two accumulators of 8 lanes, then the tail
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        acc0 = _mm256_fmadd_ps(a, a, acc0);
        acc1 = _mm256_fmadd_ps(b, b, acc1);
    }
    for (; i + 8 <= dim; i += 8) {
        const __m256 a = _mm256_loadu_ps(x + i);
        acc0 = _mm256_fmadd_ps(a, a, acc0);
    }
    float sum_sq = cpu::avx2_hsum(_mm256_add_ps(acc0, acc1));
    for (; i < dim; ++i) sum_sq += x[i] * x[i];
    // 2. y = x * rsqrt(mean + eps) * w
    const float inv_rms = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(sum_sq / static_cast<float>(dim) + eps)));
    const __m256 scale = _mm256_set1_ps(inv_rms);
    for (i = 0; i + 8 <= dim; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), scale), _mm256_loadu_ps(w + i)));
    }
    for (; i < dim; ++i) y[i] = x[i] * inv_rms * w[i];
}

void swiglu(const float* gate, const float* up, float* out, std::int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    std::int64_t i = 0;
    // silu(g) * u = g * u / (1 + e^-g), 8 lanes at a time; the tail through a masked load
    for (; i < n; i += 8) {
        const int count = n - i >= 8 ? 8 : static_cast<int>(n - i);
        const __m256i mask = cpu::avx2_tail_mask(count);
        const __m256 g = _mm256_maskload_ps(gate + i, mask);
        const __m256 u = _mm256_maskload_ps(up + i, mask);
        const __m256 e = cpu::avx2_exp(_mm256_xor_ps(g, sign));
        const __m256 r = _mm256_div_ps(_mm256_mul_ps(g, u), _mm256_add_ps(one, e));
        _mm256_maskstore_ps(out + i, mask, r);
    }
}

void softmax(float* x, std::int64_t n) {
    // 1. the largest entry (masked-off tail lanes read as -inf)
    const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
    __m256 vmax = neg_inf;
    for (std::int64_t i = 0; i < n; i += 8) {
        const int count = n - i >= 8 ? 8 : static_cast<int>(n - i);
        const __m256i mask = cpu::avx2_tail_mask(count);
        const __m256 v = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask));
        vmax = _mm256_max_ps(vmax, v);
    }
    const float max = cpu::avx2_hmax(vmax);
    if (max == -__builtin_inff()) {
        for (std::int64_t i = 0; i < n; ++i) x[i] = 0.0f;  // all -inf: no distribution
        return;
    }
    // 2. exponentiate and sum; per-lane float sums are folded into a double every 1024 values
    const __m256 vm = _mm256_set1_ps(max);
    double sum = 0.0;
    __m256 vsum = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n; i += 8) {
        const int count = n - i >= 8 ? 8 : static_cast<int>(n - i);
        const __m256i mask = cpu::avx2_tail_mask(count);
        const __m256 v = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask));
        const __m256 e = cpu::avx2_exp(_mm256_sub_ps(v, vm));
        _mm256_maskstore_ps(x + i, mask, e);
        vsum = _mm256_add_ps(vsum, e);
        if ((i & 1023) == 1016) {
            sum += cpu::avx2_hsum(vsum);
            vsum = _mm256_setzero_ps();
        }
    }
    sum += cpu::avx2_hsum(vsum);
    // 3. normalise
    const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / sum));
    for (std::int64_t i = 0; i < n; i += 8) {
        const int count = n - i >= 8 ? 8 : static_cast<int>(n - i);
        const __m256i mask = cpu::avx2_tail_mask(count);
        _mm256_maskstore_ps(x + i, mask, _mm256_mul_ps(_mm256_maskload_ps(x + i, mask), inv));
    }
}

}  // namespace kvscope::avx2
