#include "kernels/packed_weight.h"

#include <cstring>

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

constexpr std::int64_t kQ4KGroupSuperBytes = 4 * kPackRows + 8 * (2 * kPackRows + 16 * kPackRows);  // 1184

// One group and super-block of Q4_Kx8 (see packed_weight.h): the 8 rows' d and dmin, then per
// sub-block their unpacked scales and mins and their nibbles regrouped as a Q4_0 block's.
void pack_q4_k_group_super(const BlockQ4_K* const rows[kPackRows], std::int64_t k, std::uint8_t* out) {
    std::uint8_t sc[kPackRows][8], mn[kPackRows][8];
    for (int r = 0; r < kPackRows; ++r) {
        const BlockQ4_K& blk = rows[r][k];
        std::memcpy(out + 2 * r, &blk.d, 2);
        std::memcpy(out + 2 * kPackRows + 2 * r, &blk.dmin, 2);
        unpack_k4_scales_mins(blk.scales, sc[r], mn[r]);
    }
    for (int s = 0; s < 8; ++s) {
        std::uint8_t* sub = out + 4 * kPackRows + s * (18 * kPackRows);
        for (int r = 0; r < kPackRows; ++r) {
            sub[r] = sc[r][s];
            sub[kPackRows + r] = mn[r][s];
            // element l of the sub-block: chunk s / 2 of 64, low nibbles for even s, high for odd
            const std::uint8_t* qs = rows[r][k].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int i = 0; i < 16; ++i) {
                const int lo = (qs[i] >> shift) & 0x0f, hi = (qs[16 + i] >> shift) & 0x0f;
                sub[2 * kPackRows + 32 * (i / 4) + 4 * r + i % 4] = static_cast<std::uint8_t>(lo | hi << 4);
            }
        }
    }
}

void pack_q4_k_groups(const WeightTensor& w, std::uint8_t* dst, std::int64_t group_begin, std::int64_t group_end) {
    const std::int64_t num_supers = w.cols / kQkK;
    const auto* base = static_cast<const BlockQ4_K*>(w.data);
    for (std::int64_t g = group_begin; g < group_end; ++g) {
        const BlockQ4_K* rows[kPackRows];
        for (int r = 0; r < kPackRows; ++r) rows[r] = base + (g * kPackRows + r) * num_supers;
        std::uint8_t* out = dst + g * packed_group_bytes(w);
        for (std::int64_t k = 0; k < num_supers; ++k) pack_q4_k_group_super(rows, k, out + k * kQ4KGroupSuperBytes);
    }
}

}  // namespace

PackedFormat packed_format(const WeightTensor& w) {
    if (w.rows <= 0 || w.rows % kPackRows != 0 || w.cols % kQk != 0) return PackedFormat::None;
    if (w.type == TensorType::Q4_0) return PackedFormat::Q4_0x8;
    if (w.type == TensorType::Q8_0) return PackedFormat::Q8_0x8;
    if (w.type == TensorType::Q4_K && w.cols % kQkK == 0) return PackedFormat::Q4_Kx8;
    return PackedFormat::None;
}

std::int64_t packed_group_bytes(const WeightTensor& w) {
    if (packed_format(w) == PackedFormat::Q4_Kx8) return w.cols / kQkK * kQ4KGroupSuperBytes;
    return kPackRows * static_cast<std::int64_t>(row_bytes(w.type, w.cols));
}

std::size_t packed_bytes(const WeightTensor& w) {
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
            pack_q4_k_groups(w, dst, group_begin, group_end);
            return;
        case PackedFormat::None:
            break;
    }
    KV_CHECK_MSG(false, "pack_weight: this weight has no packed format");
}

}  // namespace kvscope
