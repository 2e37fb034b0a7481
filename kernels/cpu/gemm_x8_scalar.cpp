// Portable kernels over packed weights (see gemm_x8.h): the reference the SIMD levels are
// tested against, and the path of CPUs without AVX2. Plain loops over the documented layout;
// every block's integer dot is exact, then scaled by d_w * d_x.

#include <cstring>

#include "kernels/cpu/gemm_x8.h"
#include "kernels/fp16.h"

namespace kvscope::cpu {
namespace {

constexpr int kRows = 8;      // rows per group
constexpr int kQ8Bytes = 34;  // Q8_0 activation block: f16 d, int8 qs[32]

float scale_of(const std::uint8_t* group_block, int r) {
    std::uint16_t h;
    std::memcpy(&h, group_block + 2 * r, 2);
    return fp16_to_f32(h);
}

// Nibble i (0..31) of row r in a packed group-block (Q4_0x8, or a Q4_Kx8 / Q5_Kx8 sub-block).
int nibble_at(const std::uint8_t* group_block, int r, int i) {
    const int byte = i % 16;  // low nibbles: elements 0..15, high: 16..31
    const std::uint8_t packed = group_block[2 * kRows + 32 * (byte / 4) + 4 * r + byte % 4];
    return i < 16 ? packed & 0x0f : packed >> 4;
}

// Element i (0..31) of row r in a packed group-block.
int q4_0_at(const std::uint8_t* group_block, int r, int i) {
    return nibble_at(group_block, r, i) - 8;
}

int q8_0_at(const std::uint8_t* group_block, int r, int i) {
    return static_cast<std::int8_t>(group_block[2 * kRows + 32 * (i / 4) + 4 * r + i % 4]);
}

template <int (*QuantAt)(const std::uint8_t*, int, int), int kGroupBlockBytes>
void gemm(const GemmX8Args& a) {
    for (std::int64_t g = a.group_begin; g < a.group_end; ++g) {
        const std::uint8_t* group = a.w + g * a.group_bytes;
        for (std::int64_t t = 0; t < a.num_x; ++t) {
            const std::uint8_t* x = a.x + t * a.x_row_bytes;  // Q8_0 blocks
            const float* xd = a.xd + t * a.num_blocks * 2;    // {d, c} per block
            float sums[kRows] = {};
            for (std::int64_t b = 0; b < a.num_blocks; ++b) {
                const std::uint8_t* gb = group + b * kGroupBlockBytes;
                const auto* xq = reinterpret_cast<const std::int8_t*>(x + b * kQ8Bytes + 2);
                for (int r = 0; r < kRows; ++r) {
                    int dot = 0;
                    for (int i = 0; i < 32; ++i) dot += QuantAt(gb, r, i) * xq[i];
                    sums[r] += scale_of(gb, r) * xd[2 * b] * static_cast<float>(dot);
                }
            }
            float* y = a.y + t * a.ldy + g * kRows;
            for (int r = 0; r < kRows; ++r) y[r] = sums[r];
        }
    }
}

// Q4_Kx8 / Q5_Kx8: per super-block of 8 sub-blocks, the rows' d and dmin, then per sub-block
// their scale and min bytes, the nibbles and (Q5_K) the fifth bits; each sub-block adds
// d_x (d sc dot(q, x) - dmin mn sum(x)).
template <bool kFifthBit>
void gemm_k(const GemmX8Args& a) {
    constexpr int kSubBytes = 144 + (kFifthBit ? 32 : 0);
    constexpr int kSuperBytes = 4 * kRows + 8 * kSubBytes;
    for (std::int64_t g = a.group_begin; g < a.group_end; ++g) {
        const std::uint8_t* group = a.w + g * a.group_bytes;
        for (std::int64_t t = 0; t < a.num_x; ++t) {
            const std::uint8_t* x = a.x + t * a.x_row_bytes;
            const float* xd = a.xd + t * a.num_blocks * 2;
            float sums[kRows] = {};
            for (std::int64_t b = 0; b < a.num_blocks; ++b) {
                const std::uint8_t* super = group + (b / 8) * kSuperBytes;
                const std::uint8_t* sub = super + 4 * kRows + (b % 8) * kSubBytes;
                const auto* xq = reinterpret_cast<const std::int8_t*>(x + b * kQ8Bytes + 2);
                for (int r = 0; r < kRows; ++r) {
                    int dot = 0, sum = 0;
                    for (int i = 0; i < 32; ++i) {
                        int q = nibble_at(sub, r, i);
                        if constexpr (kFifthBit) {
                            // lane r, byte i % 4: bit i / 4 (elements 0..15) or 4 + (i - 16) / 4
                            const std::uint8_t bits = sub[144 + 4 * r + i % 4];
                            q |= ((bits >> (i < 16 ? i / 4 : 4 + (i - 16) / 4)) & 1) << 4;
                        }
                        dot += q * xq[i];
                        sum += xq[i];
                    }
                    const float d = scale_of(super, r) * static_cast<float>(sub[r]);
                    const float min = scale_of(super + 2 * kRows, r) * static_cast<float>(sub[kRows + r]);
                    sums[r] += xd[2 * b] * (d * static_cast<float>(dot) - min * static_cast<float>(sum));
                }
            }
            float* y = a.y + t * a.ldy + g * kRows;
            for (int r = 0; r < kRows; ++r) y[r] = sums[r];
        }
    }
}

}  // namespace

constinit const GemmX8Kernels kGemmX8Scalar = {gemm<q4_0_at, 144>, gemm<q8_0_at, 272>, gemm_k<false>, gemm_k<true>};

}  // namespace kvscope::cpu
