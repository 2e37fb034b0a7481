// SwiGLU, the residual add and softmax against hand-computed values and double references,
// at every SIMD level (levels the CPU lacks are skipped).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/softmax.h"
#include "tests/support/param_print.h"

namespace kvscope {
namespace activation_softmax_test {

constexpr float kInf = std::numeric_limits<float>::infinity();

class LevelTest : public testing::TestWithParam<SimdLevel> {
protected:
    void SetUp() override {
        if (GetParam() > detect_simd_level()) {
            GTEST_SKIP() << "this CPU has no " << simd_level_name(GetParam())
                         << " (best: " << simd_level_name(detect_simd_level()) << ")";
        }
    }
};

using SwigluTest = LevelTest;
using SoftmaxTest = LevelTest;

TEST(AddTest, AddsInPlace) {
    std::vector<float> y = {1, 2, 3, 4, 5, 6, 7, 8, 9}, x = {9, 8, 7, 6, 5, 4, 3, 2, 1};
    add_inplace(y.data(), x.data(), 9);
    for (float v : y) EXPECT_EQ(v, 10.0f);
}

TEST_P(SwigluTest, HandComputedValues) {
    // silu(0) = 0; silu(ln 3) = ln 3 * 3/4; silu(-ln 3) = -ln 3 / 4.
    const float l3 = std::log(3.0f);
    const std::vector<float> gate = {0.0f, l3, -l3}, up = {5.0f, 2.0f, -4.0f};
    std::vector<float> out(3);
    swiglu(gate.data(), up.data(), out.data(), 3, GetParam());
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_NEAR(out[1], l3 * 0.75 * 2, 1e-6);
    EXPECT_NEAR(out[2], -l3 * 0.25 * -4, 1e-6);
}

TEST_P(SwigluTest, MatchesDoubleReferenceIncludingSaturation) {
    std::mt19937 rng(21);
    std::uniform_real_distribution<float> wide(-12.0f, 12.0f);
    for (std::int64_t n : {1, 7, 8, 9, 31, 1000}) {
        std::vector<float> gate(n), up(n), out(n);
        for (std::int64_t i = 0; i < n; ++i) {
            gate[i] = wide(rng);
            up[i] = wide(rng);
        }
        // saturated and extreme gates: silu(g) -> g for large g, -> -0 for very negative g
        const float extremes[] = {100.0f, -100.0f, 88.5f, -88.5f, 87.0f, -87.0f, 30.0f, -30.0f, 1e-30f, -1e-30f};
        for (std::int64_t i = 0; i < n && i < 10; ++i) gate[i] = extremes[i];
        swiglu(gate.data(), up.data(), out.data(), n, GetParam());
        for (std::int64_t i = 0; i < n; ++i) {
            const double g = gate[i];
            const double expected = g / (1.0 + std::exp(-g)) * up[i];
            ASSERT_NEAR(out[i], expected, 2e-6 * std::abs(expected) + 1e-30) << "gate " << g;
        }
        // in place over gate
        std::vector<float> in_place = gate;
        swiglu(in_place.data(), up.data(), in_place.data(), n, GetParam());
        EXPECT_EQ(in_place, out);
    }
}

std::vector<double> softmax_reference(const std::vector<float>& x) {
    double max = -kInf;
    for (float v : x) max = std::max(max, double(v));
    std::vector<double> p(x.size());
    double sum = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(double(x[i]) - max);
    for (double& v : p) v /= sum;
    return p;
}

TEST_P(SoftmaxTest, MatchesDoubleReferenceAndSumsToOne) {
    std::mt19937 rng(22);
    std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
    for (std::int64_t n : {1, 2, 7, 8, 9, 100, 1023, 50001}) {
        std::vector<float> x(n);
        for (auto& v : x) v = dist(rng);
        const auto expected = softmax_reference(x);
        softmax(x.data(), n, GetParam());
        double sum = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {
            // relative error: x - max rounded to float (|x - max| <= 40: 40 * 2^-24 = 2.4e-6), exp, 1/sum
            ASSERT_NEAR(x[i], expected[i], 5e-6 * expected[i] + 1e-37) << "n " << n << " i " << i;
            sum += x[i];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5) << "n " << n;
    }
}

TEST_P(SoftmaxTest, Extremes) {
    auto run = [&](std::vector<float> x) {
        softmax(x.data(), static_cast<std::int64_t>(x.size()), GetParam());
        return x;
    };
    // a single entry is certain
    EXPECT_EQ(run({-123.0f}), std::vector<float>{1.0f});
    // huge gaps: the small ones underflow to (almost exactly) zero, never nan
    auto p = run({1000.0f, 0.0f, -1000.0f});
    EXPECT_NEAR(p[0], 1.0f, 1e-7);
    EXPECT_LT(p[1], 1e-37f);
    EXPECT_LT(p[2], 1e-37f);
    // values at the ends of the float range do not overflow
    p = run({3.0e38f, 3.0e38f, -3.0e38f});
    EXPECT_NEAR(p[0], 0.5f, 1e-7);
    EXPECT_NEAR(p[1], 0.5f, 1e-7);
    EXPECT_EQ(p[2], 0.0f);
    p = run({-1e30f, -1e30f, -1e30f, -1e30f});
    for (float v : p) EXPECT_NEAR(v, 0.25f, 1e-7);
    // -inf entries get exactly zero, the rest share the mass
    p = run({-kInf, std::log(3.0f), -kInf, 0.0f, -kInf, -kInf, -kInf, -kInf, -kInf});
    EXPECT_EQ(p[0], 0.0f);
    EXPECT_NEAR(p[1], 0.75f, 1e-6);
    EXPECT_NEAR(p[3], 0.25f, 1e-6);
    EXPECT_EQ(p[8], 0.0f);
    // all -inf: no distribution, all zeros (documented)
    p = run({-kInf, -kInf, -kInf});
    for (float v : p) EXPECT_EQ(v, 0.0f);
    // many equal values: exactly uniform up to rounding
    p = run(std::vector<float>(100000, 7.0f));
    for (float v : p) ASSERT_NEAR(v, 1e-5f, 1e-11f);
}

const auto kLevels = testing::Values(SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512);
const auto kLevelName = [](const auto& info) { return std::string(simd_level_name(info.param)); };
INSTANTIATE_TEST_SUITE_P(Levels, SwigluTest, kLevels, kLevelName);
INSTANTIATE_TEST_SUITE_P(Levels, SoftmaxTest, kLevels, kLevelName);

}  // namespace activation_softmax_test
}  // namespace kvscope
