// The AVX-512 kernels (kernels/cpu/quant_avx512.cpp) checked on any CPU: this file compiles
// that source once more with every intrinsic emulated in portable C++ by SIMDe (Debian package
// libsimde-dev), and compares the emulated kernels with the scalar ones. Machines without
// AVX-512 (like the CI machines) run no real AVX-512 code, so this is what keeps that file
// honest there. Without SIMDe the tests skip.

#include "tests/kernels/simde_avx512.h"  // KVSCOPE_HAVE_SIMDE; with it, the emulated intrinsics
#if KVSCOPE_HAVE_SIMDE
#include "kernels/cpu/quant_avx512.cpp"
#endif

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/cpu/quant_kernels.h"
#include "tests/kernels/quant_test_util.h"

namespace kvscope {
namespace quant_avx512_emu_test {

using test::abs_dot_double;
using test::dequantize;
using test::quantize;
using test::random_row;

#if KVSCOPE_HAVE_SIMDE
const cpu::KernelList& emulated() {
    return cpu::kAvx512EmulatedKernels;
}
#endif

class QuantAvx512Emulated : public testing::Test {
protected:
    void SetUp() override {
#if !KVSCOPE_HAVE_SIMDE
        GTEST_SKIP() << "SIMDe (libsimde-dev) is not installed: the emulated AVX-512 kernels are not built";
#endif
    }
};

TEST_F(QuantAvx512Emulated, KernelsMatchScalar) {
#if KVSCOPE_HAVE_SIMDE
    int num_dots = 0, num_quantisers = 0;
    for (int e = 0; e < emulated().num_entries; ++e) {
        const TypeKernels& emu = emulated().entries[e];
        const TensorType t = emu.type;
        const TypeKernels& scalar = type_kernels(t, SimdLevel::Scalar);
        const std::int64_t bs = std::max(type_info(t).block_elems, type_info(scalar.vec_dot_type).block_elems);
        std::vector<std::int64_t> lengths = {bs, 2 * bs, 3 * bs, 7 * bs, 4096};
        if (bs == 1) lengths.insert(lengths.end(), {7, 15, 17, 63, 65, 100, 4096 + 13});
        unsigned seed = 1;
        for (std::int64_t n : lengths) {
            for (int rep = 0; rep < 6; ++rep, ++seed) {
                const auto w_f32 = random_row(n, seed, rep % 3 == 0 ? 0.8f : 0.0f);
                const auto x_f32 = random_row(n, 500 + seed, rep % 2 ? -0.4f : 0.0f, 2.0f);
                if (emu.quantize != nullptr) {  // the activation quantisers write the scalar bytes
                    std::vector<std::uint8_t> got(row_bytes(t, n));
                    emu.quantize(x_f32.data(), got.data(), n);
                    ASSERT_EQ(got, quantize(t, x_f32)) << type_name(t) << " n=" << n;
                    ++num_quantisers;
                }
                if (emu.vec_dot != nullptr) {
                    const auto w = quantize(t, w_f32);
                    const auto x = quantize(scalar.vec_dot_type, x_f32);
                    const double tol =
                        1e-5 * abs_dot_double(dequantize(t, w, n), dequantize(scalar.vec_dot_type, x, n));
                    ASSERT_NEAR(emu.vec_dot(n, w.data(), x.data()), scalar.vec_dot(n, w.data(), x.data()), tol + 1e-6)
                        << type_name(t) << " n=" << n;
                    ++num_dots;
                }
                if (emu.vec_dot_f32 != nullptr) {
                    const auto w = quantize(t, w_f32);
                    const double tol = 1e-5 * abs_dot_double(dequantize(t, w, n), x_f32);
                    ASSERT_NEAR(emu.vec_dot_f32(n, w.data(), x_f32.data()),
                                scalar.vec_dot_f32(n, w.data(), x_f32.data()), tol + 1e-6)
                        << type_name(t) << " n=" << n;
                }
            }
        }
    }
    // the list holds what the design says: F32, F16, Q8_0, Q4_0, Q4_K, Q6_K dots; Q8_0, Q8_K quantisers
    EXPECT_EQ(num_dots, (4 * 5 + 2 * 12) * 6);  // block types: 5 lengths; float types: 12
    EXPECT_GT(num_quantisers, 0);
#endif
}

TEST_F(QuantAvx512Emulated, Q6KFourRowDotEqualsFourVecDotsBitForBit) {
#if KVSCOPE_HAVE_SIMDE
    const TypeKernels* emu = nullptr;
    for (int e = 0; e < emulated().num_entries; ++e) {
        if (emulated().entries[e].type == TensorType::Q6_K) emu = &emulated().entries[e];
    }
    ASSERT_NE(emu, nullptr);
    unsigned seed = 3;
    for (std::int64_t n : {256, 1024}) {
        for (int rep = 0; rep < 4; ++rep, ++seed) {
            const auto w = quantize(TensorType::Q6_K, random_row(n, seed, rep % 2 ? 0.8f : 0.0f));
            const auto x = test::four_q8_k_rows(n, 700 + 4 * seed);
            const std::size_t stride = x.size() / 4;
            float out[4];
            cpu::dot4_q6_k_avx512_emulated(n, w.data(), x.data(), stride, out);
            for (int t = 0; t < 4; ++t) {
                EXPECT_EQ(out[t], emu->vec_dot(n, w.data(), x.data() + t * stride)) << "n=" << n << " row " << t;
            }
        }
    }
#endif
}

TEST_F(QuantAvx512Emulated, ExtremeQuantsMatchScalar) {
#if KVSCOPE_HAVE_SIMDE
    // weights at the ends of their ranges (Q8_0 -128..127, Q4_0 0..15), activations at +-127
    const std::int64_t n = 96;  // 3 blocks: the odd last one takes the 256-bit path
    for (TensorType t : {TensorType::Q8_0, TensorType::Q4_0}) {
        std::vector<std::uint8_t> w(row_bytes(t, n), 0), x(row_bytes(TensorType::Q8_0, n), 0);
        const std::size_t wb = type_info(t).block_bytes;
        for (std::size_t b = 0; b < 3; ++b) {
            w[b * wb] = 0x00, w[b * wb + 1] = 0x3c;  // d = 1
            x[b * 34] = 0x00, x[b * 34 + 1] = 0x3c;
            for (std::size_t j = 2; j < wb; ++j) w[b * wb + j] = static_cast<std::uint8_t>(j % 2 ? 0x80 : 0x7f);
            for (std::size_t j = 2; j < 34; ++j) x[b * 34 + j] = static_cast<std::uint8_t>(j % 3 ? 0x81 : 0x7f);
        }
        const TypeKernels* emu = nullptr;
        for (int e = 0; e < emulated().num_entries; ++e) {
            if (emulated().entries[e].type == t) emu = &emulated().entries[e];
        }
        ASSERT_NE(emu, nullptr);
        EXPECT_EQ(emu->vec_dot(n, w.data(), x.data()),
                  type_kernels(t, SimdLevel::Scalar).vec_dot(n, w.data(), x.data()))
            << type_name(t);
    }
#endif
}

}  // namespace quant_avx512_emu_test
}  // namespace kvscope
