// AVX2 row kernels of the float types and the 32-element block types, and the Q8_0/Q8_1
// activation quantisers. Integer dots use maddubs (u8 x s8 -> i16 pairs) then madd (-> i32).
// Compiled with -mavx2 -mfma -mf16c; only called on CPUs that have them.

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

// ---- float types: 4 accumulators of 8 lanes, scalar tail

// w 8 elements at w + i -> f32
__m256 load8_f32(const float* w, std::int64_t i) {
    return _mm256_loadu_ps(w + i);
}
__m256 load8_f16(const std::uint16_t* w, std::int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
}
__m256 load8_bf16(const std::uint16_t* w, std::int64_t i) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
float one_f32(const float* w, std::int64_t i) {
    return w[i];
}
float one_f16(const std::uint16_t* w, std::int64_t i) {
    return avx2_fp16_to_f32(w[i]);
}
float one_bf16(const std::uint16_t* w, std::int64_t i) {
    return bf16_to_f32(w[i]);
}

template <typename W, __m256 (*Load8)(const W*, std::int64_t), float (*One)(const W*, std::int64_t)>
float dot_float(std::int64_t n, const void* wv, const float* x) {
    const W* w = static_cast<const W*>(wv);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(Load8(w, i + 8), _mm256_loadu_ps(x + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(Load8(w, i + 16), _mm256_loadu_ps(x + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(Load8(w, i + 24), _mm256_loadu_ps(x + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(x + i), acc0);
    float sum = avx2_hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += One(w, i) * x[i];
    return sum;
}

float dot_f32_f32(std::int64_t n, const void* w, const float* x) {
    return dot_float<float, load8_f32, one_f32>(n, w, x);
}
float dot_f32_f16(std::int64_t n, const void* w, const float* x) {
    return dot_float<std::uint16_t, load8_f16, one_f16>(n, w, x);
}
float dot_f32_bf16(std::int64_t n, const void* w, const float* x) {
    return dot_float<std::uint16_t, load8_bf16, one_bf16>(n, w, x);
}
float dot_f32(std::int64_t n, const void* w, const void* x) {
    return dot_f32_f32(n, w, static_cast<const float*>(x));
}
float dot_f16(std::int64_t n, const void* w, const void* x) {
    return dot_f32_f16(n, w, static_cast<const float*>(x));
}
float dot_bf16(std::int64_t n, const void* w, const void* x) {
    return dot_f32_bf16(n, w, static_cast<const float*>(x));
}

// ---- block types against Q8_0 / Q8_1: per block an int32x8 dot, scaled by d_w * d_x

// One block's share: acc += d_w d_x (w . x) per lane; for the types with a min, mins += m_w s_x
// (s_x = d_x * sum of x's quants).
__m256 block_scale(std::uint16_t dw, std::uint16_t dx) {
    return _mm256_set1_ps(avx2_fp16_to_f32(dw) * avx2_fp16_to_f32(dx));
}

void step_q8_0(const BlockQ8_0& a, const BlockQ8_0& b, __m256& acc, float&) {
    const __m256i p = avx2_dot_i8_i8(avx2_load(a.qs), avx2_load(b.qs));
    acc = _mm256_fmadd_ps(block_scale(a.d, b.d), _mm256_cvtepi32_ps(p), acc);
}

void step_q4_0(const BlockQ4_0& a, const BlockQ8_0& b, __m256& acc, float&) {
    const __m256i q = _mm256_sub_epi8(avx2_unpack_nibbles(a.qs), _mm256_set1_epi8(8));  // -8..7
    acc = _mm256_fmadd_ps(block_scale(a.d, b.d), _mm256_cvtepi32_ps(avx2_dot_i8_i8(q, avx2_load(b.qs))), acc);
}

void step_q5_0(const BlockQ5_0& a, const BlockQ8_0& b, __m256& acc, float&) {
    // (nibble | bit4 << 4) - 16: where bit 4 is clear, setting the top nibble to 0xf gives nibble - 16
    const __m256i high = _mm256_andnot_si256(avx2_expand_bits(avx2_load_u32(a.qh)), _mm256_set1_epi8(-16));
    const __m256i q = _mm256_or_si256(avx2_unpack_nibbles(a.qs), high);  // -16..15
    acc = _mm256_fmadd_ps(block_scale(a.d, b.d), _mm256_cvtepi32_ps(avx2_dot_i8_i8(q, avx2_load(b.qs))), acc);
}

void step_q4_1(const BlockQ4_1& a, const BlockQ8_1& b, __m256& acc, float& mins) {
    const __m256i p = avx2_dot_u8_i8(avx2_unpack_nibbles(a.qs), avx2_load(b.qs));  // 0..15 x -127..127
    acc = _mm256_fmadd_ps(block_scale(a.d, b.d), _mm256_cvtepi32_ps(p), acc);
    mins += avx2_fp16_to_f32(a.m) * avx2_fp16_to_f32(b.s);
}

void step_q5_1(const BlockQ5_1& a, const BlockQ8_1& b, __m256& acc, float& mins) {
    const __m256i high = _mm256_and_si256(avx2_expand_bits(avx2_load_u32(a.qh)), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(avx2_unpack_nibbles(a.qs), high);  // 0..31
    acc = _mm256_fmadd_ps(block_scale(a.d, b.d), _mm256_cvtepi32_ps(avx2_dot_u8_i8(q, avx2_load(b.qs))), acc);
    mins += avx2_fp16_to_f32(a.m) * avx2_fp16_to_f32(b.s);
}

template <typename WBlock, typename XBlock, void (*Step)(const WBlock&, const XBlock&, __m256&, float&)>
float dot_blocks(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const WBlock*>(w);
    const auto* b = static_cast<const XBlock*>(x);
    const std::int64_t num_blocks = n / kQk;
    // two independent chains: with one, every block would wait for the previous block's fma
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float mins0 = 0.0f, mins1 = 0.0f;
    std::int64_t i = 0;
    for (; i + 2 <= num_blocks; i += 2) {
        Step(a[i], b[i], acc0, mins0);
        Step(a[i + 1], b[i + 1], acc1, mins1);
    }
    if (i < num_blocks) Step(a[i], b[i], acc0, mins0);
    return avx2_hsum(_mm256_add_ps(acc0, acc1)) + (mins0 + mins1);
}

// ---- vec_dot_f32 of the block types

// 32 signed bytes -> 4 x 8 floats, fused into acc with x
__m256 fma_i8x32(__m256i q, const float* x, __m256 acc) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), _mm256_loadu_ps(x), acc);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), _mm256_loadu_ps(x + 8), acc);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), _mm256_loadu_ps(x + 16), acc);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), _mm256_loadu_ps(x + 24),
                           acc);
}

