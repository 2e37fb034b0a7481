#pragma once
// Scalar conversions between f32 and the 16-bit float formats of GGUF files: IEEE binary16
// (F16) and bfloat16 (BF16). f32 -> 16 bits rounds to nearest, ties to even; infinities stay
// infinite, NaNs stay NaN (made quiet), subnormals are exact both ways.
//
// Every function here is `static inline` (internal linkage) on purpose: this header is included
// by files compiled with AVX2/AVX-512 flags, and an external inline definition emitted by such a
// file could be the one the linker keeps for the whole program (then SIGILL on older CPUs).

#include <cstdint>
#include <cstring>

namespace kvscope {

static inline std::uint32_t f32_bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float f32_from_bits(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof(f));
    return f;
}

// binary16 -> f32 (exact).
static inline float fp16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = h & 0x7c00u;
    const std::uint32_t magnitude = static_cast<std::uint32_t>(h & 0x7fffu) << 13;
    if (exp != 0 && exp != 0x7c00u) return f32_from_bits(sign | (magnitude + (112u << 23)));  // normal: rebias
    if (exp != 0) return f32_from_bits(sign | 0x7f800000u | magnitude);                       // inf, nan (payload kept)
    // zero or subnormal: mantissa * 2^-24, exact in f32 (integer arithmetic: immune to DAZ)
    const float mag = static_cast<float>(h & 0x3ffu) * 5.9604644775390625e-8f;
    return sign ? -mag : mag;
}

// f32 -> binary16, round to nearest even.
static inline std::uint16_t f32_to_fp16(float f) {
    const std::uint32_t u = f32_bits(f);
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x1ffu));  // quiet nan
    if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (a >= 0x38800000u) {
        // normal half: rebias the exponent (127 -> 15), drop 13 mantissa bits with rounding;
        // a carry out of the mantissa correctly bumps the exponent
        std::uint32_t h = (a - (112u << 23)) >> 13;
        const std::uint32_t rest = a & 0x1fffu;
        h += (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ? 1u : 0u;
        return static_cast<std::uint16_t>(sign | h);
    }
    // subnormal half (or zero): value / 2^-24, rounded; 0x400 (the smallest normal) may result
    const std::uint32_t e = a >> 23;
    const std::uint32_t shift = 126 - e;                      // >= 14
    if (shift > 24) return static_cast<std::uint16_t>(sign);  // below half the smallest subnormal
    const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
    std::uint32_t h = m >> shift;
    const std::uint32_t rest = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    h += (rest > half || (rest == half && (h & 1u))) ? 1u : 0u;
    return static_cast<std::uint16_t>(sign | h);
}

// bfloat16 -> f32 (exact).
static inline float bf16_to_f32(std::uint16_t b) {
    return f32_from_bits(static_cast<std::uint32_t>(b) << 16);
}

// f32 -> bfloat16, round to nearest even.
static inline std::uint16_t f32_to_bf16(float f) {
    const std::uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet nan
    return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace kvscope
