// f32 <-> binary16 / bfloat16 conversions against independent oracles: the compiler's
// _Float16 (correctly rounded in software on baseline x86-64), exhaustive round trips, and the
// "nearest representable, ties to even" property checked by brute force.

#include "kernels/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

namespace kvscope {
namespace fp16_test {

std::uint16_t half_bits(_Float16 h) {
    std::uint16_t b;
    std::memcpy(&b, &h, sizeof(b));
    return b;
}

bool is_nan_half(std::uint16_t h) {
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
}

TEST(Fp16, EveryHalfConvertsExactlyAndBack) {
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        const auto bits = static_cast<std::uint16_t>(h);
        const float f = fp16_to_f32(bits);
        _Float16 oracle;
        std::memcpy(&oracle, &bits, sizeof(oracle));
        if (is_nan_half(bits)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << h;
            ASSERT_TRUE(is_nan_half(f32_to_fp16(f))) << std::hex << h;
            continue;
        }
        ASSERT_EQ(f32_bits(f), f32_bits(static_cast<float>(oracle))) << std::hex << h;
        ASSERT_EQ(f32_to_fp16(f), bits) << std::hex << h;
    }
}

TEST(Fp16, RoundsLikeTheCompilersFloat16) {
    // random bit patterns cover every exponent, plus values around the half range's edges
    std::mt19937 rng(7);
    for (int i = 0; i < 2000000; ++i) {
        const float f = f32_from_bits(static_cast<std::uint32_t>(rng()));
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_fp16(f), half_bits(static_cast<_Float16>(f))) << f;
    }
    std::uniform_real_distribution<float> around(-1.0f, 1.0f);
    for (float scale : {1e-8f, 6e-8f, 6.1e-5f, 1.0f, 65504.0f, 65520.0f, 70000.0f}) {
        for (int i = 0; i < 20000; ++i) {
            const float f = scale * (1.0f + 0.01f * around(rng));
            ASSERT_EQ(f32_to_fp16(f), half_bits(static_cast<_Float16>(f))) << f;
            ASSERT_EQ(f32_to_fp16(-f), half_bits(static_cast<_Float16>(-f))) << -f;
        }
    }
}

TEST(Fp16, SpecialValues) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(f32_to_fp16(inf), 0x7c00);
    EXPECT_EQ(f32_to_fp16(-inf), 0xfc00);
    EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_fp16(65519.99f), 0x7bff);
    EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);  // the tie rounds to even: infinity
    EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_fp16(2.9802322387695312e-8f), 0x0000);  // 2^-25: tie between 0 and 2^-24 -> 0
    EXPECT_EQ(f32_to_fp16(2.9802326e-8f), 0x0001);           // just above the tie
    EXPECT_EQ(f32_to_fp16(1.0e-30f), 0x0000);
    EXPECT_TRUE(is_nan_half(f32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_TRUE(is_nan_half(f32_to_fp16(std::numeric_limits<float>::signaling_NaN())));
    EXPECT_TRUE(std::isinf(fp16_to_f32(0x7c00)));
    EXPECT_EQ(fp16_to_f32(0x3555), 0.333251953125f);
}

// bf16: brute-force nearest of the two neighbours, ties to the even one
std::uint16_t nearest_bf16(float f) {
    const auto down = static_cast<std::uint16_t>(f32_bits(f) >> 16);  // truncation: toward zero
    const auto up = static_cast<std::uint16_t>(down + 1);             // next one away from zero
    const double v = f, lo = bf16_to_f32(down);
    double hi = bf16_to_f32(up);
    if (std::isinf(hi)) hi = std::copysign(std::ldexp(1.0, 128), v);  // overflow rounds as if unbounded
    const double d_lo = std::fabs(v - lo), d_hi = std::fabs(hi - v);
    if (d_lo != d_hi) return d_lo < d_hi ? down : up;
    return (down & 1) ? up : down;
}

TEST(Bf16, RoundsToNearestEven) {
    std::mt19937 rng(11);
    for (int i = 0; i < 2000000; ++i) {
        const float f = f32_from_bits(static_cast<std::uint32_t>(rng()));
        if (std::isnan(f) || std::isinf(f)) continue;
        ASSERT_EQ(f32_to_bf16(f), nearest_bf16(f)) << f;
    }
    // exact ties: the low 16 bits are exactly 0x8000
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // even stays
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);  // odd rounds up
}

TEST(Bf16, SpecialValuesAndRoundTrip) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(f32_to_bf16(inf), 0x7f80);
    EXPECT_EQ(f32_to_bf16(-inf), 0xff80);
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds past the largest bf16
    const std::uint16_t nan = f32_to_bf16(std::numeric_limits<float>::quiet_NaN());
    EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f32_from_bits(0x7f800001u)))));  // nan payload in low bits only
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float f = bf16_to_f32(static_cast<std::uint16_t>(b));
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_bf16(f), b) << std::hex << b;
    }
}

}  // namespace fp16_test
}  // namespace kvscope
