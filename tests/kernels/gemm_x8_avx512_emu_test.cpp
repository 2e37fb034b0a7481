// The AVX-512 (VNNI) packed-weight kernels (kernels/cpu/gemm_x8_avx512.cpp) checked on any CPU:
// this file compiles that source once more with the intrinsics emulated in portable C++ by SIMDe
// (libsimde-dev) and compares the emulated kernels with the scalar reference kernels on random
// packed weights, every tile size (1..4 activation rows and their remainders), with groups paired
// in 512-bit tiles, an odd one left alone, and ranges that start on an odd group. A row's result
// must not depend on whether its group was paired: bit for bit equal to one group at a time.
// CPUs with AVX-512 VNNI run the real kernels in matmul_test. Without SIMDe the tests skip.

#include "tests/kernels/simde_avx512.h"  // KVSCOPE_HAVE_SIMDE; with it, the emulated intrinsics
#if KVSCOPE_HAVE_SIMDE
#include "kernels/cpu/gemm_x8_avx512.cpp"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/gemm_x8.h"
#include "kernels/fp16.h"
#include "kernels/packed_weight.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"
#include "tests/kernels/quant_test_util.h"

namespace kvscope {
namespace gemm_x8_avx512_emu_test {

#if KVSCOPE_HAVE_SIMDE
constexpr float kUntouched = -7.0f;

// Runs `fn` for the groups [g0, g1) of the packed weights of w against n activation rows, into y.
void run_kernel(cpu::GemmX8Fn fn, const WeightTensor& w, const std::vector<std::uint8_t>& packed,
                const std::vector<std::uint8_t>& xq, const std::vector<float>& xd, std::int64_t n, std::int64_t g0,
                std::int64_t g1, std::vector<float>& y) {
    const std::int64_t rows = w.rows, cols = w.cols;
    const cpu::GemmX8Args args{packed.data(),
                               packed_group_bytes(w),
                               cols / kQk,
                               xq.data(),
                               static_cast<std::int64_t>(row_bytes(TensorType::Q8_0, cols)),
                               xd.data(),
                               n,
                               y.data(),
                               rows,
                               g0,
                               g1};
    fn(args);
}

// All of w's groups at once.
std::vector<float> run_kernel(cpu::GemmX8Fn fn, const WeightTensor& w, const std::vector<std::uint8_t>& packed,
                              const std::vector<std::uint8_t>& xq, const std::vector<float>& xd, std::int64_t n) {
    std::vector<float> y(static_cast<std::size_t>(n * w.rows), kUntouched);
    run_kernel(fn, w, packed, xq, xd, n, 0, w.rows / kPackRows, y);
    return y;
}
#endif

TEST(GemmX8Avx512Emulated, KernelsMatchScalar) {
#if !KVSCOPE_HAVE_SIMDE
    GTEST_SKIP() << "SIMDe (libsimde-dev) is not installed: the emulated AVX-512 kernels are not built";
#else
    const std::int64_t rows = 40;  // 5 groups: a panel of two pairs, then one group alone
    for (TensorType type : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K}) {
        // weights: random rows packed (the K-quants: two super-blocks)
        const std::int64_t cols = type_info(type).block_elems == 256 ? 512 : 96;
        std::vector<std::uint8_t> stored(rows * row_bytes(type, cols));
        for (std::int64_t r = 0; r < rows; ++r) {
            const auto row = test::random_row(cols, 10 + static_cast<unsigned>(r), r % 2 ? 0.5f : 0.0f);
            quantize_row(type, row.data(), stored.data() + r * row_bytes(type, cols), cols);
        }
        const WeightTensor w{type, rows, cols, stored.data()};
        std::vector<std::uint8_t> packed(packed_bytes(w));
        pack_weight(w, packed.data(), 0, rows / kPackRows);
        for (std::int64_t n : {1, 2, 3, 4, 5, 6, 7, 9}) {
            // activations: Q8_0 rows and their {d, 8 d sum(q)}
            std::vector<std::uint8_t> xq(n * row_bytes(TensorType::Q8_0, cols));
            std::vector<float> xd(static_cast<std::size_t>(n * (cols / kQk) * 2));
            for (std::int64_t t = 0; t < n; ++t) {
                const auto x = test::random_row(cols, 100 + static_cast<unsigned>(t), 0.0f, 3.0f);
                auto* row = xq.data() + t * row_bytes(TensorType::Q8_0, cols);
                quantize_row(TensorType::Q8_0, x.data(), row, cols);
                const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
                for (std::int64_t b = 0; b < cols / kQk; ++b) {
                    int sum = 0;
                    for (int i = 0; i < kQk; ++i) sum += blocks[b].qs[i];
                    const float d = fp16_to_f32(blocks[b].d);
                    xd[(t * (cols / kQk) + b) * 2] = d;
                    xd[(t * (cols / kQk) + b) * 2 + 1] = 8.0f * d * static_cast<float>(sum);
                }
            }
            auto pick = [&](const cpu::GemmX8Kernels& k) {
                return type == TensorType::Q4_0   ? k.q4_0
                       : type == TensorType::Q8_0 ? k.q8_0
                       : type == TensorType::Q4_K ? k.q4_k
                                                  : k.q5_k;
            };
            const cpu::GemmX8Fn fn = pick(cpu::kGemmX8Avx512Emulated);
            const auto got = run_kernel(fn, w, packed, xq, xd, n);
            const auto want = run_kernel(pick(cpu::kGemmX8Scalar), w, packed, xq, xd, n);
            for (std::size_t i = 0; i < got.size(); ++i) {
                ASSERT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::fabs(want[i])))
                    << type_name(type) << " n=" << n << " i=" << i;
            }
            // one group at a time (never paired), and groups [1, 4) (a pair from an odd group, then
            // one alone): the same bits, and nothing written outside the range
            std::vector<float> singles(got.size(), kUntouched), middle(got.size(), kUntouched);
            for (std::int64_t g = 0; g < rows / kPackRows; ++g) run_kernel(fn, w, packed, xq, xd, n, g, g + 1, singles);
            run_kernel(fn, w, packed, xq, xd, n, 1, 4, middle);
            for (std::size_t i = 0; i < got.size(); ++i) {
                ASSERT_EQ(singles[i], got[i]) << type_name(type) << " n=" << n << " i=" << i;
                const std::int64_t group = static_cast<std::int64_t>(i) % rows / kPackRows;
                ASSERT_EQ(middle[i], group >= 1 && group < 4 ? got[i] : kUntouched)
                    << type_name(type) << " n=" << n << " i=" << i;
            }
        }
    }
#endif
}

}  // namespace gemm_x8_avx512_emu_test
}  // namespace kvscope
