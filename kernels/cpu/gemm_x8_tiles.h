#pragma once
// The tile loops of the packed-weight kernels (see gemm_x8.h, packed_weight.h), shared by
// gemm_x8_avx2.cpp (maddubs + madd) and gemm_x8_avx512.cpp (KVSCOPE_GEMM_VNNI defined: VNNI
// dpbusd, and tiles of two groups in 512-bit vectors, gemm_x8_pairs.h). Include only from those
// files: everything here has internal linkage, and the including file supplies <immintrin.h> (or
// its emulation).
//
// Lane r of every vector is weight row r of the group: 4 quants of each row times 4 activation
// quants broadcast to all lanes, so a block's dot products land in 8 lanes at once and are scaled
// by the vector of the 8 row scales. A tile of up to 4 activation rows shares each unpacked
// weight vector; a group's weights (a few KiB) stay in L1/L2 while the tiles pass.

#include <algorithm>
#include <cstring>

#include "kernels/cpu/gemm_x8.h"

namespace kvscope::cpu {
namespace {

constexpr int kQ8Bytes = 34;                  // Q8_0 activation block: f16 d, int8 qs[32]
constexpr int kQ4GroupBlockBytes = 144;       // 8 x f16 d + 8 x 16 bytes of nibbles
constexpr int kQ8GroupBlockBytes = 272;       // 8 x f16 d + 8 x 32 bytes
constexpr int kMaxTile = 4;                   // activation rows per tile
constexpr std::int64_t kPrefetchBytes = 512;  // decode: how far ahead of the weight stream

// Lines of the next panel's weights that one tile call brings into L2, a few per block (see
// gemm_tiles): the weights of a batched decode step stream from DRAM while the tiles compute.
struct PanelPrefetch {
    const char* begin = nullptr;  // first line of this call's share
    std::int64_t lines = 0;       // lines in the share
    std::int64_t per_block = 0;   // lines issued per block (the share spread over the blocks)
};

void prefetch_share(const PanelPrefetch& pf, std::int64_t b) {
    for (std::int64_t k = b * pf.per_block, end = std::min(k + pf.per_block, pf.lines); k < end; ++k) {
        _mm_prefetch(pf.begin + 64 * k, _MM_HINT_T1);
    }
}

__m256i broadcast4(const std::int8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

__m256 row_scales(const std::uint8_t* group_block) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group_block)));
}

__m256i load(const std::uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The formats whose blocks follow one another, each starting with the 8 rows' f16 scales.
template <int kGroupBlockBytes>
struct PlainBlocks {
    using Scales = __m256;
    static const std::uint8_t* block(const std::uint8_t* group, std::int64_t b) { return group + b * kGroupBlockBytes; }
    static __m256 scales(const std::uint8_t* /*group*/, const std::uint8_t* gb, std::int64_t /*b*/) {
        return row_scales(gb);
    }
};

// The integer dots of 4-bit quants laid out as Q4_0x8 blocks (Q4_0, and the sub-blocks of Q4_K
// and Q5_K): dot[t] = the 8 rows' dot products with activation block xq[t], as floats. With
// kFifthBit (Q5_K), the 32 bytes after the nibbles add bit 4: chunk j's fifth bits are bits j
// (low nibbles) and 4 + j (high) of each byte; shifted right by one per chunk they are bits 0
// and 4 (a 16-bit shift carries the next byte's bits in from the top, never down to bit 4 in
// these 4 steps). Unsigned quants up to 15 (31) times signed activations: with maddubs, the i16
// sums of 8 products-of-pairs stay below 8 * 2 * 31 * 127 < 2^15; with VNNI, dpbusd accumulates
// in i32 directly.
// Always inlined (as the formats' dots): called, the tile's accumulators would go through memory
// every block.
template <int T, bool kFifthBit>
[[gnu::always_inline]] inline void nibble_dots(const std::uint8_t* gb, const std::int8_t* const* xq, __m256* dot) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    [[maybe_unused]] const __m256i bit4 = _mm256_set1_epi8(0x10);
    [[maybe_unused]] __m256i fifth;
    if constexpr (kFifthBit) fifth = load(gb + kQ4GroupBlockBytes);
    __m256i sum[T];
    for (int t = 0; t < T; ++t) sum[t] = _mm256_setzero_si256();
        // one chunk at a time (unroll 1): fully unrolled, the tile of 4 spills registers
#pragma GCC unroll 1
    for (int j = 0; j < 4; ++j) {
        const __m256i v = load(gb + 16 + 32 * j);
        __m256i lo = _mm256_and_si256(v, low4);                        // elements 4j..4j+3
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);  // elements 16+4j..
        if constexpr (kFifthBit) {
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(fifth, 4), bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(fifth, bit4));
            fifth = _mm256_srli_epi16(fifth, 1);
        }
        for (int t = 0; t < T; ++t) {
#if defined(KVSCOPE_GEMM_VNNI)
            sum[t] = _mm256_dpbusd_epi32(sum[t], lo, broadcast4(xq[t] + 4 * j));
            sum[t] = _mm256_dpbusd_epi32(sum[t], hi, broadcast4(xq[t] + 16 + 4 * j));
#else
            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(xq[t] + 4 * j)),
                                               _mm256_maddubs_epi16(hi, broadcast4(xq[t] + 16 + 4 * j)));
            sum[t] = _mm256_add_epi16(sum[t], p);
