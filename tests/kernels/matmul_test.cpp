// matmul against a double-precision reference over the dequantised weights and activations,
// for every weight type, packed (Q4_0x8, Q8_0x8, Q4_Kx8, Q5_Kx8) and as stored, at every SIMD level of this
// CPU, with odd shapes: activation rows that leave every tile remainder, weight rows that split
// unevenly over threads, single blocks. The fused call (several weights, one region) must equal
// the separate ones.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/packed_weight.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"
#include "tests/kernels/quant_test_util.h"

namespace kvscope {
namespace matmul_test {

using test::random_row;

struct TestWeight {
    std::vector<std::uint8_t> bytes;   // as stored
    std::vector<std::uint8_t> packed;  // packed, when the type packs
    std::vector<float> values;         // dequantised (rows, cols)
    MatmulWeight weight;
};

TestWeight make_weight(TensorType type, std::int64_t rows, std::int64_t cols, unsigned seed, bool pack) {
    TestWeight t;
    const std::size_t rb = row_bytes(type, cols);
    t.bytes.resize(rb * static_cast<std::size_t>(rows));
    t.values.resize(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r) {
        const auto row = random_row(cols, seed + static_cast<unsigned>(r), r % 3 == 0 ? 0.3f : 0.0f);
        quantize_row(type, row.data(), t.bytes.data() + r * rb, cols);
        dequantize_row(type, t.bytes.data() + r * rb, t.values.data() + r * cols, cols);
    }
    t.weight.w = WeightTensor{type, rows, cols, t.bytes.data()};
    if (pack && packed_format(t.weight.w) != PackedFormat::None) {
        t.packed.resize(packed_bytes(t.weight.w));
        pack_weight(t.weight.w, t.packed.data(), 0, rows / kPackRows);
        t.weight.format = packed_format(t.weight.w);
        t.weight.packed = t.packed.data();
    }
    return t;
}

// x as the matmul sees it: quantised to the activation type, then dequantised.
std::vector<float> seen_activations(const MatmulWeight& w, const std::vector<float>& x, std::int64_t cols) {
    const TensorType act = matmul_activation_type(w);
    if (act == TensorType::F32) return x;
    std::vector<float> out(x.size());
    std::vector<std::uint8_t> q(row_bytes(act, cols));
    for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(cols); ++r) {
        quantize_row(act, x.data() + r * cols, q.data(), cols);
        dequantize_row(act, q.data(), out.data() + r * cols, cols);
    }
    return out;
}

// Checks y(n, rows) against the double reference: within 1e-5 of the sum of |products|.
void expect_matches(const TestWeight& w, const std::vector<float>& xs, std::int64_t n, const std::vector<float>& y,
                    const std::string& what) {
    const std::int64_t rows = w.weight.w.rows, cols = w.weight.w.cols;
    for (std::int64_t t = 0; t < n; ++t) {
        for (std::int64_t r = 0; r < rows; ++r) {
            double dot = 0, mag = 0;
            for (std::int64_t i = 0; i < cols; ++i) {
                const double p = double(w.values[r * cols + i]) * xs[t * cols + i];
                dot += p;
                mag += std::fabs(p);
            }
            ASSERT_NEAR(y[t * rows + r], dot, 1e-5 * mag + 1e-6) << what << " t=" << t << " r=" << r;
        }
    }
}

std::vector<SimdLevel> levels() {
    std::vector<SimdLevel> out;
    for (int l = 0; l <= static_cast<int>(detect_simd_level()); ++l) out.push_back(static_cast<SimdLevel>(l));
    return out;
}

std::string describe(TensorType type, bool packed, SimdLevel level, std::int64_t rows, std::int64_t cols,
                     std::int64_t n, int threads) {
    std::string s(type_name(type));
    s.append(packed ? " packed" : " stored").append(" ").append(simd_level_name(level));
    s += " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + " n=" + std::to_string(n) +
         " threads=" + std::to_string(threads);
    return s;
}

TEST(Matmul, EveryTypeLevelAndShapeMatchesTheReference) {
    // (Q4_1/Q5_1 are left out: their Q8_1 activations carry d * sum(q) rounded to f16, so they
    // are not exact against dequantised activations; quant_test covers them.)
    const TensorType types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0,
                                TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
    struct Shape {
        std::int64_t rows, cols;
    };
    for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        for (TensorType type : types) {
            const std::int64_t block = std::max<std::int64_t>(type_info(type).block_elems, 32);
            const std::int64_t big = type_info(type).block_elems == 256 ? 512 : 1024;
            // 8 rows (one group), 40 (2.5 units of 16), 136 (uneven over threads); one block, three, many
            std::vector<Shape> shapes = {Shape{8, block}, Shape{40, 3 * block}, Shape{136, big}};
            if (type_info(type).block_elems == 1) shapes.push_back(Shape{13, 37});  // float tiles: odd everything
            for (const Shape s : shapes) {
                for (std::int64_t n : {1, 2, 3, 4, 5, 7, 9}) {
                    const auto x = random_row(n * s.cols, 77 + static_cast<unsigned>(n), 0.1f);
                    for (bool pack : {false, true}) {
                        const TestWeight w = make_weight(type, s.rows, s.cols, 11, pack);
                        const auto xs = seen_activations(w.weight, x, s.cols);
                        std::vector<std::uint8_t> scratch(matmul_scratch_bytes(w.weight, n) + 64);
                        auto* aligned = reinterpret_cast<std::uint8_t*>(
                            (reinterpret_cast<std::uintptr_t>(scratch.data()) + 63) / 64 * 64);
                        for (SimdLevel level : levels()) {
                            std::vector<float> y(static_cast<std::size_t>(n * s.rows), -1.0f);
                            const MatmulWeight* ws[] = {&w.weight};
                            float* ys[] = {y.data()};
                            matmul_multi(pool, ws, x.data(), n, ys, aligned, level);
                            expect_matches(w, xs, n, y,
                                           describe(type, w.weight.format != PackedFormat::None, level, s.rows, s.cols,
                                                    n, threads));
                        }
                    }
                }
            }
        }
    }
}

