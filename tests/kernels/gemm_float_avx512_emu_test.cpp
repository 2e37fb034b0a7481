// The AVX-512 float GEMM (kernels/cpu/gemm_float_avx512.cpp) checked on any CPU: this file
// compiles that source once more with the intrinsics emulated in portable C++ by SIMDe
// (libsimde-dev) and compares it with a double-precision reference, for F32, F16 and BF16
// weights, every tile remainder (1..7 activation rows, rows not a multiple of 4, columns not a
// multiple of 16) and a row range inside the weight. CPUs with AVX-512 run the real kernel in
// matmul_test. Without SIMDe the test skips.

#include "tests/kernels/simde_avx512.h"  // KVSCOPE_HAVE_SIMDE; with it, the emulated intrinsics
#if KVSCOPE_HAVE_SIMDE
#include "kernels/cpu/gemm_float_avx512.cpp"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/gemm_float.h"
#include "kernels/fp16.h"
#include "tests/kernels/quant_test_util.h"

namespace kvscope {
namespace gemm_float_avx512_emu_test {

TEST(GemmFloatAvx512Emulated, MatchesTheReference) {
#if !KVSCOPE_HAVE_SIMDE
    GTEST_SKIP() << "SIMDe (libsimde-dev) is not installed: the emulated AVX-512 kernels are not built";
#else
    const std::int64_t rows = 13, r0 = 2, r1 = 11;
    for (const std::int64_t cols : {16, 37, 96}) {
        const auto values = test::random_row(rows * cols, 5, 0.2f);
        // the weights in each type, and their values as the kernel reads them
        std::vector<float> f32 = values, from16(values.size()), from_bf16(values.size());
        std::vector<std::uint16_t> f16(values.size()), bf16(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            f16[i] = f32_to_fp16(values[i]);
            from16[i] = fp16_to_f32(f16[i]);
            bf16[i] = f32_to_bf16(values[i]);
            from_bf16[i] = bf16_to_f32(bf16[i]);
        }
        struct Case {
            const char* name;
            cpu::GemmFloatFn fn;
            const void* w;
            const std::vector<float>& seen;
        };
        const Case cases[] = {{"F32", cpu::kGemmFloatAvx512Emulated.f32, f32.data(), f32},
                              {"F16", cpu::kGemmFloatAvx512Emulated.f16, f16.data(), from16},
                              {"BF16", cpu::kGemmFloatAvx512Emulated.bf16, bf16.data(), from_bf16}};
        for (const Case& c : cases) {
            for (std::int64_t n = 1; n <= 7; ++n) {
                const auto x = test::random_row(n * cols, 40 + static_cast<unsigned>(n), 0.0f);
                std::vector<float> y(static_cast<std::size_t>(n * rows), -7.0f);
                c.fn(cpu::GemmFloatArgs{c.w, cols, x.data(), n, y.data(), rows, r0, r1});
                for (std::int64_t t = 0; t < n; ++t) {
                    for (std::int64_t r = 0; r < rows; ++r) {
                        const std::string what = std::string(c.name) + " cols=" + std::to_string(cols) +
                                                 " n=" + std::to_string(n) + " t=" + std::to_string(t) +
                                                 " r=" + std::to_string(r);
                        if (r < r0 || r >= r1) {
                            ASSERT_EQ(y[t * rows + r], -7.0f) << what << ": written outside the row range";
                            continue;
                        }
                        double dot = 0, mag = 0;
                        for (std::int64_t k = 0; k < cols; ++k) {
                            const double p = double(c.seen[r * cols + k]) * x[t * cols + k];
                            dot += p;
                            mag += std::fabs(p);
                        }
                        ASSERT_NEAR(y[t * rows + r], dot, 1e-5 * mag + 1e-6) << what;
                    }
                }
            }
        }
    }
#endif
}

}  // namespace gemm_float_avx512_emu_test
}  // namespace kvscope
