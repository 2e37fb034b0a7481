#pragma once
// Weights repacked for the CPU matmul: rows in groups of 8, interleaved block by block, so that
// one 256-bit vector holds 4 consecutive quants of each of 8 rows. An integer dot product then
// leaves row r's sum in lane r: no horizontal sums, and the 8 row scales are one vector. Each
// weight block is read once per tile of activation rows (prompt processing) or streamed once
// (decode).
//
// Layouts (32-element blocks, f16 scales; the same bytes as 8 rows stored plainly):
//   Q4_0x8  group g (rows 8g .. 8g+7), block b: 144 bytes = d[8] (row r's scale), then 4 chunks
//           of 32 bytes; chunk j, bytes 4r .. 4r+3 = row r's qs[4j .. 4j+3], whose low nibbles
//           are elements 4j .. 4j+3 and high nibbles elements 16+4j .. 16+4j+3.
//   Q8_0x8  group g, block b: 272 bytes = d[8], then 8 chunks of 32 bytes; chunk j, bytes
//           4r .. 4r+3 = row r's qs[4j .. 4j+3].
// A group holds all blocks of its rows: group g starts at g * num_blocks * block_group_bytes.

#include <cstddef>
#include <cstdint>

#include "kernels/model_weights.h"

namespace kvscope {

enum class PackedFormat { None, Q4_0x8, Q8_0x8 };

inline constexpr std::int64_t kPackRows = 8;

// The format w packs into (None: matmul reads it as stored). Q4_0 and Q8_0 with rows a multiple
// of 8 pack.
PackedFormat packed_format(const WeightTensor& w);
// Bytes of w packed (the same as stored for the formats above).
std::size_t packed_bytes(const WeightTensor& w);
// Packs the groups [group_begin, group_end) of w into dst (packed_bytes(w) bytes in all).
void pack_weight(const WeightTensor& w, std::uint8_t* dst, std::int64_t group_begin, std::int64_t group_end);

// A weight as the CPU matmul takes it: as stored, and packed when format != None.
struct MatmulWeight {
    WeightTensor w;
    PackedFormat format = PackedFormat::None;
    const std::uint8_t* packed = nullptr;  // packed_bytes(w) bytes, or null
};

}  // namespace kvscope