TEST(Matmul, PackedTypesReallyPack) {
    // the formats the fast path relies on, and the shapes that fall back
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q4_0, 64, 2048, nullptr}), PackedFormat::Q4_0x8);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q8_0, 8, 32, nullptr}), PackedFormat::Q8_0x8);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q4_0, 12, 64, nullptr}), PackedFormat::None);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q4_K, 64, 256, nullptr}), PackedFormat::Q4_Kx8);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q4_K, 60, 256, nullptr}), PackedFormat::None);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q5_K, 16, 512, nullptr}), PackedFormat::Q5_Kx8);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::Q6_K, 64, 256, nullptr}), PackedFormat::None);
    EXPECT_EQ(packed_format(WeightTensor{TensorType::F16, 64, 256, nullptr}), PackedFormat::None);
}

TEST(Matmul, PackedLayoutIsTheDocumentedOne) {
    // Q4_0x8: group 0, block 1: the scales of rows 0..7, then chunk j holds row r's qs[4j..4j+3]
    const TestWeight w = make_weight(TensorType::Q4_0, 16, 64, 5, true);
    const auto* rows = reinterpret_cast<const BlockQ4_0*>(w.bytes.data());
    const std::uint8_t* gb = w.packed.data() + 144;  // group 0, block 1
    for (int r = 0; r < 8; ++r) {
        std::uint16_t d;
        std::memcpy(&d, gb + 2 * r, 2);
        EXPECT_EQ(d, rows[r * 2 + 1].d);
        for (int j = 0; j < 4; ++j) {
            for (int k = 0; k < 4; ++k) EXPECT_EQ(gb[16 + 32 * j + 4 * r + k], rows[r * 2 + 1].qs[4 * j + k]);
        }
    }
    // group 1 starts after all of group 0's blocks
    std::uint16_t d;
    std::memcpy(&d, w.packed.data() + 2 * 144, 2);
    EXPECT_EQ(d, rows[8 * 2].d);
}

