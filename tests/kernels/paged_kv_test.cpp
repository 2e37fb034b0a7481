// The paged KV cache: half-precision conversion, write_kv by slot for each cache dtype,
// copy_blocks, and the layout check. Oracles: the compiler's _Float16 conversions, a naive
// Q8_0 quantiser written here from ggml's description, and byte copies of the buffers.

#include "kernels/paged_kv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/f16.h"

namespace kvscope {
namespace paged_kv_test {

std::uint16_t f16_bits_reference(float f) {
    const _Float16 h = static_cast<_Float16>(f);
    std::uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}

float f16_value_reference(std::uint16_t bits) {
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    return static_cast<float>(h);
}

TEST(F16Test, EveryHalfConvertsToTheSameFloatAsTheCompiler) {
    for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
        const float expected = f16_value_reference(static_cast<std::uint16_t>(bits));
        const float got = f16_to_f32(static_cast<std::uint16_t>(bits));
        if (std::isnan(expected)) {
            ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
        } else {
            ASSERT_EQ(std::memcmp(&expected, &got, 4), 0) << std::hex << bits << ": " << expected << " vs " << got;
        }
    }
}

TEST(F16Test, FloatsRoundToNearestEvenLikeTheCompiler) {
    // Every half value, the midpoints between neighbours (ties), and their float neighbours.
    for (std::uint32_t bits = 0; bits < 0x7c00; ++bits) {
        const float a = f16_value_reference(static_cast<std::uint16_t>(bits));
        const float b = bits + 1 < 0x7c00 ? f16_value_reference(static_cast<std::uint16_t>(bits + 1)) : 65536.0f;
        const float mid = static_cast<float>((static_cast<double>(a) + b) / 2);
        for (float f : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
            for (float s : {f, -f}) ASSERT_EQ(f32_to_f16(s), f16_bits_reference(s)) << s;
        }
    }
    // Random floats over the whole range, infinities and nan.
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::uint32_t> any_bits;
    for (int i = 0; i < 200000; ++i) {
        std::uint32_t bits = any_bits(rng);
        float f;
        std::memcpy(&f, &bits, 4);
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_f16(f), f16_bits_reference(f)) << f;
    }
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
    EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
    EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);  // overflow -> inf
    EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

// A cache with its own buffers.
struct TestCache {
    PagedKvLayer layer;
    std::vector<std::byte> k, v;
    TestCache(TensorType dtype, int num_blocks, int block_size, int num_kv_heads, int head_dim) {
        layer = PagedKvLayer{dtype, num_blocks, block_size, num_kv_heads, head_dim, nullptr, nullptr};
        k.resize(layer.buffer_bytes());
        v.resize(layer.buffer_bytes());
        layer.k = k.data();
        layer.v = v.data();
    }
};

std::vector<float> random_values(std::size_t n, std::mt19937& rng, float lo = -2.0f, float hi = 2.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> x(n);
    for (auto& e : x) e = dist(rng);
    return x;
}

TEST(PagedKvTest, GeometryInBytes) {
    TestCache f32(TensorType::F32, 5, 16, 2, 64);
    EXPECT_EQ(f32.layer.row_bytes(), 2u * 64 * 4);
    EXPECT_EQ(f32.layer.block_bytes(), 16u * 2 * 64 * 4);
    EXPECT_EQ(f32.layer.buffer_bytes(), 5u * 16 * 2 * 64 * 4);
    TestCache q8(TensorType::Q8_0, 5, 16, 2, 64);
    EXPECT_EQ(q8.layer.row_bytes(), 4u * 34);  // 128 values = 4 blocks of 34 bytes
}

