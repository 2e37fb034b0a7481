#pragma once
// Weights repacked for the CPU matmul: rows in groups of 8, interleaved block by block, so that
// one 256-bit vector holds 4 consecutive quants of each of 8 rows. An integer dot product then
// leaves row r's sum in lane r: no horizontal sums, and the 8 row scales are one vector. Each
// weight block is read once per tile of activation rows (prompt processing) or streamed once
// (decode).
//
// Layouts (32-element blocks, f16 scales; Q4_0x8 and Q8_0x8 are the same bytes as 8 rows stored
// plainly):
//   Q4_0x8  group g (rows 8g .. 8g+7), block b: 144 bytes = d[8] (row r's scale), then 4 chunks
//           of 32 bytes; chunk j, bytes 4r .. 4r+3 = row r's qs[4j .. 4j+3], whose low nibbles
//           are elements 4j .. 4j+3 and high nibbles elements 16+4j .. 16+4j+3.
//   Q8_0x8  group g, block b: 272 bytes = d[8], then 8 chunks of 32 bytes; chunk j, bytes
//           4r .. 4r+3 = row r's qs[4j .. 4j+3].
//   Q4_Kx8  group g, super-block k (256 elements): 1184 bytes = d[8], dmin[8] (row r's f16 super-
//           block scales), then its 8 sub-blocks of 32 elements, 144 bytes each: sc[8], mn[8] (row
//           r's 6-bit scale and min of the sub-block, one byte each, unpacked from scales[12]),
//           then the 32 nibbles of each row as in Q4_0x8 (chunk j, bytes 4r .. 4r+3: low nibbles
//           elements 4j .. 4j+3 of the sub-block, high nibbles 16+4j .. 16+4j+3). Element i of
//           sub-block s of row r is d_r * sc * q - dmin_r * mn, as stored (32 bytes more per group
//           and super-block than 8 stored rows: 2.8%).
//   Q5_Kx8  as Q4_Kx8 with 176-byte sub-blocks (1440-byte super-blocks): after the nibbles (the low
//           4 bits), 32 bytes of fifth bits: lane r, byte k holds in bit j the fifth bit of element
//           4j + k and in bit 4 + j that of element 16 + 4j + k (j = 0..3), so that chunk j's bits
//           sit where its nibbles do (2.3% more than 8 stored rows).
// A group holds all blocks of its rows: group g starts at g * packed_group_bytes(w).

#include <cstddef>
#include <cstdint>

#include "kernels/model_weights.h"

namespace kvscope {

enum class PackedFormat { None, Q4_0x8, Q8_0x8, Q4_Kx8, Q5_Kx8 };

inline constexpr std::int64_t kPackRows = 8;

// The format w packs into (None: matmul reads it as stored). Q4_0, Q8_0, Q4_K and Q5_K with rows
// a multiple of 8 pack.
PackedFormat packed_format(const WeightTensor& w);
// Bytes of one group of 8 rows of w packed, and of all of w packed (as stored when it does not
// pack).
std::int64_t packed_group_bytes(const WeightTensor& w);
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
