#pragma once
// Tiles of two groups (16 weight rows) in 512-bit vectors for the AVX-512 level: lanes 0-7 are
// group g's rows and lanes 8-15 group g+1's, so one dpbusd does the multiply-adds of two 256-bit
// ones. Each lane does exactly the operations, in the same order, of gemm_x8_tiles.h's tile over
// its own group: a row's result does not depend on whether its group was paired. Included by
// gemm_x8_tiles.h when KVSCOPE_GEMM_VNNI is defined (gemm_x8_avx512.cpp), after the 256-bit
// formats and tile, whose block layout and scales these reuse.

namespace kvscope::cpu {
namespace {

__m512i load_pair(const std::uint8_t* a, const std::uint8_t* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load(a)), load(b), 1);
}

__m512 pair(__m256 a, __m256 b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
}

__m512i broadcast4_512(const std::int8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// The 8 rows' dots of nibble_dots for blocks ga (group g) and gb (group g+1) side by side.
// Always inlined: called, the tile's accumulators would go through memory every block.
template <int T, bool kFifthBit>
[[gnu::always_inline]] inline void nibble_dots_pair(const std::uint8_t* ga, const std::uint8_t* gb,
                                                    const std::int8_t* const* xq, __m512* dot) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    [[maybe_unused]] const __m512i bit4 = _mm512_set1_epi8(0x10);
    [[maybe_unused]] __m512i fifth;
    if constexpr (kFifthBit) fifth = load_pair(ga + kQ4GroupBlockBytes, gb + kQ4GroupBlockBytes);
    __m512i sum[T], sum_hi[T];  // two chains per row: dpbusd's latency is hidden by 2T of them
    for (int t = 0; t < T; ++t) sum[t] = sum_hi[t] = _mm512_setzero_si512();
#pragma GCC unroll 1
    for (int j = 0; j < 4; ++j) {
        const __m512i v = load_pair(ga + 16 + 32 * j, gb + 16 + 32 * j);
        __m512i lo = _mm512_and_si512(v, low4);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        if constexpr (kFifthBit) {
            lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16(fifth, 4), bit4));
            hi = _mm512_or_si512(hi, _mm512_and_si512(fifth, bit4));
            fifth = _mm512_srli_epi16(fifth, 1);
        }
        for (int t = 0; t < T; ++t) {
            sum[t] = _mm512_dpbusd_epi32(sum[t], lo, broadcast4_512(xq[t] + 4 * j));
            sum_hi[t] = _mm512_dpbusd_epi32(sum_hi[t], hi, broadcast4_512(xq[t] + 16 + 4 * j));
        }
    }
    for (int t = 0; t < T; ++t) dot[t] = _mm512_cvtepi32_ps(_mm512_add_epi32(sum[t], sum_hi[t]));
}

// Per 256-bit format: its dots and accumulation on pairs of groups.
template <typename Format>
struct PairOf;

template <>
struct PairOf<Q4_0Format> {
    using Scales = __m512;
    static __m512 scales(__m256 a, __m256 b) { return pair(a, b); }
    template <int T>
    [[gnu::always_inline]] static void dots(const std::uint8_t* ga, const std::uint8_t* gb,
                                            const std::int8_t* const* xq, __m512* dot) {
        nibble_dots_pair<T, false>(ga, gb, xq, dot);
    }
    static __m512 accumulate(__m512 acc, __m512 dw, __m512 dot, const float* xd) {
        const __m512 block = _mm512_fmsub_ps(dot, _mm512_set1_ps(xd[0]), _mm512_set1_ps(xd[1]));
        return _mm512_fmadd_ps(dw, block, acc);
    }
};

