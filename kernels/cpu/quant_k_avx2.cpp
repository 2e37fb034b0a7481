// AVX2 row kernels of the K-quants (dot with Q8_K) and the Q8_K activation quantiser.
// Per super-block: maddubs (u8 quants x s8 activations) -> i16 pairs, madd with the sub-block
// scales -> i32, one float fma with d_w * d_x. Compiled with -mavx2 -mfma -mf16c.

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/q6_k_avx2.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

// sum over sub-blocks s of mn[s] * (bsums[2s] + bsums[2s + 1]): the min terms of Q4_K/Q5_K
__m128i mins_dot_bsums(const std::uint8_t* mn, const std::int16_t* bsums) {
    const __m256i bs = avx2_load(bsums);
    const __m128i pair_sums = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
    return _mm_madd_epi16(mins, pair_sums);  // 4 x i32
}

float sum_m128(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

// Q4_K against kRows activation rows (x, x + x_stride, ...): the nibbles and scales of each
// super-block are unpacked once for all of them; out[t] is row t's dot, the same for any kRows.
template <int kRows>
void dot_q4_k_rows(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out) {
    const auto* a = static_cast<const BlockQ4_K*>(w);
    const BlockQ8_K* b[kRows];
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256 acc[kRows];
    __m128 acc_mins[kRows];
    for (int t = 0; t < kRows; ++t) {
        b[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const std::uint8_t*>(x) + t * x_stride);
        acc[t] = _mm256_setzero_ps();
        acc_mins[t] = _mm_setzero_ps();
    }
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(a[i].scales, sc, mn);
        const float dw = avx2_fp16_to_f32(a[i].d), dminw = avx2_fp16_to_f32(a[i].dmin);
        __m256i sumi[kRows];
        for (int t = 0; t < kRows; ++t) {
            const float dmin = b[t][i].d * dminw;
            acc_mins[t] =
                _mm_fmadd_ps(_mm_set1_ps(-dmin), _mm_cvtepi32_ps(mins_dot_bsums(mn, b[t][i].bsums)), acc_mins[t]);
            sumi[t] = _mm256_setzero_si256();
        }
        for (int c = 0; c < 4; ++c) {
            // 64 elements: low nibbles are sub-block 2c, high nibbles 2c + 1
            const __m256i q4 = avx2_load(a[i].qs + 32 * c);
            const __m256i lo = _mm256_and_si256(q4, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
            const __m256i sc_lo = _mm256_set1_epi16(static_cast<short>(sc[2 * c]));
            const __m256i sc_hi = _mm256_set1_epi16(static_cast<short>(sc[2 * c + 1]));
            for (int t = 0; t < kRows; ++t) {
                const __m256i p_lo = _mm256_maddubs_epi16(lo, avx2_load(b[t][i].qs + 64 * c));
                const __m256i p_hi = _mm256_maddubs_epi16(hi, avx2_load(b[t][i].qs + 64 * c + 32));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p_lo, sc_lo));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p_hi, sc_hi));
            }
        }
        for (int t = 0; t < kRows; ++t) {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b[t][i].d * dw), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < kRows; ++t) out[t] = avx2_hsum(acc[t]) + sum_m128(acc_mins[t]);
}

float dot_q4_k(std::int64_t n, const void* w, const void* x) {
    float out;
    dot_q4_k_rows<1>(n, w, x, 0, &out);
    return out;
}

}  // namespace

void dot4_q4_k_avx2(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out) {
    dot_q4_k_rows<4>(n, w, x, x_stride, out);
}

namespace {

float dot_q5_k(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i bit0 = _mm256_set1_epi8(0x01);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_mins = _mm_setzero_ps();
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(a[i].scales, sc, mn);
        const float d = b[i].d * avx2_fp16_to_f32(a[i].d);
        const float dmin = b[i].d * avx2_fp16_to_f32(a[i].dmin);
        acc_mins = _mm_fmadd_ps(_mm_set1_ps(-dmin), _mm_cvtepi32_ps(mins_dot_bsums(mn, b[i].bsums)), acc_mins);
        __m256i hbits = avx2_load(a[i].qh);  // shifted right by 2 per chunk: bits 0, 1 are chunk c's
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i q4 = avx2_load(a[i].qs + 32 * c);
            const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(hbits, bit0), 4);
            const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), bit0), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, low4), h_lo);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4), h_hi);
            const __m256i p_lo = _mm256_maddubs_epi16(lo, avx2_load(b[i].qs + 64 * c));
            const __m256i p_hi = _mm256_maddubs_epi16(hi, avx2_load(b[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(static_cast<short>(sc[2 * c]))));
            sumi =
                _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(static_cast<short>(sc[2 * c + 1]))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return avx2_hsum(acc) + sum_m128(acc_mins);
}

