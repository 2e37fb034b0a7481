#pragma once
// AVX2 building blocks of the row kernels. Include only from files compiled with the AVX2 flags
// (*_avx2.cpp, *_avx512.cpp). Everything is `static inline`: internal to each such file, so no
// AVX2 copy of a helper can be picked by the linker for baseline code.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace kvscope::cpu {

// binary16 -> f32 with the F16C instruction
static inline float avx2_fp16_to_f32(std::uint16_t h) {
    return _cvtsh_ss(h);
}

// sum of the 8 lanes
static inline float avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// max of the 8 lanes
static inline float avx2_hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// sum of the 8 int32 lanes
static inline int avx2_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// |v| lane-wise
static inline __m256 avx2_abs(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

// u (unsigned bytes) . s (signed bytes), 4 products summed per int32 lane. maddubs saturates
// its pair sums at int16: callers keep |u * s| * 2 below 32768.
static inline __m256i avx2_dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// a . b for signed bytes: move a's sign onto b so the unsigned operand is |a|. b must not
// hold -128 (activations are quantised to -127..127).
static inline __m256i avx2_dot_i8_i8(__m256i a, __m256i b) {
    return avx2_dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

// 16 bytes of nibble pairs -> 32 bytes: low nibbles (elements 0..15), then high (16..31)
static inline __m256i avx2_unpack_nibbles(const std::uint8_t* qs) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// 32 bits -> 32 bytes, byte i = 0xff where bit i is set, else 0
static inline __m256i avx2_expand_bits(std::uint32_t bits) {
    // byte i takes the source byte holding bit i, then tests its own bit
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

static inline __m256i avx2_load(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

static inline std::uint32_t avx2_load_u32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// 32 floats -> 32 int8 rounded to nearest even (x * id must stay within int8; packs saturate)
static inline __m256i avx2_quantize_32(const float* x, __m256 id, __m256i* sums_i32) {
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    sums_i32[0] = _mm256_add_epi32(i0, i1);  // elements 0..15
    sums_i32[1] = _mm256_add_epi32(i2, i3);  // elements 16..31
    // packs work per 128-bit lane; the permute restores element order
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// max |x[j]| over 32 floats
static inline float avx2_absmax_32(const float* x) {
    __m256 m = avx2_abs(_mm256_loadu_ps(x));
    m = _mm256_max_ps(m, avx2_abs(_mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(m, avx2_abs(_mm256_loadu_ps(x + 16)));
    m = _mm256_max_ps(m, avx2_abs(_mm256_loadu_ps(x + 24)));
    return avx2_hmax(m);
}

// e^x per lane, relative error below ~2e-7 for x in [-87.3, 88.3]. Lanes with x < -87.3
// (including -inf) give exactly 0; lanes above 88.3 are clamped to e^88.3 (softmax and SiLU
// never need more). Method: x = n ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor
// polynomial, times 2^n built in the exponent bits.
static inline __m256 avx2_exp(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);  // false for x < lo and nan
    x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // r = x - n ln2, with ln2 split in two so that n * ln2_hi is exact
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.4286068202862268e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    // 2^n: n + 127 in the exponent field (n is in [-126, 127] after the clamp)
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), underflow);
}

// Mask for _mm256_maskload_ps / _mm256_maskstore_ps: the first `count` lanes (0..8).
static inline __m256i avx2_tail_mask(int count) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes);
}

}  // namespace kvscope::cpu