TEST(Matmul, PackedKQuantsDecodeToTheStoredValues) {
    // Q4_Kx8 and Q5_Kx8 read back through the documented layout (packed_weight.h) give, element
    // for element, what dequantize_row gives for the rows as stored
    const std::int64_t rows = 16, cols = 512;
    auto f16 = [](const std::uint8_t* p) {
        std::uint16_t h;
        std::memcpy(&h, p, 2);
        return fp16_to_f32(h);
    };
    for (const TensorType type : {TensorType::Q4_K, TensorType::Q5_K}) {
        const bool q5 = type == TensorType::Q5_K;
        const std::int64_t sub_bytes = q5 ? 176 : 144, super_bytes = 32 + 8 * sub_bytes;
        const TestWeight w = make_weight(type, rows, cols, 21, true);
        ASSERT_EQ(w.weight.format, q5 ? PackedFormat::Q5_Kx8 : PackedFormat::Q4_Kx8);
        const std::int64_t group_bytes = packed_group_bytes(w.weight.w);
        EXPECT_EQ(group_bytes, 2 * super_bytes);
        EXPECT_EQ(packed_bytes(w.weight.w), static_cast<std::size_t>(2 * group_bytes));
        for (std::int64_t row = 0; row < rows; ++row) {
            const std::int64_t g = row / 8, r = row % 8;
            for (std::int64_t i = 0; i < cols; ++i) {
                const std::uint8_t* super = w.packed.data() + g * group_bytes + (i / 256) * super_bytes;
                const std::uint8_t* sub = super + 32 + (i % 256 / 32) * sub_bytes;
                const int e = static_cast<int>(i % 32), byte = e % 16;
                const std::uint8_t b = sub[16 + 32 * (byte / 4) + 4 * r + byte % 4];
                int q = e < 16 ? b & 0x0f : b >> 4;
                if (q5) q |= ((sub[144 + 4 * r + byte % 4] >> (byte / 4 + (e < 16 ? 0 : 4))) & 1) << 4;
                const float value = f16(super + 2 * r) * static_cast<float>(sub[r]) * static_cast<float>(q) -
                                    f16(super + 16 + 2 * r) * static_cast<float>(sub[8 + r]);
                ASSERT_EQ(value, w.values[row * cols + i]) << type_name(type) << " row " << row << " element " << i;
            }
        }
    }
}

TEST(Matmul, ActivationTypeFollowsThePacking) {
    // a packed Q4_K weight quantises activations to Q8_0, a Q6_K one (and a Q4_K one as stored)
    // to Q8_K: one fused call cannot take both, so the CPU backend splits such q/k/v
    const TestWeight q = make_weight(TensorType::Q4_K, 16, 256, 1, true);
    const TestWeight v = make_weight(TensorType::Q6_K, 16, 256, 2, true);
    EXPECT_EQ(matmul_activation_type(q.weight), TensorType::Q8_0);
    EXPECT_EQ(matmul_activation_type(v.weight), TensorType::Q8_K);
    EXPECT_EQ(matmul_activation_type(make_weight(TensorType::Q4_K, 16, 256, 1, false).weight), TensorType::Q8_K);
}

TEST(Matmul, FusedWeightsEqualSeparateCalls) {
    ThreadPool pool(2);
    const std::int64_t cols = 256, n = 6;
    const TestWeight q = make_weight(TensorType::Q4_0, 64, cols, 1, true);
    const TestWeight k = make_weight(TensorType::Q4_0, 16, cols, 2, true);
    const TestWeight v = make_weight(TensorType::Q4_0, 24, cols, 3, false);  // one stored, two packed
    const auto x = random_row(n * cols, 9);
    std::vector<std::uint8_t> scratch(matmul_scratch_bytes(q.weight, n) + 64);
    auto* aligned = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(scratch.data()) + 63) / 64 * 64);
    std::vector<float> yq(n * 64), yk(n * 16), yv(n * 24);
    const MatmulWeight* ws[] = {&q.weight, &k.weight, &v.weight};
    float* ys[] = {yq.data(), yk.data(), yv.data()};
    matmul_multi(pool, ws, x.data(), n, ys, aligned);
    for (const auto& [w, y] : {std::pair{&q, &yq}, std::pair{&k, &yk}, std::pair{&v, &yv}}) {
        std::vector<float> alone(y->size());
        matmul(pool, w->weight, x.data(), n, alone.data(), aligned);
        EXPECT_EQ(*y, alone);
    }
}

}  // namespace matmul_test
}  // namespace kvscope
