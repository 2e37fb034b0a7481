// Scalar row kernels against independent oracles: quantise -> dequantise error within each
// format's step, integer vec_dot and vec_dot_f32 against double-precision dots of the
// dequantised rows (dequantisation itself is pinned by quant_blocks_test), edge cases, and the
// dispatch table. SIMD levels are compared with these in quant_simd_test.

#include "kernels/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "tests/kernels/quant_test_util.h"
#include "tests/support/param_print.h"

namespace kvscope {
namespace quant_test {

using test::abs_dot_double;
using test::block_elems;
using test::dequantize;
using test::dot_double;
using test::quantize;
using test::random_row;
using test::weight_types;

std::string name_of(const testing::TestParamInfo<TensorType>& info) {
    return std::string(type_name(info.param));
}

// Quantisation grid of a block type: how many elements share a step, how many steps span the
// block's range, what that range is, and the worst error allowed in steps (clamping at the
// far side of Q4_0/Q5_0 and the K-quants' 6-bit scales included).
enum class Range { Symmetric, WithZero, OwnMinMax };  // [-amax, amax], [min(x, 0), max(x, 0)], [min, max]

struct Grid {
    int group;
    int steps;
    Range range;
    double max_steps;
};

Grid grid_of(TensorType t) {
    switch (t) {
        case TensorType::Q8_0:
            return {32, 254, Range::Symmetric, 0.6};  // d = amax / 127
        case TensorType::Q4_0:
            return {32, 16, Range::Symmetric, 1.0};  // d = amax / 8; +8 clamps to 7
        case TensorType::Q5_0:
            return {32, 32, Range::Symmetric, 1.0};
        case TensorType::Q4_1:
            return {32, 15, Range::OwnMinMax, 0.52};  // d = (max - min) / 15
        case TensorType::Q5_1:
            return {32, 31, Range::OwnMinMax, 0.52};
        case TensorType::Q4_K:
            return {32, 15, Range::WithZero, 1.5};
        case TensorType::Q5_K:
            return {32, 31, Range::WithZero, 1.5};
        case TensorType::Q6_K:
            return {16, 64, Range::Symmetric, 1.5};
        default:
            return {1, 0, Range::Symmetric, 0.0};
    }
}

class QuantRoundTrip : public testing::TestWithParam<TensorType> {};

// Every element within max_steps steps of its block's grid, and (for spread-out data, where
// rounding errors are uniform) the RMS error no larger than step / sqrt(12) (the fitted
// K-quant scales do better than that).
void expect_round_trip_within_grid(TensorType t, const std::vector<float>& x, bool check_rms = true) {
    const auto n = static_cast<std::int64_t>(x.size());
    const std::vector<float> y = dequantize(t, quantize(t, x), n);
    if (t == TensorType::F32) {
        EXPECT_EQ(x, y);
        return;
    }
    if (t == TensorType::F16 || t == TensorType::BF16) {
        const double rel = t == TensorType::F16 ? 0x1p-11 : 0x1p-8;  // half an ulp
        for (std::int64_t i = 0; i < n; ++i) ASSERT_LE(std::fabs(y[i] - x[i]), rel * std::fabs(x[i]) + 1e-7) << i;
        return;
    }
    const Grid g = grid_of(t);
    double sum_err2 = 0, sum_expected2 = 0;
    for (std::int64_t b = 0; b < n / g.group; ++b) {
        const float* xb = &x[static_cast<std::size_t>(b * g.group)];
        float lo = *std::min_element(xb, xb + g.group), hi = *std::max_element(xb, xb + g.group);
        if (g.range != Range::OwnMinMax) lo = std::min(lo, 0.0f), hi = std::max(hi, 0.0f);
        const double range = g.range == Range::Symmetric ? 2.0 * std::max(-lo, hi) : static_cast<double>(hi) - lo;
        const double step = range / g.steps;
        // binary16 scales and mins add up to 2^-11 relative to the block's magnitude
        const double slack = 2e-3 * std::max(std::fabs(lo), std::fabs(hi)) + 1e-6;
        sum_expected2 += step * step / 12.0 * g.group;
        for (int j = 0; j < g.group; ++j) {
            const double err = std::fabs(static_cast<double>(y[b * g.group + j]) - xb[j]);
            sum_err2 += err * err;
            ASSERT_LE(err, g.max_steps * step + slack) << type_name(t) << " element " << b * g.group + j;
        }
    }
    if (check_rms) {
        EXPECT_LE(std::sqrt(sum_err2), 1.05 * std::sqrt(sum_expected2)) << type_name(t);
    }
}

TEST_P(QuantRoundTrip, CenteredData) {
    expect_round_trip_within_grid(GetParam(), random_row(4096, 1));
}

TEST_P(QuantRoundTrip, ShiftedData) {
    expect_round_trip_within_grid(GetParam(), random_row(4096, 2, 0.7f, 1.0f));
    expect_round_trip_within_grid(GetParam(), random_row(2048, 3, -2.0f, 0.5f));  // all negative, mostly
}

TEST_P(QuantRoundTrip, LargeAndTinyMagnitudes) {
    std::vector<float> x = random_row(1024, 4, 0.0f, 1e4f);
    for (std::size_t i = 0; i < 256; ++i) x[i] *= 1e-7f;  // a tiny super-block next to large ones
    expect_round_trip_within_grid(GetParam(), x);
    // an outlier in every group of 16 (a K-quant super-block mixing sub-blocks of very different
    // ranges loses the small ones to its 6-bit scales: a limit of the format, not tested here)
    std::vector<float> y = random_row(1024, 5, 0.0f, 0.01f);
    for (std::size_t i = 0; i < y.size(); i += 16) y[i + (i / 16) % 16] = (i % 32 ? 30.0f : -30.0f);
    expect_round_trip_within_grid(GetParam(), y, /*check_rms=*/false);
}

TEST_P(QuantRoundTrip, ZeroBlocksStayZero) {
    const TensorType t = GetParam();
    const std::int64_t n = 2 * std::max<std::int64_t>(block_elems(t), 32);
    std::vector<float> x(static_cast<std::size_t>(n), 0.0f);
    for (std::int64_t i = n / 2; i < n; ++i) x[i] = static_cast<float>(i % 5) - 2.0f;  // second half non-zero
    const std::vector<float> y = dequantize(t, quantize(t, x), n);
    for (std::int64_t i = 0; i < n / 2; ++i) ASSERT_EQ(y[i], 0.0f) << i;
    for (std::int64_t i = n / 2; i < n; ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
    const std::vector<float> zeros(static_cast<std::size_t>(n), 0.0f);
    for (float v : dequantize(t, quantize(t, zeros), n)) ASSERT_EQ(v, 0.0f);
}

TEST_P(QuantRoundTrip, ConstantNegativeBlock) {
    const TensorType t = GetParam();
    const std::int64_t n = std::max<std::int64_t>(block_elems(t), 32);
    const std::vector<float> x(static_cast<std::size_t>(n), -1.5f);
    for (float v : dequantize(t, quantize(t, x), n)) ASSERT_NEAR(v, -1.5f, 1.5f * 2e-3f);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantRoundTrip, testing::ValuesIn(weight_types()), name_of);

class QuantDot : public testing::TestWithParam<TensorType> {};

// vec_dot(w, x quantised to vec_dot_type) is the dot of the two dequantised rows.
TEST_P(QuantDot, IntegerDotMatchesDequantisedDot) {
    const TensorType t = GetParam();
    const TypeKernels& k = type_kernels(t, SimdLevel::Scalar);
    const std::int64_t bs = std::max(block_elems(t), block_elems(k.vec_dot_type));
    for (std::int64_t n : {bs, 2 * bs, 7 * bs, std::int64_t{4096}}) {
        for (unsigned seed = 0; seed < 4; ++seed) {
            const auto w = random_row(n, 100 + seed, seed == 3 ? 0.5f : 0.0f);
            const auto x = random_row(n, 200 + seed, seed == 2 ? -0.3f : 0.0f, 2.0f);
            const auto wq = quantize(t, w);
            const auto xq = quantize(k.vec_dot_type, x);
            const auto wd = dequantize(t, wq, n);
            const auto xd = dequantize(k.vec_dot_type, xq, n);
            const double want = dot_double(wd, xd);
            // f32 accumulation; Q4_1/Q5_1 also use Q8_1's binary16 s = d * sum(q), 2^-11 relative
            const bool uses_s = k.vec_dot_type == TensorType::Q8_1;
            const double tol = (uses_s ? 2e-3 : 2e-5) * abs_dot_double(wd, xd) + 1e-6;
            EXPECT_NEAR(k.vec_dot(n, wq.data(), xq.data()), want, tol) << type_name(t) << " n=" << n;
            // and the quantised dot is close to the exact one (loose: quantisation noise)
            EXPECT_NEAR(k.vec_dot(n, wq.data(), xq.data()), dot_double(w, x), 0.25 * abs_dot_double(w, x) + 1e-3);
        }
    }
}

TEST_P(QuantDot, F32DotMatchesDequantisedDot) {
    const TensorType t = GetParam();
    const TypeKernels& k = type_kernels(t, SimdLevel::Scalar);
    const std::int64_t bs = block_elems(t) == 1 ? 1 : block_elems(t);
    for (std::int64_t n : {bs, 2 * bs, 7 * bs, std::int64_t{4096}}) {
        const auto w = random_row(n, 300);
        const auto x = random_row(n, 400);
        const auto wq = quantize(t, w);
        const auto wd = dequantize(t, wq, n);
        EXPECT_NEAR(k.vec_dot_f32(n, wq.data(), x.data()), dot_double(wd, x), 2e-5 * abs_dot_double(wd, x) + 1e-6)
            << type_name(t) << " n=" << n;
    }
}

TEST_P(QuantDot, ZeroRowsGiveZero) {
    const TensorType t = GetParam();
    const TypeKernels& k = type_kernels(t, SimdLevel::Scalar);
    const std::int64_t n = 2 * std::max<std::int64_t>(block_elems(t), 256);
    const std::vector<float> zeros(static_cast<std::size_t>(n), 0.0f);
    const auto w = quantize(t, random_row(n, 9));
    const auto w0 = quantize(t, zeros);
    const auto x = quantize(k.vec_dot_type, random_row(n, 10));
    const auto x0 = quantize(k.vec_dot_type, zeros);
    EXPECT_EQ(k.vec_dot(n, w0.data(), x.data()), 0.0f);
    EXPECT_EQ(k.vec_dot(n, w.data(), x0.data()), 0.0f);
    EXPECT_EQ(k.vec_dot_f32(n, w.data(), zeros.data()), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantDot, testing::ValuesIn(weight_types()), name_of);

TEST(QuantActivations, Q8_1SumAndQ8_KBlockSums) {
    // Q8_1's s is d * sum(qs); Q8_K's bsums are the sums of 16 quants: both read back from bytes
    const auto x = random_row(512, 77, 0.3f);
    const auto q81 = quantize(TensorType::Q8_1, x);
    for (int b = 0; b < 16; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ8_1*>(q81.data()) + b;
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += blk->qs[j];
        const float d = fp16_to_f32(blk->d), s = fp16_to_f32(blk->s);
        EXPECT_NEAR(s, d * static_cast<float>(sum), std::fabs(d * static_cast<float>(sum)) * 2e-3 + 1e-6);
    }
    const auto q8k = quantize(TensorType::Q8_K, x);
    for (int b = 0; b < 2; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ8_K*>(q8k.data()) + b;
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += blk->qs[16 * g + l];
            EXPECT_EQ(blk->bsums[g], sum);
        }
        float amax = 0;
        for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[256 * b + j]));
        EXPECT_FLOAT_EQ(blk->d, amax / 127.0f);
    }
}

TEST(QuantDispatch, EveryComputableTypeHasCompleteKernels) {
    for (TensorType t : weight_types()) {
        ASSERT_TRUE(type_info(t).computable) << type_name(t);
        for (int level = 0; level <= static_cast<int>(detect_simd_level()); ++level) {
            const TypeKernels& k = type_kernels(t, static_cast<SimdLevel>(level));
            EXPECT_EQ(k.type, t);
            EXPECT_NE(k.dequantize, nullptr);
            EXPECT_NE(k.quantize, nullptr);
            EXPECT_NE(k.vec_dot, nullptr);
            EXPECT_NE(k.vec_dot_f32, nullptr);
        }
    }
    for (TensorType t : {TensorType::Q8_1, TensorType::Q8_K}) {
        EXPECT_NE(type_kernels(t).quantize, nullptr);
        EXPECT_NE(type_kernels(t).dequantize, nullptr);
    }
}

TEST(QuantDispatch, VecDotTypes) {
    EXPECT_EQ(vec_dot_type(TensorType::F32), TensorType::F32);
    EXPECT_EQ(vec_dot_type(TensorType::F16), TensorType::F32);
    EXPECT_EQ(vec_dot_type(TensorType::BF16), TensorType::F32);
    EXPECT_EQ(vec_dot_type(TensorType::Q8_0), TensorType::Q8_0);
    EXPECT_EQ(vec_dot_type(TensorType::Q4_0), TensorType::Q8_0);
    EXPECT_EQ(vec_dot_type(TensorType::Q5_0), TensorType::Q8_0);
    EXPECT_EQ(vec_dot_type(TensorType::Q4_1), TensorType::Q8_1);
    EXPECT_EQ(vec_dot_type(TensorType::Q5_1), TensorType::Q8_1);
    EXPECT_EQ(vec_dot_type(TensorType::Q4_K), TensorType::Q8_K);
    EXPECT_EQ(vec_dot_type(TensorType::Q5_K), TensorType::Q8_K);
    EXPECT_EQ(vec_dot_type(TensorType::Q6_K), TensorType::Q8_K);
}

TEST(QuantDispatch, ActiveLevelIsTheDefault) {
    EXPECT_EQ(&type_kernels(TensorType::Q4_K), &type_kernels(TensorType::Q4_K, active_simd_level()));
}

TEST(QuantDispatchDeathTest, NonComputableTypeIsABug) {
    EXPECT_DEATH(type_kernels(TensorType::Q2_K), "no row kernels");
    EXPECT_DEATH(type_kernels(TensorType::I32), "no row kernels");
    if (detect_simd_level() < SimdLevel::Avx512) {
        EXPECT_DEATH(type_kernels(TensorType::F32, SimdLevel::Avx512), "SIMD level");
    }
}

}  // namespace quant_test
}  // namespace kvscope
