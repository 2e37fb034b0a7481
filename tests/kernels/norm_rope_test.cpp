// RMSNorm and RoPE against hand-computed values and naive double-precision references.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/norm.h"
#include "kernels/rope.h"
#include "tests/support/param_print.h"

namespace kvscope {
namespace norm_rope_test {

std::vector<float> random_values(std::size_t n, std::mt19937& rng, float lo = -3.0f, float hi = 3.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> x(n);
    for (auto& e : x) e = dist(rng);
    return x;
}

// ---- RMSNorm -------------------------------------------------------------------------------

class RmsNormTest : public testing::TestWithParam<SimdLevel> {
protected:
    void SetUp() override {
        if (GetParam() > detect_simd_level()) {
            GTEST_SKIP() << "this CPU has no " << simd_level_name(GetParam())
                         << " (best: " << simd_level_name(detect_simd_level()) << ")";
        }
    }
};

TEST_P(RmsNormTest, HandComputedRow) {
    // x = (3, 4): mean of squares 12.5, rms = sqrt(12.5) = 3.5355339; w = (1, 2).
    const float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f};
    float y[2];
    rms_norm(x, w, y, 1, 2, 0.0f, GetParam());
    EXPECT_NEAR(y[0], 3.0 / std::sqrt(12.5), 1e-6);
    EXPECT_NEAR(y[1], 2.0 * 4.0 / std::sqrt(12.5), 1e-6);
    // eps enters under the root: x = (0, 0) gives 0, not nan; x = (1) with eps 3 gives 1/2.
    const float zeros[2] = {0.0f, 0.0f}, one[1] = {1.0f}, w1[1] = {1.0f};
    rms_norm(zeros, w, y, 1, 2, 1e-6f, GetParam());
    EXPECT_EQ(y[0], 0.0f);
    rms_norm(one, w1, y, 1, 1, 3.0f, GetParam());
    EXPECT_NEAR(y[0], 0.5f, 1e-7);
}

TEST_P(RmsNormTest, MatchesDoubleReferenceOverRowsAndInPlace) {
    std::mt19937 rng(11);
    for (std::int64_t dim : {1, 7, 8, 15, 16, 17, 64, 2051}) {
        const std::int64_t rows = 5;
        const auto x = random_values(rows * dim, rng);
        const auto w = random_values(dim, rng);
        const float eps = 1e-5f;
        std::vector<float> y(rows * dim);
        rms_norm(x.data(), w.data(), y.data(), rows, dim, eps, GetParam());
        std::vector<float> in_place = x;
        rms_norm(in_place.data(), w.data(), in_place.data(), rows, dim, eps, GetParam());
        for (std::int64_t r = 0; r < rows; ++r) {
            double sum_sq = 0.0;
            for (std::int64_t i = 0; i < dim; ++i) sum_sq += double(x[r * dim + i]) * x[r * dim + i];
            const double inv_rms = 1.0 / std::sqrt(sum_sq / dim + eps);
            for (std::int64_t i = 0; i < dim; ++i) {
                const double expected = x[r * dim + i] * inv_rms * w[i];
                ASSERT_NEAR(y[r * dim + i], expected, 2e-6 * std::abs(expected) + 1e-7) << "dim " << dim;
                ASSERT_EQ(in_place[r * dim + i], y[r * dim + i]);
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, RmsNormTest, testing::Values(SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512),
                         [](const auto& info) { return std::string(simd_level_name(info.param)); });

// ---- RoPE ----------------------------------------------------------------------------------

// RoPE from its definition, in double: pair i of each head rotates by pos * base^(-2i/rope_dim)
// / factor[i]; the pair is (2i, 2i+1) for Normal, (i, i + rope_dim/2) for Neox.
std::vector<float> rope_reference(RopeStyle style, const std::vector<float>& x, const std::vector<std::int32_t>& pos,
                                  int num_heads, int head_dim, int rope_dim, double base,
                                  const std::vector<float>& factors) {
    std::vector<float> y = x;
    for (std::size_t t = 0; t < pos.size(); ++t) {
        for (int h = 0; h < num_heads; ++h) {
            const std::size_t row = (t * num_heads + h) * head_dim;
            for (int i = 0; i < rope_dim / 2; ++i) {
                const double factor = factors.empty() ? 1.0 : factors[i];
                const double angle = pos[t] * std::pow(base, -2.0 * i / rope_dim) / factor;
                const int a = style == RopeStyle::Normal ? 2 * i : i;
                const int b = style == RopeStyle::Normal ? 2 * i + 1 : i + rope_dim / 2;
                const double xa = x[row + a], xb = x[row + b];
                y[row + a] = static_cast<float>(xa * std::cos(angle) - xb * std::sin(angle));
                y[row + b] = static_cast<float>(xa * std::sin(angle) + xb * std::cos(angle));
            }
        }
    }
    return y;
}

std::vector<float> run_rope(RopeStyle style, std::vector<float> x, const std::vector<std::int32_t>& pos, int num_heads,
                            int head_dim, int rope_dim, float base, const std::vector<float>& factors = {}) {
    const RopeTable table(rope_dim, base, factors);
    std::vector<float> cos_sin(pos.size() * rope_dim);
    table.rope_cos_sin(pos, cos_sin.data());
    apply_rope(style, x.data(), static_cast<std::int64_t>(pos.size()), num_heads, head_dim, rope_dim, cos_sin.data());
    return x;
}

TEST(RopeTest, HandComputedNormalAndNeox) {
    // head_dim 4, rope_dim 4, base 10000, position 1: angles 1 and 10000^(-1/2) = 0.01.
    const std::vector<float> x = {1, 2, 3, 4};
    const double c1 = std::cos(1.0), s1 = std::sin(1.0), c2 = std::cos(0.01), s2 = std::sin(0.01);
    const auto normal = run_rope(RopeStyle::Normal, x, {1}, 1, 4, 4, 10000.0f);
    // pairs (x0, x1) by angle 1, (x2, x3) by 0.01
    EXPECT_NEAR(normal[0], 1 * c1 - 2 * s1, 1e-6);
    EXPECT_NEAR(normal[1], 1 * s1 + 2 * c1, 1e-6);
    EXPECT_NEAR(normal[2], 3 * c2 - 4 * s2, 1e-6);
    EXPECT_NEAR(normal[3], 3 * s2 + 4 * c2, 1e-6);
    const auto neox = run_rope(RopeStyle::Neox, x, {1}, 1, 4, 4, 10000.0f);
    // pairs (x0, x2) by angle 1, (x1, x3) by 0.01
    EXPECT_NEAR(neox[0], 1 * c1 - 3 * s1, 1e-6);
    EXPECT_NEAR(neox[2], 1 * s1 + 3 * c1, 1e-6);
    EXPECT_NEAR(neox[1], 2 * c2 - 4 * s2, 1e-6);
    EXPECT_NEAR(neox[3], 2 * s2 + 4 * c2, 1e-6);
}

TEST(RopeTest, PositionZeroIsIdentityAndDimsPastRopeDimPassThrough) {
    std::mt19937 rng(5);
    const auto x = random_values(2 * 3 * 10, rng);  // 2 tokens, 3 heads, head_dim 10
    for (RopeStyle style : {RopeStyle::Normal, RopeStyle::Neox}) {
        const auto y = run_rope(style, x, {0, 9}, 3, 10, 6, 10000.0f);
        for (int e = 0; e < 30; ++e) EXPECT_EQ(y[e], x[e]);  // token 0 at position 0
        for (int h = 0; h < 3; ++h) {
            for (int d = 6; d < 10; ++d) EXPECT_EQ(y[30 + h * 10 + d], x[30 + h * 10 + d]);
        }
    }
}

TEST(RopeTest, MatchesFormulaForBothStylesFullAndPartialRopeDim) {
    std::mt19937 rng(6);
    struct Case {
        int num_heads, head_dim, rope_dim;
        float base;
    };
    for (const Case& c : {Case{4, 64, 64, 10000.0f}, Case{2, 128, 128, 1000000.0f}, Case{3, 64, 32, 10000.0f},
                          Case{2, 80, 20, 500000.0f}, Case{1, 8, 2, 10000.0f}}) {
        const std::vector<std::int32_t> pos = {0, 1, 2, 17, 511, 4095, 131071, 7};
        const auto x = random_values(pos.size() * c.num_heads * c.head_dim, rng);
        for (RopeStyle style : {RopeStyle::Normal, RopeStyle::Neox}) {
            const auto got = run_rope(style, x, pos, c.num_heads, c.head_dim, c.rope_dim, c.base);
            const auto expected = rope_reference(style, x, pos, c.num_heads, c.head_dim, c.rope_dim, c.base, {});
            for (std::size_t e = 0; e < x.size(); ++e) {
                ASSERT_NEAR(got[e], expected[e], 2e-6 * 3) << "head_dim " << c.head_dim << " rope_dim " << c.rope_dim
                                                           << " style " << int(style) << " element " << e;
            }
        }
    }
}

TEST(RopeTest, FrequencyFactorsDivideTheAngles) {
    std::mt19937 rng(8);
    const std::vector<float> factors = {1.0f, 2.0f, 8.0f, 32.0f};
    const std::vector<std::int32_t> pos = {3, 100, 2000};
    const auto x = random_values(pos.size() * 2 * 8, rng);
    const auto got = run_rope(RopeStyle::Normal, x, pos, 2, 8, 8, 500000.0f, factors);
    const auto expected = rope_reference(RopeStyle::Normal, x, pos, 2, 8, 8, 500000.0, factors);
    for (std::size_t e = 0; e < x.size(); ++e) ASSERT_NEAR(got[e], expected[e], 6e-6) << e;
}

TEST(RopeTest, ScoresDependOnlyOnRelativePosition) {
    // <rope(q, m), rope(k, n)> is a function of m - n: shifting both positions changes nothing.
    std::mt19937 rng(9);
    for (RopeStyle style : {RopeStyle::Normal, RopeStyle::Neox}) {
        const auto q = random_values(64, rng), k = random_values(64, rng);
        auto dot_at = [&](int m, int n) {
            const auto qr = run_rope(style, q, {m}, 1, 64, 64, 10000.0f);
            const auto kr = run_rope(style, k, {n}, 1, 64, 64, 10000.0f);
            double dot = 0.0;
            for (int d = 0; d < 64; ++d) dot += double(qr[d]) * kr[d];
            return dot;
        };
        EXPECT_NEAR(dot_at(10, 3), dot_at(1010, 1003), 1e-4);
        EXPECT_NEAR(dot_at(7, 7), dot_at(0, 0), 1e-4);
        EXPECT_GT(std::abs(dot_at(10, 3) - dot_at(10, 4)), 1e-3);  // and it does depend on m - n
    }
}

}  // namespace norm_rope_test
}  // namespace kvscope