#endif
        }
    }
    for (int t = 0; t < T; ++t) {
#if defined(KVSCOPE_GEMM_VNNI)
        dot[t] = _mm256_cvtepi32_ps(sum[t]);
#else
        dot[t] = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum[t], _mm256_set1_epi16(1)));
#endif
    }
}

// Q4_0 weights: unsigned nibbles 0..15 times signed activations; each block subtracts
// c = 8 d_x sum(x) to make them q - 8.
struct Q4_0Format : PlainBlocks<kQ4GroupBlockBytes> {
    template <int T>
    [[gnu::always_inline]] static void dots(const std::uint8_t* gb, const std::int8_t* const* xq, __m256* dot) {
        nibble_dots<T, false>(gb, xq, dot);
    }

    // xd: the activation block's d and c = 8 d sum(x).
    static __m256 accumulate(__m256 acc, __m256 dw, __m256 dot, const float* xd) {
        const __m256 block = _mm256_fmsub_ps(dot, _mm256_set1_ps(xd[0]), _mm256_set1_ps(xd[1]));
        return _mm256_fmadd_ps(dw, block, acc);
    }
};

// Q8_0 weights: signed times signed through |w| and sign(x, w) (|w| <= 128, |x| <= 127: the
// maddubs pair sums fit i16), i32 sums per chunk.
struct Q8_0Format : PlainBlocks<kQ8GroupBlockBytes> {
    template <int T>
    [[gnu::always_inline]] static void dots(const std::uint8_t* gb, const std::int8_t* const* xq, __m256* dot) {
        __m256i sum[T];
        for (int t = 0; t < T; ++t) sum[t] = _mm256_setzero_si256();
#pragma GCC unroll 1
        for (int j = 0; j < 8; ++j) {
            const __m256i v = load(gb + 16 + 32 * j);
            const __m256i magnitude = _mm256_sign_epi8(v, v);
            for (int t = 0; t < T; ++t) {
                const __m256i xs = _mm256_sign_epi8(broadcast4(xq[t] + 4 * j), v);
#if defined(KVSCOPE_GEMM_VNNI)
                sum[t] = _mm256_dpbusd_epi32(sum[t], magnitude, xs);
#else
                sum[t] = _mm256_add_epi32(sum[t],
                                          _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, xs), _mm256_set1_epi16(1)));
#endif
            }
        }
        for (int t = 0; t < T; ++t) dot[t] = _mm256_cvtepi32_ps(sum[t]);
    }

    static __m256 accumulate(__m256 acc, __m256 dw, __m256 dot, const float* xd) {
        return _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[0])), dot, acc);
    }
};

