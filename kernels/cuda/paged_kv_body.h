#pragma once
// Kernel bodies of the paged KV cache (see hd.h; layout in kernels/paged_kv.h): storing a step's
// K and V rows in their slots, and copying whole blocks (copy-on-write, swap to and from host).

#include <cstdint>

#include "kernels/cuda/hd.h"
#include "kernels/tensor_type.h"

namespace kvscope::cuda {

inline constexpr int kKvThreads = 128;

// Cache element e of a token row (num_kv_heads * head_dim values) stored in `dtype`, as f32.
KV_HD inline float load_kv(TensorType dtype, const std::uint8_t* row, std::int64_t e) {
    switch (dtype) {
        case TensorType::F16:
            return half_to_float(load_u16(row + 2 * e));
        case TensorType::Q8_0: {
            const std::uint8_t* block = row + (e / 32) * 34;  // f16 d, int8 qs[32]
            return half_to_float(load_u16(block)) * static_cast<float>(static_cast<std::int8_t>(block[2 + e % 32]));
        }
        default:
            return load_f32(row + 4 * e);
    }
}

struct WriteKvParams {
    TensorType dtype;       // F32, F16 or Q8_0
    std::uint8_t* k_cache;  // (num_blocks * block_size slots, row_bytes)
    std::uint8_t* v_cache;
    std::size_t row_bytes;      // bytes of a token row in dtype
    std::int64_t row_elems;     // num_kv_heads * head_dim
    const float* k;             // (n, row_elems)
    const float* v;             // (n, row_elems)
    const std::int64_t* slots;  // (n): -1 = do not store
};

// One block per token. F16 rounds to nearest even; Q8_0 quantises each 32 values as the CPU's
// write_kv does (d = max|x| / 127, q = round(x / d), ties away from zero), bit for bit.
template <class Exec>
KV_BODY void write_kv_block(const Exec& ex, const WriteKvParams& p, int block_x) {
    const std::int64_t slot = p.slots[block_x];
    if (slot < 0) return;  // uniform over the block
    ex.phase([&](int tid) {
        for (int which = 0; which < 2; ++which) {
            const float* x = (which == 0 ? p.k : p.v) + static_cast<std::int64_t>(block_x) * p.row_elems;
            std::uint8_t* dst = (which == 0 ? p.k_cache : p.v_cache) + static_cast<std::size_t>(slot) * p.row_bytes;
            if (p.dtype == TensorType::Q8_0) {
                for (std::int64_t b = tid; b < p.row_elems / 32; b += kKvThreads) {
                    const float* xb = x + 32 * b;
                    std::uint8_t* block = dst + 34 * b;
                    float amax = 0.0f;
                    for (int i = 0; i < 32; ++i) amax = fmax_f(amax, fabs_f(xb[i]));
                    const float d = amax / 127.0f;
                    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
                    const std::uint16_t d16 = float_to_half(d);
                    block[0] = static_cast<std::uint8_t>(d16 & 0xff);
                    block[1] = static_cast<std::uint8_t>(d16 >> 8);
                    for (int i = 0; i < 32; ++i) {
                        const auto q = static_cast<std::int8_t>(static_cast<int>(roundf(xb[i] * inv_d)));
                        block[2 + i] = static_cast<std::uint8_t>(q);
                    }
                }
            } else if (p.dtype == TensorType::F16) {
                for (std::int64_t e = tid; e < p.row_elems; e += kKvThreads) {
                    const std::uint16_t h = float_to_half(x[e]);
                    dst[2 * e] = static_cast<std::uint8_t>(h & 0xff);
                    dst[2 * e + 1] = static_cast<std::uint8_t>(h >> 8);
                }
            } else {
                float* out = reinterpret_cast<float*>(dst);  // f32 rows are 4-byte aligned
                for (std::int64_t e = tid; e < p.row_elems; e += kKvThreads) out[e] = x[e];
            }
        }
    });
}

// Whole-block copies between buffers of blocks: for each pair and each of num_buffers buffers
// (K and V of every layer), block pairs[i].dst of dst_bases[b] <- block pairs[i].src of
// src_bases[b]. Blocks sit block_stride bytes apart; block_bytes is a multiple of 16.
struct CopyBlocksParams {
    const std::int32_t* pairs;             // (num_pairs, 2): src, dst
    const std::uint8_t* const* src_bases;  // (num_buffers)
    std::uint8_t* const* dst_bases;        // (num_buffers)
    std::size_t src_stride, dst_stride;    // bytes between consecutive blocks
    std::size_t block_bytes;
};

// One block per (pair = block_x, buffer = block_y), 16 bytes per thread and step.
template <class Exec>
KV_BODY void copy_blocks_block(const Exec& ex, const CopyBlocksParams& p, int block_x, int block_y) {
    ex.phase([&](int tid) {
        const std::int64_t src = p.pairs[2 * block_x], dst = p.pairs[2 * block_x + 1];
        const auto* from = reinterpret_cast<const Word16*>(p.src_bases[block_y] + src * p.src_stride);
        auto* to = reinterpret_cast<Word16*>(p.dst_bases[block_y] + dst * p.dst_stride);
        for (std::size_t w = tid; w < p.block_bytes / 16; w += kKvThreads) to[w] = from[w];
    });
}

}  // namespace kvscope::cuda