TEST(PagedKvTest, WriteF32StoresExactRowsBySlotAndSkipsMinusOne) {
    std::mt19937 rng(1);
    TestCache cache(TensorType::F32, 4, 8, 2, 8);  // 32 slots of 16 floats
    std::fill(cache.k.begin(), cache.k.end(), std::byte{0xAB});
    std::fill(cache.v.begin(), cache.v.end(), std::byte{0xAB});
    const std::vector<std::int64_t> slots = {17, 3, -1, 31, 0};
    const auto k = random_values(slots.size() * 16, rng);
    const auto v = random_values(slots.size() * 16, rng);
    write_kv(cache.layer, k.data(), v.data(), slots);
    const auto* kc = reinterpret_cast<const float*>(cache.k.data());  // (32 slots, 16)
    const auto* vc = reinterpret_cast<const float*>(cache.v.data());
    for (std::size_t t = 0; t < slots.size(); ++t) {
        if (slots[t] < 0) continue;
        for (int e = 0; e < 16; ++e) {
            EXPECT_EQ(kc[slots[t] * 16 + e], k[t * 16 + e]);
            EXPECT_EQ(vc[slots[t] * 16 + e], v[t * 16 + e]);
        }
    }
    // Every byte of the slots not written keeps the fill pattern.
    for (std::int64_t slot = 0; slot < 32; ++slot) {
        if (std::find(slots.begin(), slots.end(), slot) != slots.end()) continue;
        for (std::size_t b = 0; b < 64; ++b) {
            ASSERT_EQ(cache.k[slot * 64 + b], std::byte{0xAB}) << "slot " << slot;
            ASSERT_EQ(cache.v[slot * 64 + b], std::byte{0xAB}) << "slot " << slot;
        }
    }
}

TEST(PagedKvTest, WriteF16RoundsEachValueToNearestHalf) {
    std::mt19937 rng(2);
    TestCache cache(TensorType::F16, 3, 16, 4, 8);
    const std::vector<std::int64_t> slots = {5, 40, 16};
    const auto k = random_values(slots.size() * 32, rng, -70000.0f, 70000.0f);  // includes overflow to inf
    const auto v = random_values(slots.size() * 32, rng, -1e-5f, 1e-5f);        // includes subnormal halves
    write_kv(cache.layer, k.data(), v.data(), slots);
    const auto* kc = reinterpret_cast<const std::uint16_t*>(cache.k.data());
    const auto* vc = reinterpret_cast<const std::uint16_t*>(cache.v.data());
    for (std::size_t t = 0; t < slots.size(); ++t) {
        for (int e = 0; e < 32; ++e) {
            EXPECT_EQ(kc[slots[t] * 32 + e], f16_bits_reference(k[t * 32 + e]));
            EXPECT_EQ(vc[slots[t] * 32 + e], f16_bits_reference(v[t * 32 + e]));
        }
    }
}

// ggml's reference Q8_0 quantiser, written out plainly: per block of 32, d = max|x| / 127,
// q = round(x / d) with ties away from zero, d stored as f16.
std::vector<std::uint8_t> naive_q8_0(const float* x, int n) {
    std::vector<std::uint8_t> out;
    for (int b = 0; b < n / 32; ++b) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const std::uint16_t d16 = f16_bits_reference(d);
        out.push_back(static_cast<std::uint8_t>(d16 & 0xff));
        out.push_back(static_cast<std::uint8_t>(d16 >> 8));
        for (int i = 0; i < 32; ++i) {
            out.push_back(static_cast<std::uint8_t>(static_cast<std::int8_t>(std::round(x[b * 32 + i] * id))));
        }
    }
    return out;
}

