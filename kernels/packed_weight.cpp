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

}  // namespace

PackedFormat packed_format(const WeightTensor& w) {
    if (w.rows <= 0 || w.rows % kPackRows != 0 || w.cols % kQk != 0) return PackedFormat::None;
    if (w.type == TensorType::Q4_0) return PackedFormat::Q4_0x8;
    if (w.type == TensorType::Q8_0) return PackedFormat::Q8_0x8;
    return PackedFormat::None;
}

std::size_t packed_bytes(const WeightTensor& w) {
    return static_cast<std::size_t>(w.rows) * row_bytes(w.type, w.cols);
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
        case PackedFormat::None:
            break;
    }
    KV_CHECK_MSG(false, "pack_weight: this weight has no packed format");
}

}  // namespace kvscope