template <>
struct PairOf<Q8_0Format> {
    using Scales = __m512;
    static __m512 scales(__m256 a, __m256 b) { return pair(a, b); }
    // |w| times x with w's sign: dpbusd takes the unsigned operand first (|-128| = 128 as u8)
    template <int T>
    [[gnu::always_inline]] static void dots(const std::uint8_t* ga, const std::uint8_t* gb,
                                            const std::int8_t* const* xq, __m512* dot) {
        __m512i sum[T];
        for (int t = 0; t < T; ++t) sum[t] = _mm512_setzero_si512();
        const __m512i zero = _mm512_setzero_si512();
#pragma GCC unroll 1
        for (int j = 0; j < 8; ++j) {
            const __m512i v = load_pair(ga + 16 + 32 * j, gb + 16 + 32 * j);
            const __m512i magnitude = _mm512_abs_epi8(v);
            const __mmask64 negative = _mm512_movepi8_mask(v);
            for (int t = 0; t < T; ++t) {
                const __m512i x = broadcast4_512(xq[t] + 4 * j);
                sum[t] = _mm512_dpbusd_epi32(sum[t], magnitude, _mm512_mask_sub_epi8(x, negative, zero, x));
            }
        }
        for (int t = 0; t < T; ++t) dot[t] = _mm512_cvtepi32_ps(sum[t]);
    }
    static __m512 accumulate(__m512 acc, __m512 dw, __m512 dot, const float* xd) {
        return _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xd[0])), dot, acc);
    }
};

template <bool kFifthBit>
struct PairOf<KQuantFormat<kFifthBit>> {
    using Single = typename KQuantFormat<kFifthBit>::Scales;
    struct Scales {
        __m512 d;
        __m512 min8;
    };
    static Scales scales(const Single& a, const Single& b) { return {pair(a.d, b.d), pair(a.min8, b.min8)}; }
    template <int T>
    [[gnu::always_inline]] static void dots(const std::uint8_t* ga, const std::uint8_t* gb,
                                            const std::int8_t* const* xq, __m512* dot) {
        nibble_dots_pair<T, kFifthBit>(ga, gb, xq, dot);
    }
    static __m512 accumulate(__m512 acc, const Scales& s, __m512 dot, const float* xd) {
        acc = _mm512_fmadd_ps(s.d, _mm512_mul_ps(dot, _mm512_set1_ps(xd[0])), acc);
        return _mm512_fnmadd_ps(s.min8, _mm512_set1_ps(xd[1]), acc);
    }
};

// T activation rows (from t0) against groups g (at `group`) and g+1, written to y: the 16 outputs
// of a row are adjacent (row r of group g at 8g + r).
template <typename Format, int T>
void pair_tile(const GemmX8Args& a, const std::uint8_t* group, std::int64_t t0, float* y, const PanelPrefetch& pf) {
    using Pair = PairOf<Format>;
    const std::uint8_t* next = group + a.group_bytes;
    __m512 acc[T];
    const std::int8_t* xrow[T];
    const float* xd[T];
    for (int t = 0; t < T; ++t) {
        acc[t] = _mm512_setzero_ps();
        xrow[t] = reinterpret_cast<const std::int8_t*>(a.x + (t0 + t) * a.x_row_bytes) + 2;
        xd[t] = a.xd + (t0 + t) * a.num_blocks * 2;
    }
    for (std::int64_t b = 0; b < a.num_blocks; ++b) {
        const std::uint8_t* ga = Format::block(group, b);
        const std::uint8_t* gb = Format::block(next, b);
        if constexpr (T == 1) {
            _mm_prefetch(reinterpret_cast<const char*>(ga) + kPrefetchBytes, _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(gb) + kPrefetchBytes, _MM_HINT_T0);
        }
        prefetch_share(pf, b);
        const std::int8_t* xq[T];
        for (int t = 0; t < T; ++t) xq[t] = xrow[t] + b * kQ8Bytes;
        __m512 dot[T];
        Pair::template dots<T>(ga, gb, xq, dot);
        const typename Pair::Scales scales = Pair::scales(Format::scales(group, ga, b), Format::scales(next, gb, b));
        for (int t = 0; t < T; ++t) acc[t] = Pair::accumulate(acc[t], scales, dot[t], xd[t] + 2 * b);
    }
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * a.ldy, acc[t]);
}

}  // namespace
}  // namespace kvscope::cpu