float dot_f32_q8_0(std::int64_t n, const void* w, const float* x) {
    const auto* a = static_cast<const BlockQ8_0*>(w);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQk; ++i, x += kQk) {
        const __m256 part = fma_i8x32(avx2_load(a[i].qs), x, _mm256_setzero_ps());
        acc = _mm256_fmadd_ps(_mm256_set1_ps(avx2_fp16_to_f32(a[i].d)), part, acc);
    }
    return avx2_hsum(acc);
}

float dot_f32_q4_0(std::int64_t n, const void* w, const float* x) {
    const auto* a = static_cast<const BlockQ4_0*>(w);
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < n / kQk; ++i, x += kQk) {
        const __m256i q = _mm256_sub_epi8(avx2_unpack_nibbles(a[i].qs), _mm256_set1_epi8(8));
        const __m256 part = fma_i8x32(q, x, _mm256_setzero_ps());
        acc = _mm256_fmadd_ps(_mm256_set1_ps(avx2_fp16_to_f32(a[i].d)), part, acc);
    }
    return avx2_hsum(acc);
}

// The other block types: scalar dequantisation of a block, AVX2 dot.
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

// ---- activation quantisers (same bytes as the scalar ones: same d, id, rounding)

void quantize_to_q8_0(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        const float d = avx2_absmax_32(src) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        __m256i sums[2];
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), avx2_quantize_32(src, _mm256_set1_ps(id), sums));
        b[i].d = f32_to_fp16(d);
    }
}

void quantize_to_q8_1(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_1*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        const float d = avx2_absmax_32(src) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        __m256i sums[2];
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), avx2_quantize_32(src, _mm256_set1_ps(id), sums));
        const int sum = avx2_hsum_i32(_mm256_add_epi32(sums[0], sums[1]));
        b[i].d = f32_to_fp16(d);
        b[i].s = f32_to_fp16(d * static_cast<float>(sum));
    }
}

using T = TensorType;

// {type, vec_dot_type (unused here), dequantize, quantize, vec_dot, vec_dot_f32}; null: the scalar one
constinit const TypeKernels kEntries[] = {
    {T::F32, T::F32, nullptr, nullptr, dot_f32, dot_f32_f32},
    {T::F16, T::F32, nullptr, nullptr, dot_f16, dot_f32_f16},
    {T::BF16, T::F32, nullptr, nullptr, dot_bf16, dot_f32_bf16},
    {T::Q4_0, T::Q8_0, nullptr, nullptr, dot_blocks<BlockQ4_0, BlockQ8_0, step_q4_0>, dot_f32_q4_0},
    {T::Q4_1, T::Q8_1, nullptr, nullptr, dot_blocks<BlockQ4_1, BlockQ8_1, step_q4_1>,
     dot_f32_dequantized<kQk, sizeof(BlockQ4_1), dequantize_q4_1>},
    {T::Q5_0, T::Q8_0, nullptr, nullptr, dot_blocks<BlockQ5_0, BlockQ8_0, step_q5_0>,
     dot_f32_dequantized<kQk, sizeof(BlockQ5_0), dequantize_q5_0>},
    {T::Q5_1, T::Q8_1, nullptr, nullptr, dot_blocks<BlockQ5_1, BlockQ8_1, step_q5_1>,
     dot_f32_dequantized<kQk, sizeof(BlockQ5_1), dequantize_q5_1>},
    {T::Q8_0, T::Q8_0, nullptr, quantize_to_q8_0, dot_blocks<BlockQ8_0, BlockQ8_0, step_q8_0>, dot_f32_q8_0},
    {T::Q8_1, T::F32, nullptr, quantize_to_q8_1, nullptr, nullptr},
};

}  // namespace

constinit const KernelList kAvx2Kernels = {kEntries, static_cast<int>(sizeof(kEntries) / sizeof(kEntries[0]))};

}  // namespace kvscope::cpu
