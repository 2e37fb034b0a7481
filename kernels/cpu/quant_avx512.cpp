// AVX-512 row kernels for the most used types: F32/F16 dots, Q8_0/Q4_0 (two blocks per 512-bit
// register), Q4_K/Q6_K dots with VNNI (dpbusd: u8 x s8, four products summed into i32, no
// saturation; Q6_K also against 4 activation rows at once), and the Q8_0/Q8_K activation
// quantisers. Every other kernel of this level is the AVX2 one. Compiled with the AVX2 flags plus
// -mavx512f/bw/vl/dq/vnni.
//
// KVSCOPE_AVX512_EMULATED: tests/kernels/quant_avx512_emu_test.cpp compiles this file once more
// with the intrinsics emulated in portable code (SIMDe), to check it on CPUs without AVX-512.

// GCC 12's avx512fintrin.h trips -Wuninitialized in its _mm512_undefined_* helpers once they are
// inlined here (GCC bug 105593); the warnings are about the header, not this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(KVSCOPE_AVX512_EMULATED)
#define KVSCOPE_AVX512_LIST kAvx512EmulatedKernels
#define KVSCOPE_AVX512_DOT4_Q6_K dot4_q6_k_avx512_emulated
#else
#include <immintrin.h>
#define KVSCOPE_AVX512_LIST kAvx512Kernels
#define KVSCOPE_AVX512_DOT4_Q6_K dot4_q6_k_avx512
#endif

#include <cstdint>

#include "kernels/cpu/q6_k_avx2.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

float hsum512(__m512 v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm512_extractf32x8_ps(v, 1);
    return avx2_hsum(_mm256_add_ps(lo, hi));
}

float hmax512(__m512 v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm512_extractf32x8_ps(v, 1);
    return avx2_hmax(_mm256_max_ps(lo, hi));
}

__m512 abs512(__m512 v) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

// two 32-byte halves -> one register
__m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// lanes 0..7 = a, 8..15 = b
__m512 join_scalars(float a, float b) {
    return _mm512_mask_blend_ps(static_cast<__mmask16>(0xff00), _mm512_set1_ps(a), _mm512_set1_ps(b));
}
__m512i join_ints(int a, int b) {
    return _mm512_mask_blend_epi32(static_cast<__mmask16>(0xff00), _mm512_set1_epi32(a), _mm512_set1_epi32(b));
}

// ---- float types: 4 accumulators of 16 lanes, then 8-wide and scalar tails

__m512 load16_f32(const float* w, std::int64_t i) {
    return _mm512_loadu_ps(w + i);
}
__m512 load16_f16(const std::uint16_t* w, std::int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
}
__m256 load8_f32(const float* w, std::int64_t i) {
    return _mm256_loadu_ps(w + i);
}
__m256 load8_f16(const std::uint16_t* w, std::int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
}
float one_f32(const float* w, std::int64_t i) {
    return w[i];
}
float one_f16(const std::uint16_t* w, std::int64_t i) {
    return avx2_fp16_to_f32(w[i]);
}

template <typename W, __m512 (*Load16)(const W*, std::int64_t), __m256 (*Load8)(const W*, std::int64_t),
          float (*One)(const W*, std::int64_t)>
