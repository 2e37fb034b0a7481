#pragma once
// Paged attention on the CPU: each sequence reaches its cached keys and values through a block
// table into the paged KV cache of the layer (paged_kv.h).

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/cpu_features.h"
#include "kernels/paged_kv.h"
#include "kernels/thread_pool.h"

namespace kvscope {

// The sequences of one attention call. The query tokens of sequence s are the rows
// [query_start[s], query_start[s + 1]) of q and out, and they are its last
// query_len = query_start[s + 1] - query_start[s] positions: query i sits at position
// seq_lens[s] - query_len + i and attends to positions [0, that position]. This covers decodes
// (query_len 1), whole prefills (query_len = seq_len) and chunked prefills (the start of the
// prompt already cached) in one call; query_len 0 is allowed (nothing to compute).
struct AttentionBatch {
    std::span<const std::int32_t> query_start;   // (num_seqs + 1), non-decreasing
    std::span<const std::int32_t> seq_lens;      // (num_seqs): cached + new tokens, after write_kv
    std::span<const std::int32_t> block_tables;  // (num_seqs, max_blocks_per_seq) physical block ids
    std::int32_t max_blocks_per_seq = 0;

    std::int32_t num_seqs() const { return static_cast<std::int32_t>(seq_lens.size()); }
};

// Bytes of scratch that paged_attention needs for up to max_num_seqs sequences with a pool of
// num_threads threads (allocate once, reuse for every call and every layer of that geometry).
std::size_t paged_attention_scratch_bytes(const PagedKvLayer& layer, std::int32_t num_heads, std::int32_t num_threads,
                                          std::int32_t max_num_seqs);

// out = softmax(scale * q K^T, causal) V for every query row, K and V read through the block
// tables from `layer` (which must already hold this step's tokens: call write_kv first).
//   q:    (num_tokens, num_heads, head_dim) f32, num_tokens = query_start[num_seqs]
//   out:  (num_tokens, num_heads, head_dim) f32 (rows outside the batch's queries untouched)
// GQA: query head h reads kv head h / (num_heads / num_kv_heads). Work is split over
// (sequence, kv head, tile of queries) and balanced dynamically over the pool; the softmax is
// computed online (flash-attention style), in f32. `scratch` holds at least
// paged_attention_scratch_bytes(layer, num_heads, pool.num_threads(), num_seqs) bytes. Does not
// allocate.
void paged_attention(ThreadPool& pool, const PagedKvLayer& layer, const float* q, float* out,
                     const AttentionBatch& batch, std::int32_t num_heads, float scale, std::span<std::byte> scratch);

// The same at a given SIMD level (tests compare levels; never above the CPU's).
void paged_attention(ThreadPool& pool, const PagedKvLayer& layer, const float* q, float* out,
                     const AttentionBatch& batch, std::int32_t num_heads, float scale, std::span<std::byte> scratch,
                     SimdLevel level);

}  // namespace kvscope
