// Hand-built blocks of every computable type, written byte by byte from the format's
// description (ggml's layouts), dequantise to exactly the values the format's formula gives.
// Scales are chosen exactly representable in binary16 and given as raw bit patterns, so the
// expected floats are exact.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/quant.h"
#include "kernels/quant_blocks.h"

namespace kvscope {
namespace quant_blocks_test {

// binary16 bit patterns of exact values
constexpr std::uint16_t kHalf = 0x3800;         // 0.5
constexpr std::uint16_t kQuarter = 0x3400;      // 0.25
constexpr std::uint16_t kMinusEighth = 0xb000;  // -0.125
constexpr std::uint16_t kThree = 0x4200;        // 3.0
constexpr std::uint16_t kMinusTwo = 0xc000;     // -2.0

void put_u16(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint16_t v) {
    bytes[at] = static_cast<std::uint8_t>(v & 0xff);
    bytes[at + 1] = static_cast<std::uint8_t>(v >> 8);
}

void put_f32(std::vector<std::uint8_t>& bytes, std::size_t at, float v) {
    std::memcpy(&bytes[at], &v, 4);
}

std::vector<float> dequantize(TensorType type, const std::vector<std::uint8_t>& bytes, std::int64_t n) {
    std::vector<float> out(static_cast<std::size_t>(n));
    type_kernels(type, SimdLevel::Scalar).dequantize(bytes.data(), out.data(), n);
    // the dispatching wrapper must agree
    std::vector<float> via_wrapper(static_cast<std::size_t>(n));
    dequantize_row(type, bytes.data(), via_wrapper.data(), n);
    EXPECT_EQ(out, via_wrapper);
    return out;
}

void expect_exact(const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "element " << i;
}

// Pseudo-random quants of `bits` bits, with no period that could hide a misplaced element.
int pattern(int j, int bits) {
    const std::uint32_t h = (static_cast<std::uint32_t>(j) + 1u) * 2654435761u;
    return static_cast<int>((h >> 11) & ((1u << bits) - 1u));
}

TEST(QuantBlocks, SizesMatchGgml) {
    EXPECT_EQ(sizeof(BlockQ4_0), 18u);
    EXPECT_EQ(sizeof(BlockQ4_1), 20u);
    EXPECT_EQ(sizeof(BlockQ5_0), 22u);
    EXPECT_EQ(sizeof(BlockQ5_1), 24u);
    EXPECT_EQ(sizeof(BlockQ8_0), 34u);
    EXPECT_EQ(sizeof(BlockQ8_1), 36u);
    EXPECT_EQ(sizeof(BlockQ4_K), 144u);
    EXPECT_EQ(sizeof(BlockQ5_K), 176u);
    EXPECT_EQ(sizeof(BlockQ6_K), 210u);
    EXPECT_EQ(sizeof(BlockQ8_K), 292u);
    EXPECT_EQ(offsetof(BlockQ5_1, qh), 4u);
    EXPECT_EQ(offsetof(BlockQ5_K, qh), 16u);
    EXPECT_EQ(offsetof(BlockQ5_K, qs), 48u);
    EXPECT_EQ(offsetof(BlockQ6_K, qh), 128u);
    EXPECT_EQ(offsetof(BlockQ6_K, scales), 192u);
    EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
    EXPECT_EQ(offsetof(BlockQ8_K, bsums), 260u);
    // the shared geometry table agrees
    for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                         TensorType::Q8_1, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q8_K}) {
        EXPECT_EQ(row_bytes(t, 256), 256 / type_info(t).block_elems * type_info(t).block_bytes) << type_name(t);
    }
}

