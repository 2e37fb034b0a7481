#pragma once
// The paged KV cache of one layer: a pool of fixed-size blocks of token rows (the vLLM design),
// written by slot and copied by block. paged_attention.h reads it.
//
// Slots: token `offset` of physical block `block_id` is slot block_id * block_size + offset.
// A sequence's token at position p lives in block block_table[p / block_size], offset
// p % block_size.
//
// Cache dtypes: F32, F16, or Q8_0. For Q8_0 each token's row of num_kv_heads * head_dim
// values is stored as consecutive Q8_0 blocks of 32 (ggml's layout: f16 scale d, then int8
// qs[32]; x = d * q), so that row length must be a multiple of 32 (kv_cache_layout_error).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "kernels/tensor_type.h"

namespace kvscope {

// One layer's K and V cache memory (owned by the caller) and its geometry.
struct PagedKvLayer {
    TensorType dtype = TensorType::F32;  // F32, F16 or Q8_0
    std::int32_t num_blocks = 0;
    std::int32_t block_size = 0;  // tokens per block
    std::int32_t num_kv_heads = 0;
    std::int32_t head_dim = 0;
    std::byte* k = nullptr;  // (num_blocks, block_size, num_kv_heads, head_dim) of dtype
    std::byte* v = nullptr;  // (num_blocks, block_size, num_kv_heads, head_dim) of dtype

    // Bytes of one token's (num_kv_heads, head_dim) row in dtype.
    std::size_t row_bytes() const { return kvscope::row_bytes(dtype, std::int64_t{num_kv_heads} * head_dim); }
    // Bytes of one block (block_size rows) of K, or of V.
    std::size_t block_bytes() const { return row_bytes() * static_cast<std::size_t>(block_size); }
    // Bytes of the whole K buffer (the V buffer is the same size).
    std::size_t buffer_bytes() const { return block_bytes() * static_cast<std::size_t>(num_blocks); }
};

// Empty when a cache of `dtype` can hold rows of num_kv_heads * head_dim values; otherwise a
// one-line message saying what is wrong and what to do (callers raise ConfigError with it).
std::string kv_cache_layout_error(TensorType dtype, std::int32_t num_kv_heads, std::int32_t head_dim);

// Store the keys and values of a step's tokens in their slots.
//   k, v:          (num_tokens, num_kv_heads, head_dim) f32
//   slot_mapping:  (num_tokens) slot of each token; -1 = do not store this token
// F16 rounds to nearest even; Q8_0 quantises each row as ggml's reference quantiser does.
void write_kv(const PagedKvLayer& layer, const float* k, const float* v, std::span<const std::int64_t> slot_mapping);

// Copy whole blocks (K and V), in the given order: for each (src, dst), block dst becomes a
// copy of block src (copy-on-write of a shared, partly filled block). src != dst.
void copy_blocks(const PagedKvLayer& layer, std::span<const std::pair<std::int32_t, std::int32_t>> src_dst);

}  // namespace kvscope
