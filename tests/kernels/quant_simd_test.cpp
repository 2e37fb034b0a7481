// Every SIMD level this CPU has gives the scalar kernels' results: the same bytes from the
// activation quantisers, the same dot products up to float summation order, over many random
// rows and several lengths. Levels the CPU lacks are skipped (the AVX-512 kernels are also
// checked under emulation in quant_avx512_emu_test).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/quant.h"
#include "tests/kernels/quant_test_util.h"
#include "tests/support/param_print.h"

namespace kvscope {
namespace quant_simd_test {

using test::abs_dot_double;
using test::block_elems;
using test::dequantize;
using test::quantize;
using test::random_row;
using test::weight_types;

using Param = std::tuple<SimdLevel, TensorType>;

std::string name_of(const testing::TestParamInfo<Param>& info) {
    return std::string(simd_level_name(std::get<0>(info.param))) + "_" +
           std::string(type_name(std::get<1>(info.param)));
}

class QuantSimd : public testing::TestWithParam<Param> {
protected:
    void SetUp() override {
        level_ = std::get<0>(GetParam());
        type_ = std::get<1>(GetParam());
        if (level_ > detect_simd_level()) {
            GTEST_SKIP() << "this CPU lacks " << simd_level_name(level_)
                         << " (best: " << simd_level_name(detect_simd_level()) << ")";
        }
    }

    // row lengths: 1, 2, 7 blocks (of both operands), 4096, and odd ones for the float types
    std::vector<std::int64_t> lengths() const {
        const std::int64_t bs = std::max(block_elems(type_), block_elems(type_kernels(type_).vec_dot_type));
        std::vector<std::int64_t> ns = {bs, 2 * bs, 7 * bs, 4096};
        if (bs == 1) ns.insert(ns.end(), {7, 15, 31, 33, 100, 4096 + 13});
        return ns;
    }

