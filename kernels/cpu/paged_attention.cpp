#include "kernels/paged_attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/check.h"
#include "kernels/cpu/attention_rows.h"

namespace kvscope {
namespace {

constexpr int kQueryTile = 16;  // queries of one sequence per work item
// Keys per online-softmax step: chunk_tokens * head_dim = kChunkElems, so that the chunk's K and
// V gathered in f32 (2 x 16 KiB) stay in L1 while every query row of the work item reads them.
constexpr int kChunkElems = 4096;
constexpr int kMinChunkTokens = 16;
constexpr int kPrefetchTokens = 8;  // how far ahead load_chunk prefetches the cache
constexpr std::size_t kAlign = 64;

std::size_t align_up(std::size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
}

// Sizes derived from the layer and the head count, the same for every call.
struct Geometry {
    int group = 0;                 // query heads per kv head
    int rows = 0;                  // query rows of a work item at most: group * kQueryTile
    int chunk_tokens = 0;          // keys per online-softmax step
    std::size_t thread_bytes = 0;  // scratch of one thread
};

Geometry make_geometry(const PagedKvLayer& layer, std::int32_t num_heads) {
    KV_CHECK(layer.num_kv_heads > 0 && layer.head_dim > 0 && layer.block_size > 0);
    KV_CHECK_MSG(num_heads % layer.num_kv_heads == 0, "num_heads must be a multiple of num_kv_heads");
    Geometry g;
    g.group = num_heads / layer.num_kv_heads;
    g.rows = g.group * kQueryTile;
    g.chunk_tokens = std::max(kMinChunkTokens, kChunkElems / layer.head_dim);
    const std::size_t f = sizeof(float);
    g.thread_bytes = 2 * align_up(g.rows * f)                                           // m, l
                     + align_up(std::size_t(g.rows) * layer.head_dim * f)               // acc
                     + align_up(g.chunk_tokens * f)                                     // scores
                     + 2 * align_up(std::size_t(g.chunk_tokens) * layer.head_dim * f);  // k, v
    return g;
}

std::size_t tile_index_bytes(std::int32_t num_seqs) {
    return align_up((num_seqs + 1) * sizeof(std::int64_t));
}

// One thread's scratch.
struct ThreadScratch {
    float* m;       // (rows) running max of each query row's scores
    float* l;       // (rows) running sum of e^(score - m)
    float* acc;     // (rows, head_dim) running sum of e^(score - m) * V
    float* scores;  // (chunk_tokens) one row's scores, then probabilities, for the current chunk
    float* k;       // (chunk_tokens, head_dim) the chunk's keys of one kv head, gathered in f32
    float* v;       // (chunk_tokens, head_dim) the same for values
};

ThreadScratch carve(std::byte* base, const Geometry& g, int head_dim) {
    ThreadScratch ts{};
    auto take = [&](std::size_t floats) {
        auto* p = reinterpret_cast<float*>(base);
        base += align_up(floats * sizeof(float));
        return p;
    };
    ts.m = take(g.rows);
    ts.l = take(g.rows);
    ts.acc = take(std::size_t(g.rows) * head_dim);
    ts.scores = take(g.chunk_tokens);
    ts.k = take(std::size_t(g.chunk_tokens) * head_dim);
    ts.v = take(std::size_t(g.chunk_tokens) * head_dim);
    return ts;
}

// Everything a work item reads, shared by all threads.
struct Call {
    const PagedKvLayer& layer;
    const float* q;  // (num_tokens, num_heads, head_dim)
    float* out;      // (num_tokens, num_heads, head_dim)
    const AttentionBatch& batch;
    std::int32_t num_heads;
    float scale;
    const AttentionRowKernels& kernels;
    const Geometry& geometry;
};

// ts.k, ts.v (c1 - c0, head_dim) <- the keys and values of kv head `kv_head` at positions
// [c0, c1) of sequence s, in f32; tokens up to kv_end are prefetched ahead. Gathering them out
// of the cache (where one token's slice of a head is a few cache lines, a whole K/V row apart)
// into contiguous scratch reads each byte of the cache once per work item; every query row
// then reads the copy from L1. The positions go by runs within one block: one block-table
// lookup (and bounds check) per run, and the slots of a run follow each other.
void load_chunk(const Call& c, ThreadScratch& ts, std::int32_t s, int kv_head, std::int64_t c0, std::int64_t c1,
                std::int64_t kv_end) {
    const PagedKvLayer& layer = c.layer;
    const int head_dim = layer.head_dim;
    const std::int64_t row_elems = std::int64_t{layer.num_kv_heads} * head_dim;
    const std::size_t row_bytes = layer.row_bytes();
    const std::int64_t head_offset = std::int64_t{kv_head} * head_dim;  // in elements, within a row
    const std::int32_t* table = c.batch.block_tables.data() + std::int64_t{s} * c.batch.max_blocks_per_seq;
    const std::int64_t bs = layer.block_size;
    auto first_slot_of = [&](std::int64_t p) {
        const std::int32_t block = table[p / bs];
        KV_CHECK_MSG(block >= 0 && block < layer.num_blocks, "block table entry outside the KV cache");
        return std::int64_t{block} * bs + p % bs;
    };
    // bytes of one head's slice (for Q8_0 approximately: heads may share a block; enough to prefetch)
    const std::size_t head_bytes = row_bytes / layer.num_kv_heads;
    const std::size_t head_byte_offset = head_bytes * kv_head;
    // a whole number of blocks ahead: a run's tokens ahead are the same offsets of one block
    const std::int64_t ahead_tokens = (kPrefetchTokens + bs - 1) / bs * bs;
    for (std::int64_t p = c0; p < c1;) {
        // 1. the run of positions [p, run_end) in one block, and its first slot
        const std::int64_t index = p / bs;
        const std::int64_t run_end = std::min(c1, (index + 1) * bs);
        const std::int64_t first_slot = first_slot_of(p);
        // 2. the block a prefetch distance ahead (its slots pair with this run's: same offsets)
        const std::int64_t ahead_slot = p + ahead_tokens < kv_end ? first_slot_of(p + ahead_tokens) : -1;
        for (std::int64_t k = 0; k < run_end - p; ++k) {
            // 3. start fetching a later token's slices: each is a few cache lines, a whole row
            //    apart from the previous token's, which hardware prefetchers do not follow
            if (ahead_slot >= 0 && p + ahead_tokens + k < kv_end) {
                const std::byte* kp = layer.k + (ahead_slot + k) * row_bytes + head_byte_offset;
                const std::byte* vp = layer.v + (ahead_slot + k) * row_bytes + head_byte_offset;
                for (std::size_t line = 0; line < head_bytes; line += 64) {
                    __builtin_prefetch(kp + line);
                    __builtin_prefetch(vp + line);
                }
            }
            // 4. that token's (head_dim) slice of kv head `kv_head`, in f32
            const std::int64_t slot = first_slot + k;
            float* kd = ts.k + (p + k - c0) * head_dim;
            float* vd = ts.v + (p + k - c0) * head_dim;
            switch (layer.dtype) {
                case TensorType::F32:
                    std::memcpy(kd, reinterpret_cast<const float*>(layer.k) + slot * row_elems + head_offset,
                                head_dim * 4);
                    std::memcpy(vd, reinterpret_cast<const float*>(layer.v) + slot * row_elems + head_offset,
                                head_dim * 4);
                    break;
                case TensorType::F16:
                    c.kernels.f16_to_f32(
                        reinterpret_cast<const std::uint16_t*>(layer.k) + slot * row_elems + head_offset, kd, head_dim);
                    c.kernels.f16_to_f32(
                        reinterpret_cast<const std::uint16_t*>(layer.v) + slot * row_elems + head_offset, vd, head_dim);
                    break;
                default:  // Q8_0
                    c.kernels.q8_0_to_f32(layer.k + slot * row_bytes, head_offset, head_dim, kd);
                    c.kernels.q8_0_to_f32(layer.v + slot * row_bytes, head_offset, head_dim, vd);
                    break;
            }
        }
        p = run_end;
    }
}

// Attention of queries [tile * kQueryTile, ...) of sequence s, for the query heads of kv head
// `kv_head`: all share the keys and values the work item loads.
void attend_tile(const Call& c, ThreadScratch& ts, std::int32_t s, int kv_head, std::int64_t tile) {
    const int head_dim = c.layer.head_dim;
    const int group = c.geometry.group;
    const std::int64_t q_begin = c.batch.query_start[s];
    const std::int64_t query_len = c.batch.query_start[s + 1] - q_begin;
    const std::int64_t first_pos = c.batch.seq_lens[s] - query_len;  // position of query 0
    const std::int64_t i0 = tile * kQueryTile;
    const std::int64_t i1 = std::min<std::int64_t>(i0 + kQueryTile, query_len);
    const int num_rows = static_cast<int>(i1 - i0) * group;  // row r: query i0 + r / group, head r % group
    const std::int64_t kv_end = first_pos + i1;              // keys [0, kv_end) are seen by some row

    // 1. empty running state for every row
    std::fill(ts.m, ts.m + num_rows, -std::numeric_limits<float>::infinity());
    std::fill(ts.l, ts.l + num_rows, 0.0f);
    std::fill(ts.acc, ts.acc + std::int64_t{num_rows} * head_dim, 0.0f);

    for (std::int64_t c0 = 0; c0 < kv_end; c0 += c.geometry.chunk_tokens) {
        // 2. this chunk's keys and values of the kv head
        const std::int64_t c1 = std::min<std::int64_t>(c0 + c.geometry.chunk_tokens, kv_end);
        load_chunk(c, ts, s, kv_head, c0, c1, kv_end);
        for (int r = 0; r < num_rows; ++r) {
            // 3. the keys row r may see in this chunk (causal: positions <= its own)
            const std::int64_t i = i0 + r / group;
            const int head = kv_head * group + r % group;
            const int n = static_cast<int>(std::min(c1, first_pos + i + 1) - c0);
            if (n <= 0) continue;
            const float* q_row = c.q + ((q_begin + i) * c.num_heads + head) * head_dim;  // (head_dim)
            // 4. scores = scale * q . k
            c.kernels.scores(q_row, ts.k, head_dim, n, head_dim, c.scale, ts.scores);
            // 5. online softmax: new max, rescale the old sum, add this chunk's e^(score - max)
            const float m_new = std::max(ts.m[r], c.kernels.max(ts.scores, n));
            const float correction = std::exp(ts.m[r] - m_new);  // 0 on the first chunk
            ts.l[r] = ts.l[r] * correction + c.kernels.exp_sum(ts.scores, n, m_new);
            ts.m[r] = m_new;
            // 6. acc = correction * acc + sum_j p_j V_j
            float* acc = ts.acc + std::int64_t{r} * head_dim;
            c.kernels.rescale_accumulate(acc, correction, ts.scores, ts.v, head_dim, n, head_dim);
        }
    }
    // 7. out = acc / l (l >= 1: each row sees at least position 0, and its max term is e^0)
    for (int r = 0; r < num_rows; ++r) {
        const std::int64_t i = i0 + r / group;
        const int head = kv_head * group + r % group;
        float* o = c.out + ((q_begin + i) * c.num_heads + head) * head_dim;  // (head_dim)
        const float inv_l = 1.0f / ts.l[r];
        const float* acc = ts.acc + std::int64_t{r} * head_dim;
        for (int d = 0; d < head_dim; ++d) o[d] = acc[d] * inv_l;
    }
}

const AttentionRowKernels& kernels_for(SimdLevel level) {
    KV_CHECK(level <= detect_simd_level());
    switch (level) {
        case SimdLevel::Avx512:
            return kAttentionRowsAvx512;
        case SimdLevel::Avx2:
            return kAttentionRowsAvx2;
        case SimdLevel::Scalar:
            break;
    }
    return kAttentionRowsScalar;
}

void check_batch(const PagedKvLayer& layer, const AttentionBatch& b) {
    const std::int32_t num_seqs = b.num_seqs();
    KV_CHECK(b.query_start.size() == static_cast<std::size_t>(num_seqs) + 1);
    KV_CHECK(b.max_blocks_per_seq >= 0);
    KV_CHECK(b.block_tables.size() >= static_cast<std::size_t>(num_seqs) * b.max_blocks_per_seq);
    for (std::int32_t s = 0; s < num_seqs; ++s) {
        const std::int32_t query_len = b.query_start[s + 1] - b.query_start[s];
        KV_CHECK_MSG(query_len >= 0 && query_len <= b.seq_lens[s], "query_start / seq_lens inconsistent");
        KV_CHECK_MSG((std::int64_t{b.seq_lens[s]} + layer.block_size - 1) / layer.block_size <= b.max_blocks_per_seq,
                     "sequence longer than its block table");
    }
}

}  // namespace

std::size_t paged_attention_scratch_bytes(const PagedKvLayer& layer, std::int32_t num_heads, std::int32_t num_threads,
                                          std::int32_t max_num_seqs) {
    const Geometry g = make_geometry(layer, num_heads);
    // + kAlign: the caller's buffer need not be aligned
    return kAlign + tile_index_bytes(max_num_seqs) + g.thread_bytes * static_cast<std::size_t>(num_threads);
}

void paged_attention(ThreadPool& pool, const PagedKvLayer& layer, const float* q, float* out,
                     const AttentionBatch& batch, std::int32_t num_heads, float scale, std::span<std::byte> scratch,
                     SimdLevel level) {
    // 1. geometry and checks
    const Geometry geometry = make_geometry(layer, num_heads);
    KV_CHECK_MSG(layer.dtype == TensorType::F32 || layer.dtype == TensorType::F16 || layer.dtype == TensorType::Q8_0,
                 "KV cache dtype must be F32, F16 or Q8_0");
    check_batch(layer, batch);
    const std::int32_t num_seqs = batch.num_seqs();
    KV_CHECK_MSG(scratch.size() >= paged_attention_scratch_bytes(layer, num_heads, pool.num_threads(), num_seqs),
                 "paged_attention scratch smaller than paged_attention_scratch_bytes");

    // 2. carve the scratch: the tile index, then one region per thread
    auto addr = reinterpret_cast<std::uintptr_t>(scratch.data());
    std::byte* base = scratch.data() + (align_up(addr) - addr);
    auto* tile_start = reinterpret_cast<std::int64_t*>(base);  // (num_seqs + 1) first work tile of each sequence
    std::byte* thread_base = base + tile_index_bytes(num_seqs);

    // 3. number the work: (tile of a sequence's queries) x (kv head)
    tile_start[0] = 0;
    for (std::int32_t s = 0; s < num_seqs; ++s) {
        const std::int64_t query_len = batch.query_start[s + 1] - batch.query_start[s];
        tile_start[s + 1] = tile_start[s] + (query_len + kQueryTile - 1) / kQueryTile;
    }
    const std::int64_t num_items = tile_start[num_seqs] * layer.num_kv_heads;
    if (num_items == 0) return;

    // 4. threads take items from a shared counter, last tiles first (they see the most keys)
    const Call call{layer, q, out, batch, num_heads, scale, kernels_for(level), geometry};
    std::atomic<std::int64_t> next{0};
    pool.run_on_threads([&](int thread_index, int) {
        ThreadScratch ts = carve(thread_base + geometry.thread_bytes * thread_index, geometry, layer.head_dim);
        for (std::int64_t item; (item = next.fetch_add(1, std::memory_order_relaxed)) < num_items;) {
            const std::int64_t reversed = num_items - 1 - item;
            const std::int64_t global_tile = reversed / layer.num_kv_heads;
            const int kv_head = static_cast<int>(reversed % layer.num_kv_heads);
            const auto s = static_cast<std::int32_t>(
                std::upper_bound(tile_start, tile_start + num_seqs + 1, global_tile) - tile_start - 1);
            attend_tile(call, ts, s, kv_head, global_tile - tile_start[s]);
        }
    });
}

void paged_attention(ThreadPool& pool, const PagedKvLayer& layer, const float* q, float* out,
                     const AttentionBatch& batch, std::int32_t num_heads, float scale, std::span<std::byte> scratch) {
    paged_attention(pool, layer, q, out, batch, num_heads, scale, scratch, active_simd_level());
}

}  // namespace kvscope
