#pragma once
// Block layouts of the quantised GGUF types, byte for byte as ggml writes them (little-endian).
// A row of n elements is n / block_elems consecutive blocks. `d` (and `m`, `dmin`) are binary16
// unless said otherwise; see fp16.h.
//
// Legacy types, 32 elements a block; element j of the block is written x[j]:
//   Q4_0  x[j] = d * (q[j] - 8),       q[j] in 0..15
//   Q4_1  x[j] = d * q[j] + m,         q[j] in 0..15
//   Q5_0  x[j] = d * (q[j] - 16),      q[j] in 0..31
//   Q5_1  x[j] = d * q[j] + m,         q[j] in 0..31
//   Q8_0  x[j] = d * qs[j],            qs[j] in -128..127
//   4-bit quants: qs[j] holds q[j] in its low nibble and q[j + 16] in its high nibble (j < 16).
//   5-bit quants: as the 4-bit ones for the low 4 bits; bit 4 of q[j] is bit j of the
//   little-endian 32-bit word qh.
//
// K-quants, 256 elements a super-block:
//   Q4_K  8 sub-blocks of 32, x = d * sc[s] * q - dmin * mn[s], q in 0..15; sc and mn are 6-bit,
//         packed into scales[12] (see unpack_k4_scale_min). Quants: for chunk c of 64 elements
//         (c = 0..3), qs[32c + l] holds element 64c + l in its low nibble and 64c + 32 + l in its
//         high nibble; sub-block s = 2c is the low nibbles, 2c + 1 the high ones.
//   Q5_K  as Q4_K with q in 0..31; bit 4 of element 64c + l is bit 2c of qh[l], bit 4 of
//         element 64c + 32 + l is bit 2c + 1 of qh[l].
//   Q6_K  16 sub-blocks of 16, x = d * scales[s] * (q - 32), q in 0..63, scales int8. For half
//         h (128 elements, h = 0..1), l = 0..31, with L = ql + 64h, H = qh + 32h:
//           element 128h +  0 + l: low nibble of L[l]      | bits 0-1 of H[l] << 4
//           element 128h + 32 + l: low nibble of L[l + 32] | bits 2-3 of H[l] << 4
//           element 128h + 64 + l: high nibble of L[l]     | bits 4-5 of H[l] << 4
//           element 128h + 96 + l: high nibble of L[l + 32]| bits 6-7 of H[l] << 4
//
// Activation types (what f32 activations are quantised to for the integer dot products):
//   Q8_1  as Q8_0, plus s = d * sum(qs) (binary16), for the weight types with a min (Q4_1, Q5_1).
//   Q8_K  256 elements, d is f32, bsums[g] = sum of qs[16g .. 16g + 15], for the K-quants.

#include <bit>
#include <cstdint>
#include <cstring>

namespace kvscope {

// The layouts are little-endian, as GGUF files are; so is every CPU kvscope targets.
static_assert(std::endian::native == std::endian::little);

inline constexpr int kQk = 32;    // elements per block of the legacy types
inline constexpr int kQkK = 256;  // elements per super-block of the K-quants

struct BlockQ4_0 {
    std::uint16_t d;
    std::uint8_t qs[kQk / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qs[kQk / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
    std::uint16_t d;
    std::uint8_t qh[4];
    std::uint8_t qs[kQk / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
    std::uint16_t d;
    std::uint16_t m;
    std::uint8_t qh[4];
    std::uint8_t qs[kQk / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockQ8_0 {
    std::uint16_t d;
    std::int8_t qs[kQk];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ8_1 {
    std::uint16_t d;
    std::uint16_t s;  // d * sum(qs)
    std::int8_t qs[kQk];
};
static_assert(sizeof(BlockQ8_1) == 36);

struct BlockQ4_K {
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[12];
    std::uint8_t qs[kQkK / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
    std::uint16_t d;
    std::uint16_t dmin;
    std::uint8_t scales[12];
    std::uint8_t qh[kQkK / 8];
    std::uint8_t qs[kQkK / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {
    std::uint8_t ql[kQkK / 2];
    std::uint8_t qh[kQkK / 4];
    std::int8_t scales[kQkK / 16];
    std::uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

struct BlockQ8_K {
    float d;
    std::int8_t qs[kQkK];
    std::int16_t bsums[kQkK / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// Q4_K/Q5_K scales[12]: 8 six-bit scales sc[s] and 8 six-bit mins mn[s].
//   s < 4:  sc = scales[s] & 63,                                mn = scales[s + 4] & 63
//   s >= 4: sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4,
//           mn = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4
// Unpacks all 16 at once with 32-bit word operations (byte k of a word is scales[4w + k]).
// (static: see fp16.h on why helpers in these headers have internal linkage)
static inline void unpack_k4_scales_mins(const std::uint8_t* scales, std::uint8_t* sc, std::uint8_t* mn) {
    std::uint32_t w[3];
    std::memcpy(w, scales, sizeof(w));
    const std::uint32_t sc_lo = w[0] & 0x3f3f3f3fu;
    const std::uint32_t mn_lo = w[1] & 0x3f3f3f3fu;
    const std::uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u);  // (b >> 6) << 4 per byte
    const std::uint32_t mn_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u);
    std::memcpy(sc, &sc_lo, 4);
    std::memcpy(sc + 4, &sc_hi, 4);
    std::memcpy(mn, &mn_lo, 4);
    std::memcpy(mn + 4, &mn_hi, 4);
}

// The inverse: write sc[8], mn[8] (each 0..63) into scales[12].
static inline void pack_k4_scale_min(const std::uint8_t* sc, const std::uint8_t* mn, std::uint8_t* scales) {
    for (int s = 0; s < 4; ++s) {
        scales[s] = static_cast<std::uint8_t>((sc[s] & 63) | ((sc[s + 4] >> 4) << 6));
        scales[s + 4] = static_cast<std::uint8_t>((mn[s] & 63) | ((mn[s + 4] >> 4) << 6));
        scales[s + 8] = static_cast<std::uint8_t>((sc[s + 4] & 15) | ((mn[s + 4] & 15) << 4));
    }
}

}  // namespace kvscope