// Q4_K and Q5_K weights (Q4_Kx8, Q5_Kx8): a sub-block of 32 is a Q4_0 block's nibbles (and, for
// Q5_K, a fifth bit each) under the row scales d * sc, less the mins dmin * mn; both are exact in f32 (an f16 times a
// 6-bit integer, and the min's 1/8 a power of two), so the float work per sub-block is that of
// Q4_0 plus one multiply.
template <bool kFifthBit>
struct KQuantFormat {
    static constexpr int kHeaderBytes = 32;  // d[8], dmin[8]
    // sc[8], mn[8], 128 bytes of nibbles (and 32 of fifth bits)
    static constexpr int kSubBlockBytes = kQ4GroupBlockBytes + (kFifthBit ? 32 : 0);
    static constexpr int kSuperBytes = kHeaderBytes + 8 * kSubBlockBytes;

    struct Scales {
        __m256 d;     // d * sc of the 8 rows
        __m256 min8;  // dmin * mn / 8 (c carries a factor 8)
    };

    static const std::uint8_t* block(const std::uint8_t* group, std::int64_t b) {
        return group + (b >> 3) * kSuperBytes + kHeaderBytes + (b & 7) * kSubBlockBytes;
    }

    static __m256 bytes_to_ps(const std::uint8_t* p) {
        return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    }

    static Scales scales(const std::uint8_t* group, const std::uint8_t* gb, std::int64_t b) {
        const std::uint8_t* super = group + (b >> 3) * kSuperBytes;
        const __m256 dmin8 = _mm256_mul_ps(row_scales(super + 16), _mm256_set1_ps(0.125f));
        return {_mm256_mul_ps(row_scales(super), bytes_to_ps(gb)), _mm256_mul_ps(dmin8, bytes_to_ps(gb + 8))};
    }

    template <int T>
    [[gnu::always_inline]] static void dots(const std::uint8_t* gb, const std::int8_t* const* xq, __m256* dot) {
        nibble_dots<T, kFifthBit>(gb, xq, dot);
    }

    static __m256 accumulate(__m256 acc, const Scales& s, __m256 dot, const float* xd) {
        acc = _mm256_fmadd_ps(s.d, _mm256_mul_ps(dot, _mm256_set1_ps(xd[0])), acc);
        return _mm256_fnmadd_ps(s.min8, _mm256_set1_ps(xd[1]), acc);
    }
};

// T activation rows (from t0) against one group of 8 weight rows, written to y (row stride ldy).
template <typename Format, int T>
void tile(const GemmX8Args& a, const std::uint8_t* group, std::int64_t t0, float* y, const PanelPrefetch& pf) {
    __m256 acc[T];
    const std::int8_t* xrow[T];
    const float* xd[T];
    for (int t = 0; t < T; ++t) {
        acc[t] = _mm256_setzero_ps();
        xrow[t] = reinterpret_cast<const std::int8_t*>(a.x + (t0 + t) * a.x_row_bytes) + 2;
        xd[t] = a.xd + (t0 + t) * a.num_blocks * 2;
    }
    for (std::int64_t b = 0; b < a.num_blocks; ++b) {
        const std::uint8_t* gb = Format::block(group, b);
        if constexpr (T == 1) _mm_prefetch(reinterpret_cast<const char*>(gb) + kPrefetchBytes, _MM_HINT_T0);
        prefetch_share(pf, b);
        const std::int8_t* xq[T];
        for (int t = 0; t < T; ++t) xq[t] = xrow[t] + b * kQ8Bytes;
        __m256 dot[T];
        Format::template dots<T>(gb, xq, dot);
        const typename Format::Scales scales = Format::scales(group, gb, b);
        for (int t = 0; t < T; ++t) acc[t] = Format::accumulate(acc[t], scales, dot[t], xd[t] + 2 * b);
    }
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * a.ldy, acc[t]);
}

