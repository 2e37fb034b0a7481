#include "kernels/packed_weight.h"

#include <cstring>
#include <type_traits>

#include "kernels/check.h"
#include "kernels/quant_blocks.h"

namespace kvscope {
namespace {

// One group-block: the 8 rows' scales, then their quants in chunks of 4 bytes per row.
template <typename Block>
void pack_group_block(const Block* const rows[kPackRows], std::int64_t b, std::uint8_t* out) {
    constexpr int kQuantBytes = sizeof(Block::qs);  // 16 (Q4_0) or 32 (Q8_0)
    for (int r = 0; r < kPackRows; ++r) std::memcpy(out + 2 * r, &rows[r][b].d, 2);
    std::uint8_t* q = out + 2 * kPackRows;
    for (int j = 0; j < kQuantBytes / 4; ++j) {
        for (int r = 0; r < kPackRows; ++r) std::memcpy(q + 32 * j + 4 * r, rows[r][b].qs + 4 * j, 4);
    }
}

template <typename Block>
void pack_groups(const WeightTensor& w, std::uint8_t* dst, std::int64_t group_begin, std::int64_t group_end) {
    const std::int64_t num_blocks = w.cols / kQk;
    const std::size_t group_block_bytes = kPackRows * sizeof(Block);
    const auto* base = static_cast<const Block*>(w.data);
    for (std::int64_t g = group_begin; g < group_end; ++g) {
        const Block* rows[kPackRows];
        for (int r = 0; r < kPackRows; ++r) rows[r] = base + (g * kPackRows + r) * num_blocks;
        std::uint8_t* out = dst + static_cast<std::size_t>(g * num_blocks) * group_block_bytes;
        for (std::int64_t b = 0; b < num_blocks; ++b) pack_group_block(rows, b, out + b * group_block_bytes);
    }
}

// Q4_Kx8 and Q5_Kx8 (see packed_weight.h): bytes of a sub-block (scales, mins, nibbles, and for
// Q5_K the fifth bits) and of a super-block (the d and dmin of the 8 rows, then 8 sub-blocks).
template <typename Block>
constexpr bool kHasHighBits = std::is_same_v<Block, BlockQ5_K>;
template <typename Block>
constexpr std::int64_t kSubBlockBytes = 2 * kPackRows + 16 * kPackRows + (kHasHighBits<Block> ? 4 * kPackRows : 0);
template <typename Block>
constexpr std::int64_t kGroupSuperBytes = 4 * kPackRows + 8 * kSubBlockBytes<Block>;
static_assert(kGroupSuperBytes<BlockQ4_K> == 1184 && kGroupSuperBytes<BlockQ5_K> == 1440);

// Element e (0..255) of a stored Q4_K / Q5_K super-block, 0..15 / 0..31 (quant_blocks.h): chunk
// c = e / 64, low nibbles for its first 32 elements, high for the others; Q5_K's fifth bit is bit
// 2c (2c + 1) of qh[e % 32].
template <typename Block>
int k_quant_at(const Block& blk, int e) {
    const int c = e / 64, l = e % 32, high = e % 64 >= 32;
    int q = (blk.qs[32 * c + l] >> (4 * high)) & 0x0f;
    if constexpr (kHasHighBits<Block>) q |= ((blk.qh[l] >> (2 * c + high)) & 1) << 4;
    return q;
}

// One group and super-block: the 8 rows' d and dmin, then per sub-block their unpacked scales and
// mins, their low 4 bits regrouped as a Q4_0 block's and (Q5_K) their fifth bits.
template <typename Block>
void pack_k_group_super(const Block* const rows[kPackRows], std::int64_t k, std::uint8_t* out) {
    std::uint8_t sc[kPackRows][8], mn[kPackRows][8];
    for (int r = 0; r < kPackRows; ++r) {
        const Block& blk = rows[r][k];
        std::memcpy(out + 2 * r, &blk.d, 2);
        std::memcpy(out + 2 * kPackRows + 2 * r, &blk.dmin, 2);
        unpack_k4_scales_mins(blk.scales, sc[r], mn[r]);
    }
    for (int s = 0; s < 8; ++s) {
        std::uint8_t* sub = out + 4 * kPackRows + s * kSubBlockBytes<Block>;
        std::uint8_t* nibbles = sub + 2 * kPackRows;
        std::uint8_t* fifth = nibbles + 16 * kPackRows;
        if constexpr (kHasHighBits<Block>) std::memset(fifth, 0, 4 * kPackRows);
        for (int r = 0; r < kPackRows; ++r) {
            sub[r] = sc[r][s];
            sub[kPackRows + r] = mn[r][s];
            for (int i = 0; i < 16; ++i) {
                // byte i of the row's Q4_0-style block: element i low, element 16 + i high
                const int lo = k_quant_at(rows[r][k], 32 * s + i), hi = k_quant_at(rows[r][k], 32 * s + 16 + i);
                const int at = 32 * (i / 4) + 4 * r + i % 4;  // chunk i / 4, lane r, byte i % 4
                nibbles[at] = static_cast<std::uint8_t>((lo & 0x0f) | (hi & 0x0f) << 4);
                if constexpr (kHasHighBits<Block>) {
                    // lane r, byte i % 4: bit i / 4 for element i, bit 4 + i / 4 for element 16 + i
                    fifth[4 * r + i % 4] |= static_cast<std::uint8_t>((lo >> 4) << (i / 4) | (hi >> 4) << (4 + i / 4));
                }
            }
        }
    }
}

template <typename Block>
void pack_k_groups(const WeightTensor& w, std::uint8_t* dst, std::int64_t group_begin, std::int64_t group_end) {
    const std::int64_t num_supers = w.cols / kQkK;
    const auto* base = static_cast<const Block*>(w.data);
    for (std::int64_t g = group_begin; g < group_end; ++g) {
        const Block* rows[kPackRows];
        for (int r = 0; r < kPackRows; ++r) rows[r] = base + (g * kPackRows + r) * num_supers;
        std::uint8_t* out = dst + g * packed_group_bytes(w);
        for (std::int64_t k = 0; k < num_supers; ++k) pack_k_group_super(rows, k, out + k * kGroupSuperBytes<Block>);
    }
}

}  // namespace

PackedFormat packed_format(const WeightTensor& w) {
    if (w.rows <= 0 || w.rows % kPackRows != 0 || w.cols % kQk != 0) return PackedFormat::None;
    if (w.type == TensorType::Q4_0) return PackedFormat::Q4_0x8;
    if (w.type == TensorType::Q8_0) return PackedFormat::Q8_0x8;
    if (w.type == TensorType::Q4_K && w.cols % kQkK == 0) return PackedFormat::Q4_Kx8;
    if (w.type == TensorType::Q5_K && w.cols % kQkK == 0) return PackedFormat::Q5_Kx8;
    return PackedFormat::None;
}

std::int64_t packed_group_bytes(const WeightTensor& w) {
    if (packed_format(w) == PackedFormat::Q4_Kx8) return w.cols / kQkK * kGroupSuperBytes<BlockQ4_K>;
    if (packed_format(w) == PackedFormat::Q5_Kx8) return w.cols / kQkK * kGroupSuperBytes<BlockQ5_K>;
    return kPackRows * static_cast<std::int64_t>(row_bytes(w.type, w.cols));
}

std::size_t packed_bytes(const WeightTensor& w) {
    if (packed_format(w) == PackedFormat::None) return static_cast<std::size_t>(w.rows) * row_bytes(w.type, w.cols);
    return static_cast<std::size_t>(w.rows / kPackRows * packed_group_bytes(w));
}

void pack_weight(const WeightTensor& w, std::uint8_t* dst, std::int64_t group_begin, std::int64_t group_end) {
    KV_CHECK(group_begin >= 0 && group_begin <= group_end && group_end * kPackRows <= w.rows);
    switch (packed_format(w)) {
        case PackedFormat::Q4_0x8:
            pack_groups<BlockQ4_0>(w, dst, group_begin, group_end);
            return;
        case PackedFormat::Q8_0x8:
            pack_groups<BlockQ8_0>(w, dst, group_begin, group_end);
            return;
        case PackedFormat::Q4_Kx8:
            pack_k_groups<BlockQ4_K>(w, dst, group_begin, group_end);
            return;
        case PackedFormat::Q5_Kx8:
            pack_k_groups<BlockQ5_K>(w, dst, group_begin, group_end);
            return;
        case PackedFormat::None:
            break;
    }
    KV_CHECK_MSG(false, "pack_weight: this weight has no packed format");
}

}  // namespace kvscope