TEST(QuantBlocks, Q4_0) {
    // block 0: d = 0.5; block 1: d = -0.125
    std::vector<std::uint8_t> bytes(36);
    std::vector<float> want(64);
    const std::uint16_t ds[2] = {kHalf, kMinusEighth};
    const float dv[2] = {0.5f, -0.125f};
    for (int b = 0; b < 2; ++b) {
        put_u16(bytes, 18 * b, ds[b]);
        for (int j = 0; j < 16; ++j) {
            const int lo = pattern(j + 32 * b, 4), hi = pattern(j + 16 + 32 * b, 4);
            bytes[18 * b + 2 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
            want[32 * b + j] = dv[b] * static_cast<float>(lo - 8);
            want[32 * b + j + 16] = dv[b] * static_cast<float>(hi - 8);
        }
    }
    expect_exact(dequantize(TensorType::Q4_0, bytes, 64), want);
}

TEST(QuantBlocks, Q4_1) {
    std::vector<std::uint8_t> bytes(20);
    std::vector<float> want(32);
    put_u16(bytes, 0, kQuarter);
    put_u16(bytes, 2, kMinusTwo);  // m = -2
    for (int j = 0; j < 16; ++j) {
        const int lo = pattern(j, 4), hi = pattern(j + 16, 4);
        bytes[4 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
        want[j] = 0.25f * static_cast<float>(lo) - 2.0f;
        want[j + 16] = 0.25f * static_cast<float>(hi) - 2.0f;
    }
    expect_exact(dequantize(TensorType::Q4_1, bytes, 32), want);
}

TEST(QuantBlocks, Q5_0) {
    std::vector<std::uint8_t> bytes(22);
    std::vector<float> want(32);
    put_u16(bytes, 0, kHalf);
    std::uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) {
        const int q = pattern(j, 5);
        qh |= static_cast<std::uint32_t>(q >> 4) << j;  // bit 4 of element j is bit j of qh
        const int k = j % 16;
        bytes[6 + k] |= static_cast<std::uint8_t>(j < 16 ? (q & 15) : (q & 15) << 4);
        want[j] = 0.5f * static_cast<float>(q - 16);
    }
    for (int k = 0; k < 4; ++k) bytes[2 + k] = static_cast<std::uint8_t>(qh >> (8 * k));  // little-endian
    expect_exact(dequantize(TensorType::Q5_0, bytes, 32), want);
}

TEST(QuantBlocks, Q5_1) {
    std::vector<std::uint8_t> bytes(24);
    std::vector<float> want(32);
    put_u16(bytes, 0, kQuarter);
    put_u16(bytes, 2, kThree);  // m = 3
    std::uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) {
        const int q = pattern(j + 5, 5);
        qh |= static_cast<std::uint32_t>(q >> 4) << j;
        bytes[8 + j % 16] |= static_cast<std::uint8_t>(j < 16 ? (q & 15) : (q & 15) << 4);
        want[j] = 0.25f * static_cast<float>(q) + 3.0f;
    }
    for (int k = 0; k < 4; ++k) bytes[4 + k] = static_cast<std::uint8_t>(qh >> (8 * k));
    expect_exact(dequantize(TensorType::Q5_1, bytes, 32), want);
}