    SimdLevel level_ = SimdLevel::Scalar;
    TensorType type_ = TensorType::F32;
};

TEST_P(QuantSimd, VecDotMatchesScalar) {
    const TypeKernels& simd = type_kernels(type_, level_);
    const TypeKernels& scalar = type_kernels(type_, SimdLevel::Scalar);
    unsigned seed = 1;
    for (std::int64_t n : lengths()) {
        for (int rep = 0; rep < 20; ++rep, ++seed) {
            // mix of centred and shifted rows, so the min terms of Q4_1/Q5_1/Q4_K/Q5_K matter
            const auto w = quantize(type_, random_row(n, seed, rep % 3 == 0 ? 0.8f : 0.0f));
            const auto x_f32 = random_row(n, 1000 + seed, rep % 4 == 1 ? -0.5f : 0.0f, 3.0f);
            const auto x = quantize(scalar.vec_dot_type, x_f32);
            const auto wd = dequantize(type_, w, n);
            const auto xd = dequantize(scalar.vec_dot_type, x, n);
            const double tol = 1e-5 * abs_dot_double(wd, xd) + 1e-6;
            ASSERT_NEAR(simd.vec_dot(n, w.data(), x.data()), scalar.vec_dot(n, w.data(), x.data()), tol)
                << "n=" << n << " rep=" << rep;
            const double tol_f32 = 1e-5 * abs_dot_double(wd, x_f32) + 1e-6;
            ASSERT_NEAR(simd.vec_dot_f32(n, w.data(), x_f32.data()), scalar.vec_dot_f32(n, w.data(), x_f32.data()),
                        tol_f32)
                << "n=" << n << " rep=" << rep;
        }
    }
}

TEST_P(QuantSimd, QuantiseAndDequantiseMatchScalar) {
    const TypeKernels& simd = type_kernels(type_, level_);
    const TypeKernels& scalar = type_kernels(type_, SimdLevel::Scalar);
    for (std::int64_t n : lengths()) {
        // shifted, centred, mostly negative, tiny, with outliers, constant: the K-quants' grid
        // searches take different branches on each
        std::vector<std::vector<float>> rows = {random_row(n, 77 + static_cast<unsigned>(n), 0.1f, 2.0f),
                                                random_row(n, 78, 0.0f, 0.02f),
                                                random_row(n, 79, -2.0f, 0.5f),
                                                random_row(n, 80, 0.0f, 1e-6f),
                                                random_row(n, 81, 0.0f, 0.01f),
                                                std::vector<float>(static_cast<std::size_t>(n), 0.25f)};
        for (std::size_t i = 0; i < rows[4].size(); i += 13) rows[4][i] = i % 2 ? 3.0f : -3.0f;
        std::vector<std::uint8_t> a(row_bytes(type_, n)), b(row_bytes(type_, n));
        std::vector<float> da(static_cast<std::size_t>(n)), db(static_cast<std::size_t>(n));
        for (std::size_t k = 0; k < rows.size(); ++k) {
            simd.quantize(rows[k].data(), a.data(), n);
            scalar.quantize(rows[k].data(), b.data(), n);
            ASSERT_EQ(a, b) << "n=" << n << " row kind " << k;
            simd.dequantize(a.data(), da.data(), n);
            scalar.dequantize(a.data(), db.data(), n);
            ASSERT_EQ(da, db) << "n=" << n << " row kind " << k;
        }
    }
}

TEST_P(QuantSimd, EdgeRows) {
    const TypeKernels& simd = type_kernels(type_, level_);
    const TypeKernels& scalar = type_kernels(type_, SimdLevel::Scalar);
    const std::int64_t n = 512;
    // zero weights, zero activations, all-negative, huge
    std::vector<std::vector<float>> rows = {std::vector<float>(n, 0.0f), std::vector<float>(n, -3.0f),
                                            random_row(n, 5, -4.0f, 0.1f), random_row(n, 6, 0.0f, 1e3f)};
    for (const auto& wr : rows) {
        for (const auto& xr : rows) {
            const auto w = quantize(type_, wr);
            const auto x = quantize(scalar.vec_dot_type, xr);
            const float want = scalar.vec_dot(n, w.data(), x.data());
            ASSERT_TRUE(std::isfinite(want));
            const double tol = 1e-5 * abs_dot_double(dequantize(type_, w, n), dequantize(scalar.vec_dot_type, x, n));
            ASSERT_NEAR(simd.vec_dot(n, w.data(), x.data()), want, tol + 1e-6);
        }
    }
}

// The matmul's 4-row K-quant dots (prompt processing): each of the 4 results is its level's
// vec_dot of that row, bit for bit (the same sums in the same order), so a prompt gives the logits
// it would give row by row.
void expect_four_vec_dots(TensorType type, SimdLevel level, cpu::RowDot4Fn dot4) {
    const TypeKernels& k = type_kernels(type, level);
    unsigned seed = 7;
    for (std::int64_t n : {256, 768, 4096}) {
        for (int rep = 0; rep < 10; ++rep, ++seed) {
            const auto w = quantize(type, random_row(n, seed, rep % 2 ? 0.8f : 0.0f));
            const auto x = test::four_q8_k_rows(n, 500 + 4 * seed);
            const std::size_t stride = x.size() / 4;
            float out[4];
            dot4(n, w.data(), x.data(), stride, out);
            for (int t = 0; t < 4; ++t) {
                EXPECT_EQ(out[t], k.vec_dot(n, w.data(), x.data() + t * stride))
                    << type_name(type) << " " << simd_level_name(level) << " n=" << n << " row " << t;
            }
        }
    }
}

TEST(QuantSimdRowDot4, KQuantsEqualFourVecDotsBitForBit) {
    if (detect_simd_level() < SimdLevel::Avx2) GTEST_SKIP() << "this CPU lacks AVX2";
    expect_four_vec_dots(TensorType::Q4_K, SimdLevel::Avx2, cpu::dot4_q4_k_avx2);
    expect_four_vec_dots(TensorType::Q6_K, SimdLevel::Avx2, cpu::dot4_q6_k_avx2);
}

TEST(QuantSimdRowDot4, Avx512Q6KEqualsFourVecDotsBitForBit) {
    if (detect_simd_level() < SimdLevel::Avx512) {
        GTEST_SKIP() << "this CPU lacks AVX-512 VNNI (quant_avx512_emu_test checks the kernel emulated)";
    }
    expect_four_vec_dots(TensorType::Q6_K, SimdLevel::Avx512, cpu::dot4_q6_k_avx512);
}

// The activation types: their SIMD quantisers must write the scalar bytes exactly.
TEST(QuantSimdActivations, SameBytesAsScalar) {
    for (int level = 1; level <= static_cast<int>(detect_simd_level()); ++level) {
        for (TensorType t : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
            for (unsigned seed = 0; seed < 50; ++seed) {
                std::vector<float> x = random_row(1024, seed, seed % 2 ? 0.3f : 0.0f, 1.0f + static_cast<float>(seed));
                if (seed % 5 == 0) std::fill(x.begin(), x.begin() + 256, 0.0f);  // zero blocks: d = 0
                ASSERT_EQ(quantize(t, x, static_cast<SimdLevel>(level)), quantize(t, x, SimdLevel::Scalar))
                    << type_name(t) << " level " << level << " seed " << seed;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, QuantSimd,
                         testing::Combine(testing::Values(SimdLevel::Avx2, SimdLevel::Avx512),
                                          testing::ValuesIn(weight_types())),
                         name_of);

}  // namespace quant_simd_test
}  // namespace kvscope