// The scales of vector k of half h: 32 elements, two sub-blocks of 16, the low 128-bit lane first.
__m256i q6_scale(const BlockQ6_K& a, int h, int k) {
    const std::int8_t* sc = a.scales + 8 * h + 2 * k;
    return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
}

// The quants are stored +32: sum sc (q - 32) y = sum sc q y - 32 sum_s sc[s] bsums[s]; this is the
// second term, where a super-block's integer sum starts.
__m256i q6_offset(const BlockQ6_K& a, const BlockQ8_K& b) {
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.scales)));
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(scales16, avx2_load(b.bsums)), 5));
}

// Q6_K against kRows activation rows, as dot_q4_k_rows: the quants and scales unpacked once.
template <int kRows>
void dot_q6_k_rows(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const BlockQ8_K* b[kRows];
    __m256 acc[kRows];
    for (int t = 0; t < kRows; ++t) {
        b[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const std::uint8_t*>(x) + t * x_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const float dw = avx2_fp16_to_f32(a[i].d);
        __m256i sumi[kRows];
        for (int t = 0; t < kRows; ++t) sumi[t] = q6_offset(a[i], b[t][i]);
        for (int h = 0; h < 2; ++h) {
            __m256i q[4];
            avx2_unpack_q6_half(a[i], h, q);
            for (int k = 0; k < 4; ++k) {
                const __m256i scale = q6_scale(a[i], h, k);
                for (int t = 0; t < kRows; ++t) {
                    const __m256i p = _mm256_maddubs_epi16(q[k], avx2_load(b[t][i].qs + 128 * h + 32 * k));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, scale));
                }
            }
        }
        for (int t = 0; t < kRows; ++t) {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b[t][i].d * dw), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < kRows; ++t) out[t] = avx2_hsum(acc[t]);
}

float dot_q6_k(std::int64_t n, const void* w, const void* x) {
    float out;
    dot_q6_k_rows<1>(n, w, x, 0, &out);
    return out;
}

}  // namespace

void dot4_q6_k_avx2(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out) {
    dot_q6_k_rows<4>(n, w, x, x_stride, out);
}

namespace {

// Same bytes as the scalar quantize_q8_k: same d, id and rounding.
void quantize_to_q8_k(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_K*>(dst);
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < kQkK; j += 8) m = _mm256_max_ps(m, avx2_abs(_mm256_loadu_ps(src + j)));
        const float amax = avx2_hmax(m);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        const __m256 vid = _mm256_set1_ps(id);
        for (int j = 0; j < kQkK; j += 32) {
            __m256i sums[2];
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + j), avx2_quantize_32(src + j, vid, sums));
            b[i].bsums[j / 16] = static_cast<std::int16_t>(avx2_hsum_i32(sums[0]));
            b[i].bsums[j / 16 + 1] = static_cast<std::int16_t>(avx2_hsum_i32(sums[1]));
        }
    }
}

template <int kBlockElems, std::size_t kBlockBytes, void (*Dequantize)(const void*, float*, std::int64_t)>
float dot_f32_dequantized(std::int64_t n, const void* w, const float* x) {
    alignas(32) float buf[kBlockElems];
    const auto* block = static_cast<const std::uint8_t*>(w);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n; i += kBlockElems, block += kBlockBytes) {
        Dequantize(block, buf, kBlockElems);
        for (int j = 0; j < kBlockElems; j += 8) {
            acc = _mm256_fmadd_ps(_mm256_load_ps(buf + j), _mm256_loadu_ps(x + i + j), acc);
        }
    }
    return avx2_hsum(acc);
}

using T = TensorType;

// {type, vec_dot_type (unused here), dequantize, quantize, vec_dot, vec_dot_f32}; null: the scalar one
constinit const TypeKernels kEntries[] = {
    {T::Q4_K, T::Q8_K, nullptr, quantize_q4_k_avx2, dot_q4_k,
     dot_f32_dequantized<kQkK, sizeof(BlockQ4_K), dequantize_q4_k>},
    {T::Q5_K, T::Q8_K, nullptr, quantize_q5_k_avx2, dot_q5_k,
     dot_f32_dequantized<kQkK, sizeof(BlockQ5_K), dequantize_q5_k>},
    {T::Q6_K, T::Q8_K, nullptr, quantize_q6_k_avx2, dot_q6_k,
     dot_f32_dequantized<kQkK, sizeof(BlockQ6_K), dequantize_q6_k>},
    {T::Q8_K, T::F32, nullptr, quantize_to_q8_k, nullptr, nullptr},
};

}  // namespace

constinit const KernelList kAvx2KKernels = {kEntries, static_cast<int>(sizeof(kEntries) / sizeof(kEntries[0]))};

}  // namespace kvscope::cpu