using TileFn = void (*)(const GemmX8Args&, const std::uint8_t*, std::int64_t, float*, const PanelPrefetch&);

}  // namespace
}  // namespace kvscope::cpu

#if defined(KVSCOPE_GEMM_VNNI)
#include "kernels/cpu/gemm_x8_pairs.h"
#endif

namespace kvscope::cpu {
namespace {

// The tiles of 1 .. kMaxTile (= 4) activation rows against one group (from g), or against groups g and
// g + 1 where the level has pair tiles and the panel has both: 1 or 2 groups.
template <typename Format>
std::int64_t tile_groups(const GemmX8Args& a, std::int64_t g, std::int64_t p_end, std::int64_t t, int rows,
                         const PanelPrefetch& pf) {
    const std::uint8_t* group = a.w + g * a.group_bytes;
    float* y = a.y + t * a.ldy + 8 * g;
#if defined(KVSCOPE_GEMM_VNNI)
    if (g + 1 < p_end) {
        const TileFn pairs[] = {nullptr, pair_tile<Format, 1>, pair_tile<Format, 2>, pair_tile<Format, 3>,
                                pair_tile<Format, 4>};
        pairs[rows](a, group, t, y, pf);
        return 2;
    }
#endif
    const TileFn single[] = {nullptr, tile<Format, 1>, tile<Format, 2>, tile<Format, 3>, tile<Format, 4>};
    single[rows](a, group, t, y, pf);
    return 1;
}

// Every group of the range against every activation row. Groups go in panels of
// kGroupsPerPanel (32 weight rows, a few tens of KiB: they stay in L2) and each tile of 4
// activation rows (L1) passes over the whole panel, so activations are read from L3 once per
// panel rather than once per group. Meanwhile the tile calls of a panel prefetch the next panel
// into L2, each a share of its lines: with several tiles (a batched decode step) the first pass
// over a panel would otherwise wait for DRAM and the later passes leave the memory bus idle.
constexpr std::int64_t kGroupsPerPanel = 4;

template <typename Format>
void gemm_tiles(const GemmX8Args& a) {
    const std::int64_t num_tiles = (a.num_x + kMaxTile - 1) / kMaxTile;
#if defined(KVSCOPE_GEMM_VNNI)
    constexpr std::int64_t kGroupsPerCall = 2;
#else
    constexpr std::int64_t kGroupsPerCall = 1;
#endif
    for (std::int64_t p = a.group_begin; p < a.group_end; p += kGroupsPerPanel) {
        const std::int64_t p_end = std::min(p + kGroupsPerPanel, a.group_end);
        // the next panel's lines, shared out over this panel's tile calls
        const std::int64_t next_lines = (std::min(p_end + kGroupsPerPanel, a.group_end) - p_end) * a.group_bytes / 64;
        const std::int64_t calls = num_tiles * ((p_end - p + kGroupsPerCall - 1) / kGroupsPerCall);
        const std::int64_t share = (next_lines + calls - 1) / calls;
        const char* next = reinterpret_cast<const char*>(a.w + p_end * a.group_bytes);
        std::int64_t call = 0;
        auto prefetch = [&] {
            const std::int64_t first = std::min(call++ * share, next_lines);
            return PanelPrefetch{next + 64 * first, std::min(share, next_lines - first),
                                 (share + a.num_blocks - 1) / a.num_blocks};
        };
        for (std::int64_t t = 0; t < a.num_x; t += kMaxTile) {
            const int rows = static_cast<int>(std::min<std::int64_t>(kMaxTile, a.num_x - t));
            for (std::int64_t g = p; g < p_end;) g += tile_groups<Format>(a, g, p_end, t, rows, prefetch());
        }
    }
}

constexpr GemmX8Kernels kGemmX8Tiles = {
    gemm_tiles<Q4_0Format>,
    gemm_tiles<Q8_0Format>,
    gemm_tiles<KQuantFormat<false>>,
    gemm_tiles<KQuantFormat<true>>,
};

}  // namespace
}  // namespace kvscope::cpu