TEST(QuantBlocks, Q8_0AndQ8_1) {
    std::vector<std::uint8_t> q8_0(34), q8_1(36);
    std::vector<float> want(32);
    put_u16(q8_0, 0, kMinusEighth);
    put_u16(q8_1, 0, kMinusEighth);
    put_u16(q8_1, 2, kThree);  // s is not used by dequantisation
    for (int j = 0; j < 32; ++j) {
        const int q = j * 8 - 128;  // -128 .. 120
        q8_0[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
        q8_1[4 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
        want[j] = -0.125f * static_cast<float>(q);
    }
    expect_exact(dequantize(TensorType::Q8_0, q8_0, 32), want);
    expect_exact(dequantize(TensorType::Q8_1, q8_1, 32), want);
}

TEST(QuantBlocks, F16AndBF16AndF32) {
    // 1.5, -2, 65504 (max half), smallest subnormal half, -0
    const std::vector<std::uint8_t> f16 = {0x00, 0x3e, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x80};
    expect_exact(dequantize(TensorType::F16, f16, 5), {1.5f, -2.0f, 65504.0f, 5.9604644775390625e-8f, -0.0f});
    // bf16 is the top half of an f32: 1.0, -3.0, 2^-126 / 2 (subnormal)
    const std::vector<std::uint8_t> bf16 = {0x80, 0x3f, 0x40, 0xc0, 0x40, 0x00};
    expect_exact(dequantize(TensorType::BF16, bf16, 3), {1.0f, -3.0f, 5.877471754111438e-39f});
    std::vector<std::uint8_t> f32(8);
    put_f32(f32, 0, 3.25f);
    put_f32(f32, 4, -1e-3f);
    expect_exact(dequantize(TensorType::F32, f32, 2), {3.25f, -1e-3f});
}

// Q4_K/Q5_K scale bytes and their decoding, worked out by hand from the format:
//   s < 4:  sc = b[s] & 63, mn = b[s+4] & 63
//   s >= 4: sc = (b[s+4] & 15) | (b[s-4] >> 6) << 4, mn = (b[s+4] >> 4) | (b[s] >> 6) << 4
const std::uint8_t kKScales[12] = {0xc1, 0x51, 0x3f, 0x80, 0x42, 0xc7, 0x00, 0xff, 0x2a, 0x9b, 0x10, 0xe5};
const int kKSc[8] = {1, 17, 63, 0, 58, 27, 0, 37};
const int kKMn[8] = {2, 7, 0, 63, 18, 57, 1, 62};

TEST(QuantBlocks, Q4_K) {
    std::vector<std::uint8_t> bytes(144);
    std::vector<float> want(256);
    put_u16(bytes, 0, kHalf);     // d
    put_u16(bytes, 2, kQuarter);  // dmin
    std::memcpy(&bytes[4], kKScales, 12);
    for (int e = 0; e < 256; ++e) {
        const int q = pattern(e, 4);
        const int chunk = e / 64, within = e % 64;  // within < 32: low nibble of qs[32 chunk + within]
        bytes[16 + 32 * chunk + within % 32] |= static_cast<std::uint8_t>(within < 32 ? q : q << 4);
        const int s = e / 32;
        want[e] = 0.5f * static_cast<float>(kKSc[s]) * static_cast<float>(q) - 0.25f * static_cast<float>(kKMn[s]);
    }
    expect_exact(dequantize(TensorType::Q4_K, bytes, 256), want);
}

TEST(QuantBlocks, Q5_K) {
    std::vector<std::uint8_t> bytes(176);
    std::vector<float> want(256);
    put_u16(bytes, 0, kQuarter);  // d
    put_u16(bytes, 2, kHalf);     // dmin
    std::memcpy(&bytes[4], kKScales, 12);
    for (int e = 0; e < 256; ++e) {
        const int q = pattern(e + 1, 5);
        const int chunk = e / 64, within = e % 64, l = within % 32;
        bytes[48 + 32 * chunk + l] |= static_cast<std::uint8_t>(within < 32 ? (q & 15) : (q & 15) << 4);
        // bit 4: qh[l], bit 2 chunk (first 32 of the chunk) or 2 chunk + 1 (second 32)
        bytes[16 + l] |= static_cast<std::uint8_t>((q >> 4) << (2 * chunk + within / 32));
        const int s = e / 32;
        want[e] = 0.25f * static_cast<float>(kKSc[s]) * static_cast<float>(q) - 0.5f * static_cast<float>(kKMn[s]);
    }
    expect_exact(dequantize(TensorType::Q5_K, bytes, 256), want);
}

TEST(QuantBlocks, Q6_K) {
    std::vector<std::uint8_t> bytes(210);
    std::vector<float> want(256);
    const std::int8_t scales[16] = {1, -1, 127, -128, 5, 0, -37, 64, 2, 3, -4, 100, -100, 17, -17, 8};
    for (int s = 0; s < 16; ++s) bytes[192 + s] = static_cast<std::uint8_t>(scales[s]);
    put_u16(bytes, 208, kMinusEighth);  // d
    for (int e = 0; e < 256; ++e) {
        const int q = pattern(e, 6);
        // element 128 h + 32 k + l: nibble in ql[64 h + l + 32 (k & 1)] (low for k < 2),
        // bits 4-5 in bits 2k, 2k+1 of qh[32 h + l]
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        bytes[64 * h + l + 32 * (k & 1)] |= static_cast<std::uint8_t>(k < 2 ? (q & 15) : (q & 15) << 4);
        bytes[128 + 32 * h + l] |= static_cast<std::uint8_t>((q >> 4) << (2 * k));
        want[e] = -0.125f * static_cast<float>(scales[e / 16]) * static_cast<float>(q - 32);
    }
    expect_exact(dequantize(TensorType::Q6_K, bytes, 256), want);
}

TEST(QuantBlocks, Q8_K) {
    std::vector<std::uint8_t> bytes(292);
    std::vector<float> want(256);
    put_f32(bytes, 0, 0.375f);  // d is f32 here
    for (int j = 0; j < 256; ++j) {
        const int q = (j * 37) % 255 - 127;
        bytes[4 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
        want[j] = 0.375f * static_cast<float>(q);
    }
    expect_exact(dequantize(TensorType::Q8_K, bytes, 256), want);
}

}  // namespace quant_blocks_test
}  // namespace kvscope
