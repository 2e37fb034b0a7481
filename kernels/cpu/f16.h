#pragma once
// IEEE half <-> float conversions for the portable code paths (the AVX2 paths use F16C, which
// rounds the same way: to nearest, ties to even). Internal linkage on purpose: this header may
// be included by files compiled for SIMD targets, whose copies must never be shared with
// baseline code by the linker.

#include <cstdint>
#include <cstring>

namespace kvscope {
namespace {

inline float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1f) {
        // inf / nan: keep the payload
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent == 0) {
        // zero / subnormal: mantissa * 2^-24 is exact in float
        const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
        std::memcpy(&bits, &magnitude, 4);
        bits |= sign;
    } else {
        // normal: rebias the exponent from 15 to 127
        bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline std::uint16_t f32_to_f16(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    // inf / nan (nan stays a quiet nan)
    if (x >= 0x7f800000u) return sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0u);
    // |f| >= 65520 rounds to inf
    if (x >= 0x477ff000u) return sign | 0x7c00u;
    if (x < 0x38800000u) {
        // below the smallest normal half: adding 0.5 makes the FPU round |f| to a multiple of
        // 2^-24 (the half subnormal step), ties to even; the low bits are the half's mantissa
        float magnitude;
        std::memcpy(&magnitude, &x, 4);
        const float shifted = magnitude + 0.5f;
        std::uint32_t bits;
        std::memcpy(&bits, &shifted, 4);
        return sign | static_cast<std::uint16_t>(bits - 0x3f000000u);
    }
    // normal: rebias and round the 13 dropped bits to nearest, ties to even
    const std::uint32_t odd = (x >> 13) & 1u;
    x += (static_cast<std::uint32_t>(15 - 127) << 23) + 0xfffu + odd;
    return sign | static_cast<std::uint16_t>(x >> 13);
}

}  // namespace
}  // namespace kvscope