TEST(PagedKvTest, WriteQ8_0StoresGgmlBlocksWithinHalfAStep) {
    std::mt19937 rng(3);
    TestCache cache(TensorType::Q8_0, 2, 8, 2, 32);  // rows of 64 values = 2 Q8_0 blocks
    const std::vector<std::int64_t> slots = {9, 2, 15};
    auto k = random_values(slots.size() * 64, rng);
    auto v = random_values(slots.size() * 64, rng);
    for (int i = 0; i < 32; ++i) k[i] = 0.0f;  // an all-zero block: d = 0, q = 0
    write_kv(cache.layer, k.data(), v.data(), slots);
    const std::size_t row_bytes = cache.layer.row_bytes();
    ASSERT_EQ(row_bytes, 68u);
    for (std::size_t t = 0; t < slots.size(); ++t) {
        for (const auto& [src, buf] : {std::pair{&k, &cache.k}, std::pair{&v, &cache.v}}) {
            const float* x = src->data() + t * 64;
            const auto* row = reinterpret_cast<const std::uint8_t*>(buf->data() + slots[t] * row_bytes);
            const auto expected = naive_q8_0(x, 64);
            ASSERT_EQ(std::memcmp(row, expected.data(), row_bytes), 0) << "token " << t;
            // and the values it decodes to are within half a quantisation step of the input, plus
            // the error of storing d as f16: |q| <= 127 steps of at most d * 2^-11 each
            for (int b = 0; b < 2; ++b) {
                const float d = f16_value_reference(static_cast<std::uint16_t>(row[b * 34] | row[b * 34 + 1] << 8));
                for (int i = 0; i < 32; ++i) {
                    const auto q = static_cast<std::int8_t>(row[b * 34 + 2 + i]);
                    EXPECT_LE(std::abs(q), 127);
                    EXPECT_NEAR(d * q, x[b * 32 + i], d * (0.5f + 127.0f / 2048.0f) + 1e-7f);
                }
            }
        }
    }
}

TEST(PagedKvTest, CopyBlocksCopiesWholeBlocksInOrderAndNothingElse) {
    std::mt19937 rng(4);
    for (TensorType dtype : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
        TestCache cache(dtype, 8, 16, 2, 32);
        std::uniform_int_distribution<int> byte(0, 255);
        for (auto& b : cache.k) b = static_cast<std::byte>(byte(rng));
        for (auto& b : cache.v) b = static_cast<std::byte>(byte(rng));
        const auto k0 = cache.k, v0 = cache.v;
        const std::size_t bb = cache.layer.block_bytes();
        // (1 -> 2) then (2 -> 4): block 4 gets the old block 1, through 2.
        const std::vector<std::pair<std::int32_t, std::int32_t>> pairs = {{3, 5}, {1, 2}, {2, 4}, {7, 0}};
        copy_blocks(cache.layer, pairs);
        const std::vector<int> source_of = {7, 1, 1, 3, 1, 3, 6, 7};  // block b now holds old block source_of[b]
        for (int b = 0; b < 8; ++b) {
            EXPECT_EQ(std::memcmp(cache.k.data() + b * bb, k0.data() + source_of[b] * bb, bb), 0) << "K block " << b;
            EXPECT_EQ(std::memcmp(cache.v.data() + b * bb, v0.data() + source_of[b] * bb, bb), 0) << "V block " << b;
        }
    }
}

TEST(PagedKvTest, LayoutErrorSaysWhatIsWrong) {
    EXPECT_EQ(kv_cache_layout_error(TensorType::F32, 3, 7), "");
    EXPECT_EQ(kv_cache_layout_error(TensorType::F16, 1, 8), "");
    EXPECT_EQ(kv_cache_layout_error(TensorType::Q8_0, 4, 8), "");  // 32 values
    EXPECT_EQ(kv_cache_layout_error(TensorType::Q8_0, 8, 64), "");
    const std::string q8 = kv_cache_layout_error(TensorType::Q8_0, 3, 8);  // 24 values
    EXPECT_NE(q8.find("24"), std::string::npos) << q8;
    EXPECT_NE(q8.find("multiple of 32"), std::string::npos) << q8;
    EXPECT_NE(q8.find("f16"), std::string::npos) << q8;
    EXPECT_EQ(q8.find('\n'), std::string::npos);
    const std::string q4 = kv_cache_layout_error(TensorType::Q4_0, 8, 64);
    EXPECT_NE(q4.find("Q4_0"), std::string::npos) << q4;
    EXPECT_NE(kv_cache_layout_error(TensorType::F32, 0, 64), "");
}

}  // namespace paged_kv_test
}  // namespace kvscope
