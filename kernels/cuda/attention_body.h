#pragma once
// Kernel bodies of paged attention (see hd.h for how bodies run): one tiled, flash-attention
// style kernel for decodes, prefills and chunked prefills alike, with an optional split of the
// keys (split-K, for long contexts with few sequences) and the reduction of the splits.
//
// Block (x, y, z) = (sequence s and tile of its queries, kv head, key split). Its rows are the
// (query, query head) pairs of the tile that share the kv head (GQA: group = num_heads /
// num_kv_heads query heads per kv head), row r = query r / group, head kv * group + r % group.
// Keys are read in tiles of key_tile positions through the block table, dequantised into shared
// memory, and folded into each row's running max m, sum l and accumulator (online softmax), in
// f32. Query i of a sequence with query_len queries and seq_len tokens sits at position
// seq_len - query_len + i and attends to positions [0, that position] (as kernels/
// paged_attention.h: decodes, whole and chunked prefills in one call).

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/hd.h"
#include "kernels/cuda/paged_kv_body.h"
#include "kernels/tensor_type.h"

namespace kvscope::cuda {

inline constexpr int kAttnThreads = 128;

struct AttentionParams {
    const float* q;                    // (num_tokens, num_heads, head_dim)
    float* out;                        // (num_tokens, num_heads, head_dim)
    const std::uint8_t* k_cache;       // (num_blocks, block_size, num_kv_heads, head_dim) of dtype
    const std::uint8_t* v_cache;       // the same
    TensorType dtype;                  // F32, F16 or Q8_0
    std::size_t row_bytes;             // bytes of one token's row of the cache
    const std::int32_t* query_start;   // (num_seqs + 1)
    const std::int32_t* seq_lens;      // (num_seqs)
    const std::int32_t* block_tables;  // (num_seqs, table_stride)
    std::int32_t table_stride, block_size, num_heads, num_kv_heads, head_dim, num_tokens;
    float scale;
    std::int32_t query_tile, key_tile;  // queries per block, keys per tile
    std::int32_t qtiles_per_seq;        // grid x = num_seqs * qtiles_per_seq
    std::int32_t num_splits;            // grid z; 1: normalised output, > 1: partials
    float* partial_acc;                 // (num_splits, num_tokens, num_heads, head_dim)
    float* partial_ml;                  // (num_splits, num_tokens, num_heads, 2): max, sum
};

// Shared floats for `rows` rows: q and accumulators (rows, head_dim), the K or V tile
// (key_tile, head_dim + 1: padded against bank conflicts), scores (rows, key_tile), and m, l,
// alpha per row.
KV_HD constexpr std::size_t attention_shared_floats(int rows, int head_dim, int key_tile) {
    return 2 * static_cast<std::size_t>(rows) * head_dim + static_cast<std::size_t>(key_tile) * (head_dim + 1) +
           static_cast<std::size_t>(rows) * key_tile + 3 * static_cast<std::size_t>(rows);
}

struct AttentionTiling {
    int query_tile = 0;  // 0: nothing fits the shared memory limit
    int key_tile = 0;
    std::size_t shared_bytes = 0;
};

// The largest tiles whose shared memory fits `shared_limit` bytes: one query per block for
// decodes (rows = the group), about 64 rows for prefills.
inline AttentionTiling choose_attention_tiling(int group, int head_dim, bool decode, std::size_t shared_limit) {
    int qt = decode ? 1 : (64 / group > 1 ? 64 / group : 1);
    for (; qt >= 1; qt /= 2) {
        for (int kt : {64, 32, 16, 8}) {
            const std::size_t bytes = 4 * attention_shared_floats(group * qt, head_dim, kt);
            if (bytes <= shared_limit) return AttentionTiling{qt, kt, bytes};
        }
    }
    return {};
}

KV_HD inline int min_i(int a, int b) {
    return a < b ? a : b;
}

template <class Exec>
KV_BODY void attention_block(const Exec& ex, const AttentionParams& p, int block_x, int block_y, int block_z,
                             float* smem) {
    // Which queries and keys this block covers (all block-uniform).
    const int seq = block_x / p.qtiles_per_seq, qtile = block_x % p.qtiles_per_seq;
    const int kvh = block_y, split = block_z;
    const int q_begin = p.query_start[seq];
    const int query_len = p.query_start[seq + 1] - q_begin;
    const int first_q = qtile * p.query_tile;
    if (first_q >= query_len) return;
    const int nq = min_i(p.query_tile, query_len - first_q);
    const int seq_len = p.seq_lens[seq];
    const int group = p.num_heads / p.num_kv_heads, D = p.head_dim, TILE = p.key_tile;
    const int R = group * p.query_tile;
    const int ctx0 = seq_len - query_len;  // position of the sequence's first query
    const int split_len = static_cast<int>(ceil_div(ceil_div(seq_len, p.num_splits), TILE) * TILE);
    const int kbeg = split * split_len;
    const int kend = min_i(ctx0 + first_q + nq, kbeg + split_len);  // causal: up to the last query
    const std::int32_t* table = p.block_tables + static_cast<std::int64_t>(seq) * p.table_stride;

    float* qs = smem;                // (R, D) scaled queries
    float* acc = qs + R * D;         // (R, D) unnormalised outputs
    float* kv = acc + R * D;         // (TILE, D + 1) the K, then the V tile
    float* s = kv + TILE * (D + 1);  // (R, TILE) scores, then probabilities
    float* m = s + R * TILE;         // (R) running max
    float* l = m + R;                // (R) running sum
    float* alpha = l + R;            // (R) rescale of this tile

    auto load_tile = [&](const std::uint8_t* cache, int t0, int tid) {
        for (int idx = tid; idx < TILE * D; idx += kAttnThreads) {
            const int t = idx / D, d = idx % D;
            const int pos = t0 + t;
            float v = 0.0f;
            if (pos < kend) {
                const std::int64_t slot =
                    static_cast<std::int64_t>(table[pos / p.block_size]) * p.block_size + pos % p.block_size;
                v = load_kv(p.dtype, cache + static_cast<std::size_t>(slot) * p.row_bytes,
                            static_cast<std::int64_t>(kvh) * D + d);
            }
            kv[t * (D + 1) + d] = v;
        }
    };

    // 0. scaled queries; empty accumulators
    ex.phase([&](int tid) {
        for (int idx = tid; idx < R * D; idx += kAttnThreads) {
            const int r = idx / D, d = idx % D, qi = r / group;
            float v = 0.0f;
            if (qi < nq) {
                const std::int64_t tok = q_begin + first_q + qi;
                const int h = kvh * group + r % group;
                v = p.q[(tok * p.num_heads + h) * D + d] * p.scale;
            }
            qs[idx] = v;
            acc[idx] = 0.0f;
        }
        for (int r = tid; r < R; r += kAttnThreads) {
            m[r] = kNegInf;
            l[r] = 0.0f;
        }
    });
    for (int t0 = kbeg; t0 < kend; t0 += TILE) {
        // 1. the K tile
        ex.phase([&](int tid) { load_tile(p.k_cache, t0, tid); });
        // 2. scores q·k of every (row, key); -inf where causality or the range excludes the key
        ex.phase([&](int tid) {
            for (int idx = tid; idx < R * TILE; idx += kAttnThreads) {
                const int r = idx / TILE, t = idx % TILE, qi = r / group;
                const int pos = t0 + t, qpos = ctx0 + first_q + qi;
                float score = kNegInf;
                if (qi < nq && pos < kend && pos <= qpos) {
                    const float* qr = qs + r * D;
                    const float* kt = kv + t * (D + 1);
                    score = 0.0f;
                    for (int d = 0; d < D; ++d) score += qr[d] * kt[d];
                }
                s[idx] = score;
            }
        });
        // 3. online softmax of each row over the tile (scores become probabilities); the V tile
        ex.phase([&](int tid) {
            for (int r = tid; r < R; r += kAttnThreads) {
                float* sr = s + r * TILE;
                float tile_max = kNegInf;
                for (int t = 0; t < TILE; ++t) tile_max = fmax_f(tile_max, sr[t]);
                const float m_new = fmax_f(m[r], tile_max);
                if (m_new == kNegInf) {  // nothing seen yet
                    alpha[r] = 1.0f;
                    for (int t = 0; t < TILE; ++t) sr[t] = 0.0f;
                    continue;
                }
                alpha[r] = exp_f(m[r] - m_new);
                float sum = 0.0f;
                for (int t = 0; t < TILE; ++t) {
                    const float e = sr[t] == kNegInf ? 0.0f : exp_f(sr[t] - m_new);
                    sr[t] = e;
                    sum += e;
                }
                l[r] = l[r] * alpha[r] + sum;
                m[r] = m_new;
            }
            load_tile(p.v_cache, t0, tid);
        });
        // 4. acc = acc * alpha + p · V
        ex.phase([&](int tid) {
            for (int idx = tid; idx < R * D; idx += kAttnThreads) {
                const int r = idx / D, d = idx % D;
                const float* pr = s + r * TILE;
                float a = acc[idx] * alpha[r];
                for (int t = 0; t < TILE; ++t) a += pr[t] * kv[t * (D + 1) + d];
                acc[idx] = a;
            }
        });
    }
    // 5. outputs (normalised), or this split's partial results
    ex.phase([&](int tid) {
        for (int idx = tid; idx < R * D; idx += kAttnThreads) {
            const int r = idx / D, d = idx % D, qi = r / group;
            if (qi >= nq) continue;
            const std::int64_t tok = q_begin + first_q + qi;
            const int h = kvh * group + r % group;
            const std::int64_t row = tok * p.num_heads + h;
            if (p.num_splits == 1) {
                p.out[row * D + d] = l[r] > 0.0f ? acc[idx] / l[r] : 0.0f;
            } else {
                const std::int64_t prow = static_cast<std::int64_t>(split) * p.num_tokens * p.num_heads + row;
                p.partial_acc[prow * D + d] = acc[idx];
                if (d == 0) {
                    p.partial_ml[2 * prow] = m[r];
                    p.partial_ml[2 * prow + 1] = l[r];
                }
            }
        }
    });
}

// Combines the splits of one (token, head) row: block_x = token * num_heads + head.
struct AttentionReduceParams {
    const float* partial_acc;  // (num_splits, num_tokens, num_heads, head_dim)
    const float* partial_ml;   // (num_splits, num_tokens, num_heads, 2)
    float* out;                // (num_tokens, num_heads, head_dim)
    std::int32_t num_splits, num_tokens, num_heads, head_dim;
};

template <class Exec>
KV_BODY void attention_reduce_block(const Exec& ex, const AttentionReduceParams& p, int block_x) {
    ex.phase([&](int tid) {
        const std::int64_t rows = static_cast<std::int64_t>(p.num_tokens) * p.num_heads;
        float max_m = kNegInf;
        for (int sp = 0; sp < p.num_splits; ++sp) max_m = fmax_f(max_m, p.partial_ml[2 * (sp * rows + block_x)]);
        for (int d = tid; d < p.head_dim; d += kAttnThreads) {
            float num = 0.0f, den = 0.0f;
            for (int sp = 0; sp < p.num_splits; ++sp) {
                const std::int64_t prow = sp * rows + block_x;
                const float m = p.partial_ml[2 * prow];
                if (m == kNegInf) continue;
                const float w = exp_f(m - max_m);
                num += w * p.partial_acc[prow * p.head_dim + d];
                den += w * p.partial_ml[2 * prow + 1];
            }
            p.out[static_cast<std::int64_t>(block_x) * p.head_dim + d] = den > 0.0f ? num / den : 0.0f;
        }
    });
}

}  // namespace kvscope::cuda