float dot_float(std::int64_t n, const void* wv, const float* x) {
    const W* w = static_cast<const W*>(wv);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    std::int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(Load16(w, i), _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(Load16(w, i + 16), _mm512_loadu_ps(x + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(Load16(w, i + 32), _mm512_loadu_ps(x + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(Load16(w, i + 48), _mm512_loadu_ps(x + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(Load16(w, i), _mm512_loadu_ps(x + i), acc0);
    __m256 acc8 = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) acc8 = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(x + i), acc8);
    float sum = hsum512(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3))) + avx2_hsum(acc8);
    for (; i < n; ++i) sum += One(w, i) * x[i];
    return sum;
}

float dot_f32_f32(std::int64_t n, const void* w, const float* x) {
    return dot_float<float, load16_f32, load8_f32, one_f32>(n, w, x);
}
float dot_f32_f16(std::int64_t n, const void* w, const float* x) {
    return dot_float<std::uint16_t, load16_f16, load8_f16, one_f16>(n, w, x);
}
float dot_f32(std::int64_t n, const void* w, const void* x) {
    return dot_f32_f32(n, w, static_cast<const float*>(x));
}
float dot_f16(std::int64_t n, const void* w, const void* x) {
    return dot_f32_f16(n, w, static_cast<const float*>(x));
}

// ---- Q8_0 / Q4_0 against Q8_0: two blocks per register, the odd last one 256-bit

// a . b for signed bytes with VNNI: |a| as the unsigned operand, a's sign moved onto b
__m512i dot_i8_i8(__m512i a, __m512i b) {
    const __m512i b_signed = _mm512_mask_sub_epi8(b, _mm512_movepi8_mask(a), _mm512_setzero_si512(), b);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(a), b_signed);
}
__m256i dot_i8_i8(__m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

float scale_of(const BlockQ8_0& a, const BlockQ8_0& b) {
    return avx2_fp16_to_f32(a.d) * avx2_fp16_to_f32(b.d);
}
float scale_of(const BlockQ4_0& a, const BlockQ8_0& b) {
    return avx2_fp16_to_f32(a.d) * avx2_fp16_to_f32(b.d);
}

// the block's quants as signed bytes
__m256i quants(const BlockQ8_0& a) {
    return avx2_load(a.qs);
}
__m256i quants(const BlockQ4_0& a) {
    return _mm256_sub_epi8(avx2_unpack_nibbles(a.qs), _mm256_set1_epi8(8));
}

template <typename Block>
float dot_blocks_q8_0(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    const std::int64_t num_blocks = n / kQk;
    __m512 acc = _mm512_setzero_ps();
    std::int64_t i = 0;
    for (; i + 2 <= num_blocks; i += 2) {
        const __m512i p =
            dot_i8_i8(join(quants(a[i]), quants(a[i + 1])), join(avx2_load(b[i].qs), avx2_load(b[i + 1].qs)));
        acc = _mm512_fmadd_ps(join_scalars(scale_of(a[i], b[i]), scale_of(a[i + 1], b[i + 1])), _mm512_cvtepi32_ps(p),
                              acc);
    }
    float sum = hsum512(acc);
    if (i < num_blocks) {
        const __m256i p = dot_i8_i8(quants(a[i]), avx2_load(b[i].qs));
        sum += scale_of(a[i], b[i]) * avx2_hsum(_mm256_cvtepi32_ps(p));
    }
    return sum;
}

// ---- K-quants against Q8_K

float dot_q4_k(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m512 acc = _mm512_setzero_ps();
    float sum_mins = 0.0f;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(a[i].scales, sc, mn);
        int mins = 0;
        for (int s = 0; s < 8; ++s) mins += mn[s] * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
        sum_mins += b[i].d * avx2_fp16_to_f32(a[i].dmin) * static_cast<float>(mins);
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
            // 64 elements: lanes 0..7 sub-block 2c (low nibbles), 8..15 sub-block 2c + 1 (high)
            const __m256i q4 = avx2_load(a[i].qs + 32 * c);
            const __m512i q = join(_mm256_and_si256(q4, low4), _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4));
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(b[i].qs + 64 * c));
            sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, join_ints(sc[2 * c], sc[2 * c + 1])));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(b[i].d * avx2_fp16_to_f32(a[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    }
    return hsum512(acc) - sum_mins;
}

// Q6_K against kRows activation rows (x, x + x_stride, ...): the quants and scales of a
// super-block are unpacked once for all of them, and each row's result is the one-row dot's, bit
// for bit (the same operations in the same order).
template <int kRows>
void dot_q6_k_rows(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const BlockQ8_K* b[kRows];
    for (int t = 0; t < kRows; ++t) {
        b[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const std::uint8_t*>(x) + t * x_stride);
    }
    // lane l of a 64-element product covers elements 4l..4l+3, i.e. sub-block l / 4
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc[kRows];
    float sum_offsets[kRows];
    for (int t = 0; t < kRows; ++t) {
        acc[t] = _mm512_setzero_ps();
        sum_offsets[t] = 0.0f;
    }
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        // quants are stored +32: subtract 32 * sum_s sc[s] bsums[s] (as the AVX2 kernel)
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales)));
        const __m512i scales32 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales)));
        __m512i sumi[kRows];
        for (int t = 0; t < kRows; ++t) sumi[t] = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            __m256i q[4];
            avx2_unpack_q6_half(a[i], h, q);
            const __m512i q01 = join(q[0], q[1]), q23 = join(q[2], q[3]);
            const __m512i sc01 = _mm512_permutexvar_epi32(_mm512_add_epi32(spread, _mm512_set1_epi32(8 * h)), scales32);
            const __m512i sc23 =
                _mm512_permutexvar_epi32(_mm512_add_epi32(spread, _mm512_set1_epi32(8 * h + 4)), scales32);
            for (int t = 0; t < kRows; ++t) {
                const std::int8_t* y = b[t][i].qs + 128 * h;
                const __m512i p01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q01, _mm512_loadu_si512(y));
                const __m512i p23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q23, _mm512_loadu_si512(y + 64));
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p01, sc01));
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p23, sc23));
            }
        }
        for (int t = 0; t < kRows; ++t) {
            const int offset = avx2_hsum_i32(_mm256_madd_epi16(scales16, avx2_load(b[t][i].bsums)));
            const float d = b[t][i].d * avx2_fp16_to_f32(a[i].d);
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
            sum_offsets[t] += d * static_cast<float>(32 * offset);
        }
    }
    for (int t = 0; t < kRows; ++t) out[t] = hsum512(acc[t]) - sum_offsets[t];
}

float dot_q6_k(std::int64_t n, const void* w, const void* x) {
    float out;
    dot_q6_k_rows<1>(n, w, x, 0, &out);
    return out;
}

// ---- activation quantisers (same bytes as the scalar ones: same d, id, rounding)

// 16 floats * id -> 16 int8 (rounded to nearest even, saturated), stored at q; returns their sum
int quantize_16(const float* x, __m512 id, std::int8_t* q) {
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(v));
    return _mm512_reduce_add_epi32(v);
}

void quantize_to_q8_0(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        const float amax = hmax512(_mm512_max_ps(abs512(_mm512_loadu_ps(src)), abs512(_mm512_loadu_ps(src + 16))));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        quantize_16(src, _mm512_set1_ps(id), b[i].qs);
        quantize_16(src + 16, _mm512_set1_ps(id), b[i].qs + 16);
        b[i].d = f32_to_fp16(d);
    }
}

void quantize_to_q8_k(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_K*>(dst);
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < kQkK; j += 16) m = _mm512_max_ps(m, abs512(_mm512_loadu_ps(src + j)));
        const float amax = hmax512(m);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        const __m512 vid = _mm512_set1_ps(id);
        for (int g = 0; g < kQkK / 16; ++g) {
            b[i].bsums[g] = static_cast<std::int16_t>(quantize_16(src + 16 * g, vid, b[i].qs + 16 * g));
        }
    }
}

using T = TensorType;

// {type, vec_dot_type (unused here), dequantize, quantize, vec_dot, vec_dot_f32}; null: the AVX2 one
constinit const TypeKernels kEntries[] = {
    {T::F32, T::F32, nullptr, nullptr, dot_f32, dot_f32_f32},
    {T::F16, T::F32, nullptr, nullptr, dot_f16, dot_f32_f16},
    {T::Q4_0, T::Q8_0, nullptr, nullptr, dot_blocks_q8_0<BlockQ4_0>, nullptr},
    {T::Q8_0, T::Q8_0, nullptr, quantize_to_q8_0, dot_blocks_q8_0<BlockQ8_0>, nullptr},
    {T::Q4_K, T::Q8_K, nullptr, nullptr, dot_q4_k, nullptr},
    {T::Q6_K, T::Q8_K, nullptr, nullptr, dot_q6_k, nullptr},
    {T::Q8_K, T::F32, nullptr, quantize_to_q8_k, nullptr, nullptr},
};

}  // namespace

constinit const KernelList KVSCOPE_AVX512_LIST = {kEntries, static_cast<int>(sizeof(kEntries) / sizeof(kEntries[0]))};

void KVSCOPE_AVX512_DOT4_Q6_K(std::int64_t n, const void* w, const void* x, std::size_t x_stride, float* out) {
    dot_q6_k_rows<4>(n, w, x, x_stride, out);
}

}  // namespace kvscope::cpu

#undef KVSCOPE_AVX512_LIST
#undef KVSCOPE_AVX512_DOT4_Q6_K
