// The CPU backend: a llama-style decoder forward pass over a batch of tokens from many
// sequences, with K/V in paged blocks, as llama2.c's run.c reads (one comment per step).

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/check.h"
#include "kernels/cpu/cpu_weights.h"
#include "kernels/cpu_features.h"
#include "kernels/elementwise.h"
#include "kernels/lora.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/paged_attention.h"
#include "kernels/quant.h"
#include "kernels/rope.h"
#include "kernels/thread_pool.h"

namespace kvscope {
namespace {

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::uint8_t[], FreeDeleter>;

// 64-byte aligned, not touched: the OS commits pages as the KV cache fills.
Buffer allocate(std::size_t bytes) {
    const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
    auto* p = static_cast<std::uint8_t*>(std::aligned_alloc(64, rounded));
    if (p == nullptr) throw std::bad_alloc();
    return Buffer(p);
}

// Rope factors with linear scaling folded in: theta_i = pos * scale * inv_freq_i / factor_i.
std::vector<float> rope_factors(const ModelShape& shape, const float* factors) {
    if (factors == nullptr && shape.rope_freq_scale == 1.0f) return {};
    std::vector<float> out(static_cast<std::size_t>(shape.rope_dim / 2), 1.0f);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = (factors ? factors[i] : 1.0f) / shape.rope_freq_scale;
    return out;
}

class CpuBackend final : public Backend {
public:
    CpuBackend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv,
               const CpuBackendOptions& options)
        : shape_(shape),
          weights_(weights),
          kv_(kv),
          pool_(options.num_threads),
          matmul_weights_(weights, pool_, options.pack_weights),
          rope_(shape.rope_dim, shape.rope_freq_base, rope_factors(shape, weights.rope_freq_factors)) {
        KV_CHECK(kv.num_blocks > 0 && kv.block_size > 0);
        const std::size_t token_bytes = row_bytes(kv.dtype, shape.kv_dim());
        const std::size_t layer_bytes = static_cast<std::size_t>(kv.num_blocks) * kv.block_size * token_bytes;
        for (int l = 0; l < shape.num_layers; ++l) {
            k_cache_.push_back(allocate(layer_bytes));
            v_cache_.push_back(allocate(layer_bytes));
            layers_.push_back(PagedKvLayer{kv.dtype, kv.num_blocks, kv.block_size, shape.num_kv_heads, shape.head_dim,
                                           reinterpret_cast<std::byte*>(k_cache_.back().get()),
                                           reinterpret_cast<std::byte*>(v_cache_.back().get())});
        }
        // Swap space: per swap block, every layer's K block then V block.
        if (kv.num_swap_blocks > 0) {
            swap_ = allocate(static_cast<std::size_t>(kv.num_swap_blocks) * swap_block_bytes());
        }
    }

    std::string name() const override {
        return "cpu (" + std::string(simd_level_name(active_simd_level())) + ", " +
               std::to_string(pool_.num_threads()) + (pool_.num_threads() == 1 ? " thread)" : " threads)");
    }
    const ModelShape& shape() const override { return shape_; }
    const KvCacheSpec& kv_spec() const override { return kv_; }

    void copy_blocks(std::span<const BlockCopy> copies) override {
        if (copies.empty()) return;
        copy_pairs_.clear();
        for (const BlockCopy& c : copies) copy_pairs_.emplace_back(c.src, c.dst);
        for (const PagedKvLayer& layer : layers_) kvscope::copy_blocks(layer, copy_pairs_);
    }

    bool supports_swap() const override { return kv_.num_swap_blocks > 0; }

    bool supports_lora() const override { return true; }
    void add_lora(const LoraWeights& weights) override {
        KV_CHECK(weights.layers.size() == weights_.layers.size());
        loras_.push_back(weights);
        lora_rank_ = std::max(lora_rank_, weights.max_rank());
        capacity_ = 0;  // the next forward sizes the LoRA scratch for the new rank
    }
    void remove_lora(std::int32_t slot) override {
        KV_CHECK(slot >= 0 && slot < static_cast<std::int32_t>(loras_.size()) &&
                 !loras_[static_cast<std::size_t>(slot)].layers.empty());
        loras_[static_cast<std::size_t>(slot)] = LoraWeights{};  // drops the views of the adapter's memory
    }

    // KV block src -> swap block dst, all layers, K and V.
    void swap_out(std::span<const BlockCopy> copies) override {
        for (const BlockCopy& c : copies) {
            check_swap_copy(c.src, c.dst);
            for (std::size_t l = 0; l < layers_.size(); ++l) {
                const std::size_t bytes = layers_[l].block_bytes();
                std::memcpy(swap_slot(c.dst, l, 0), layers_[l].k + c.src * bytes, bytes);
                std::memcpy(swap_slot(c.dst, l, 1), layers_[l].v + c.src * bytes, bytes);
            }
        }
    }

    // Swap block src -> KV block dst.
    void swap_in(std::span<const BlockCopy> copies) override {
        for (const BlockCopy& c : copies) {
            check_swap_copy(c.dst, c.src);
            for (std::size_t l = 0; l < layers_.size(); ++l) {
                const std::size_t bytes = layers_[l].block_bytes();
                std::memcpy(layers_[l].k + c.dst * bytes, swap_slot(c.src, l, 0), bytes);
                std::memcpy(layers_[l].v + c.dst * bytes, swap_slot(c.src, l, 1), bytes);
            }
        }
    }

    void forward(const ForwardBatch& batch, std::span<float> logits) override {
        const std::int64_t n = batch.num_tokens();
        const std::int64_t dim = shape_.dim, q_dim = shape_.q_dim(), kv_dim = shape_.kv_dim(), ffn = shape_.ffn_dim;
        const std::int64_t num_logits = static_cast<std::int64_t>(batch.logits_rows.size());
        KV_CHECK(n > 0 && logits.size() == static_cast<std::size_t>(num_logits * shape_.vocab_size));
        reserve(n, batch.num_seqs());
        lora_rows(batch);
        const AttentionBatch attn{batch.query_start, batch.seq_lens, batch.block_tables, batch.max_blocks_per_seq};

        // 1. token embeddings: x(n, dim)
        gather_rows(weights_.token_embedding, batch.token_ids, x_.get());
        // 2. rotary angles of this step's positions, shared by every layer
        rope_.rope_cos_sin(batch.positions, cos_sin_.get());

        std::int64_t m_rows = n;  // rows still computed: all, until the last layer's attention
        for (int l = 0; l < shape_.num_layers; ++l) {
            const LayerWeights& w = weights_.layers[static_cast<std::size_t>(l)];
            const CpuLayerWeights& m = matmul_weights_.layer(static_cast<std::size_t>(l));
            const PagedKvLayer& kv_layer = layers_[static_cast<std::size_t>(l)];
            // 3. attention: xb = rmsnorm(x); q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ (+ bias), one region
            rows(n, [&](std::int64_t b, std::int64_t e) {
                rms_norm(x_.get() + b * dim, w.attn_norm, xb_.get() + b * dim, e - b, dim, shape_.rms_eps);
            });
            project({&m.wq, &m.wk, &m.wv}, xb_.get(), n, {q_.get(), k_.get(), v_.get()});
            apply_lora(l, LoraTarget::Q, xb_.get(), q_.get(), lora_runs_);
            apply_lora(l, LoraTarget::K, xb_.get(), k_.get(), lora_runs_);
            apply_lora(l, LoraTarget::V, xb_.get(), v_.get(), lora_runs_);
            if (w.bq) add_bias(q_.get(), w.bq, n, q_dim);
            if (w.bk) add_bias(k_.get(), w.bk, n, kv_dim);
            if (w.bv) add_bias(v_.get(), w.bv, n, kv_dim);
            // 4. rotate q and k by position
            apply_rope(shape_.rope_style, q_.get(), n, shape_.num_heads, shape_.head_dim, shape_.rope_dim,
                       cos_sin_.get());
            apply_rope(shape_.rope_style, k_.get(), n, shape_.num_kv_heads, shape_.head_dim, shape_.rope_dim,
                       cos_sin_.get());
            // 5. k, v into their cache slots; attention over each sequence's blocks. In the last
            //    layer only the rows whose logits are wanted go on (every row's K/V is stored).
            write_kv(kv_layer, k_.get(), v_.get(), batch.slot_mapping);
            const bool compact = l + 1 == shape_.num_layers && keep_logit_rows_only(batch);
            if (compact) m_rows = num_logits;
            const std::vector<LoraRun>& runs = compact ? compact_lora_runs(batch) : lora_runs_;
            paged_attention(pool_, kv_layer, q_.get(), attn_.get(), compact ? logit_rows_attention(batch) : attn,
                            shape_.num_heads, attention_scale(), attn_scratch_);
            // 6. x += attn·Woᵀ
            matmul(pool_, m.wo, attn_.get(), m_rows, xb_.get(), scratch_.get());
            apply_lora(l, LoraTarget::O, attn_.get(), xb_.get(), runs);
            add_inplace(x_.get(), xb_.get(), m_rows * dim);
            // 7. feed-forward: x += (silu(xb·Wgᵀ) * xb·Wuᵀ)·Wdᵀ with xb = rmsnorm(x); gate and up in one region
            rows(m_rows, [&](std::int64_t b, std::int64_t e) {
                rms_norm(x_.get() + b * dim, w.ffn_norm, xb_.get() + b * dim, e - b, dim, shape_.rms_eps);
            });
            project({&m.ffn_gate, &m.ffn_up}, xb_.get(), m_rows, {gate_.get(), up_.get()});
            apply_lora(l, LoraTarget::Gate, xb_.get(), gate_.get(), runs);
            apply_lora(l, LoraTarget::Up, xb_.get(), up_.get(), runs);
            swiglu(gate_.get(), up_.get(), gate_.get(), m_rows * ffn);
            matmul(pool_, m.ffn_down, gate_.get(), m_rows, xb_.get(), scratch_.get());
            apply_lora(l, LoraTarget::Down, gate_.get(), xb_.get(), runs);
            add_inplace(x_.get(), xb_.get(), m_rows * dim);
        }

        // 8. logits of the rows that sample: rmsnorm, then ·Woutᵀ (compacted rows are 0 .. num_logits - 1)
        for (std::int64_t i = 0; i < num_logits; ++i) {
            const std::int64_t row = m_rows == n ? batch.logits_rows[static_cast<std::size_t>(i)] : i;
            rms_norm(x_.get() + row * dim, weights_.output_norm, xb_.get() + i * dim, 1, dim, shape_.rms_eps);
        }
        matmul(pool_, matmul_weights_.output(), xb_.get(), num_logits, logits.data(), scratch_.get());
    }

private:
    std::size_t swap_block_bytes() const { return 2 * layers_.size() * layers_.front().block_bytes(); }
    // The K (kv = 0) or V (kv = 1) part of layer l in swap block `block`.
    std::uint8_t* swap_slot(std::int32_t block, std::size_t l, int kv) {
        const std::size_t bytes = layers_.front().block_bytes();
        return swap_.get() + static_cast<std::size_t>(block) * swap_block_bytes() + (2 * l + kv) * bytes;
    }
    void check_swap_copy(std::int32_t kv_block, std::int32_t swap_block) const {
        KV_CHECK_MSG(kv_block >= 0 && kv_block < kv_.num_blocks, "swap: KV block id outside the cache");
        KV_CHECK_MSG(swap_block >= 0 && swap_block < kv_.num_swap_blocks, "swap: block id outside the swap space");
    }

    float attention_scale() const { return 1.0f / std::sqrt(static_cast<float>(shape_.head_dim)); }

    // True when fewer rows want logits than the batch has and each is the last query row of its
    // sequence: then the last layer computes only those rows past attention. Moves their q and
    // x rows to the front (rows ascend, so the copies never overwrite a row still to be moved).
    bool keep_logit_rows_only(const ForwardBatch& batch) {
        const std::size_t num_logits = batch.logits_rows.size();
        if (num_logits == static_cast<std::size_t>(batch.num_tokens())) return false;
        std::size_t i = 0;
        logit_query_start_[0] = 0;
        for (std::int32_t s = 0; s < batch.num_seqs(); ++s) {
            const std::int32_t end = batch.query_start[static_cast<std::size_t>(s) + 1];
            const bool wanted = i < num_logits && batch.logits_rows[i] == end - 1 &&
                                end > batch.query_start[static_cast<std::size_t>(s)];
            i += wanted ? 1 : 0;
            logit_query_start_[static_cast<std::size_t>(s) + 1] = static_cast<std::int32_t>(i);
        }
        if (i != num_logits) return false;  // some wanted row is not a sequence's last
        const std::int64_t dim = shape_.dim, q_dim = shape_.q_dim();
        for (std::size_t r = 0; r < num_logits; ++r) {
            const std::int64_t from = batch.logits_rows[r];
            if (from == static_cast<std::int64_t>(r)) continue;
            std::copy_n(q_.get() + from * q_dim, q_dim, q_.get() + static_cast<std::int64_t>(r) * q_dim);
            std::copy_n(x_.get() + from * dim, dim, x_.get() + static_cast<std::int64_t>(r) * dim);
        }
        return true;
    }

    // The attention of the compacted rows: one query (the last position) per sampling sequence.
    AttentionBatch logit_rows_attention(const ForwardBatch& batch) const {
        return AttentionBatch{std::span<const std::int32_t>(logit_query_start_.data(), batch.seq_lens.size() + 1),
                              batch.seq_lens, batch.block_tables, batch.max_blocks_per_seq};
    }

    // Each token row's LoRA slot, and the runs of rows that share one (none without adapters).
    void lora_rows(const ForwardBatch& batch) {
        lora_runs_.clear();
        if (batch.seq_lora.empty()) return;
        KV_CHECK(batch.seq_lora.size() == batch.seq_lens.size());
        for (std::int32_t s = 0; s < batch.num_seqs(); ++s) {
            const std::int32_t slot = batch.seq_lora[static_cast<std::size_t>(s)];
            KV_CHECK_MSG(slot < static_cast<std::int32_t>(loras_.size()) &&
                             (slot < 0 || !loras_[static_cast<std::size_t>(slot)].layers.empty()),
                         "LoRA slot not registered, or removed");
            std::fill(row_lora_.begin() + batch.query_start[static_cast<std::size_t>(s)],
                      row_lora_.begin() + batch.query_start[static_cast<std::size_t>(s) + 1], slot);
        }
        lora_runs(std::span(row_lora_.data(), static_cast<std::size_t>(batch.num_tokens())), lora_runs_);
    }

    // The runs of the rows keep_logit_rows_only moved to the front (row i was logits_rows[i]).
    const std::vector<LoraRun>& compact_lora_runs(const ForwardBatch& batch) {
        if (lora_runs_.empty()) return lora_runs_;
        const std::size_t num_logits = batch.logits_rows.size();
        for (std::size_t i = 0; i < num_logits; ++i) compact_lora_[i] = row_lora_[batch.logits_rows[i]];
        lora_runs(std::span(compact_lora_.data(), num_logits), compact_lora_runs_);
        return compact_lora_runs_;
    }

    // y += the delta of every run's adapter for this layer's `target`, x and y being the
    // projection's input and output rows.
    void apply_lora(int l, LoraTarget target, const float* x, float* y, const std::vector<LoraRun>& runs) {
        for (const LoraRun& run : runs) {
            const LoraPair& p = loras_[static_cast<std::size_t>(run.slot)].pair(static_cast<std::size_t>(l), target);
            if (!p.present()) continue;
            lora_delta(pool_, p, x + std::int64_t{run.begin} * p.in, run.end - run.begin,
                       y + std::int64_t{run.begin} * p.out, lora_tmp_.get());
        }
    }

    template <class Fn>
    void rows(std::int64_t n, Fn&& fn) {
        if (n * shape_.dim < (1 << 14))
            fn(0, n);
        else
            pool_.parallel_for(n, fn);
    }

    // Weights that read the same activations: one parallel region for each activation type among
    // them (a Q4_K_M layer's packed Q4_K q/k take Q8_0, its Q6_K v Q8_K), in the order first seen.
    void project(std::initializer_list<const MatmulWeight*> ws, const float* x, std::int64_t n,
                 std::initializer_list<float*> ys) {
        constexpr std::size_t kMax = 3;
        KV_CHECK(ws.size() <= kMax && ws.size() == ys.size());
        bool done[kMax] = {};
        for (std::size_t i = 0; i < ws.size(); ++i) {
            if (done[i]) continue;
            const TensorType act = matmul_activation_type(*ws.begin()[i]);
            const MatmulWeight* group[kMax];
            float* group_ys[kMax];
            std::size_t count = 0;
            for (std::size_t j = i; j < ws.size(); ++j) {
                if (done[j] || matmul_activation_type(*ws.begin()[j]) != act) continue;
                done[j] = true;
                group[count] = ws.begin()[j];
                group_ys[count++] = ys.begin()[j];
            }
            matmul_multi(pool_, std::span(group, count), x, n, std::span(group_ys, count), scratch_.get());
        }
    }

    static void add_bias(float* y, const float* bias, std::int64_t n, std::int64_t width) {
        for (std::int64_t t = 0; t < n; ++t) add_inplace(y + t * width, bias, width);
    }

    // 64-byte aligned floats (matmul outputs: threads write whole cache lines).
    struct Floats {
        Buffer buffer;
        void assign(std::size_t count) { buffer = allocate(count * sizeof(float)); }
        float* get() const { return reinterpret_cast<float*>(buffer.get()); }
    };

    // Grows the scratch for n tokens of num_seqs sequences (only when a larger batch than before comes).
    void reserve(std::int64_t n, std::int32_t num_seqs) {
        if (num_seqs > seq_capacity_) {
            seq_capacity_ = std::max(num_seqs, 2 * seq_capacity_);
            logit_query_start_.assign(static_cast<std::size_t>(seq_capacity_) + 1, 0);
            const std::size_t bytes =
                paged_attention_scratch_bytes(layers_.front(), shape_.num_heads, pool_.num_threads(), seq_capacity_);
            attn_buffer_ = allocate(bytes);
            attn_scratch_ = std::span<std::byte>(reinterpret_cast<std::byte*>(attn_buffer_.get()), bytes);
        }
        if (n <= capacity_) return;
        capacity_ = std::max<std::int64_t>(n, 2 * capacity_);
        const std::size_t c = static_cast<std::size_t>(capacity_);
        x_.assign(c * shape_.dim);
        xb_.assign(c * shape_.dim);
        q_.assign(c * shape_.q_dim());
        k_.assign(c * shape_.kv_dim());
        v_.assign(c * shape_.kv_dim());
        attn_.assign(c * shape_.q_dim());
        gate_.assign(c * shape_.ffn_dim);
        up_.assign(c * shape_.ffn_dim);
        cos_sin_.assign(c * static_cast<std::size_t>(shape_.rope_dim));
        row_lora_.assign(c, -1);
        compact_lora_.assign(c, -1);
        lora_runs_.reserve(c);
        compact_lora_runs_.reserve(c);
        if (lora_rank_ > 0) {
            const std::int32_t widest = std::max({shape_.q_dim(), shape_.kv_dim(), shape_.dim, shape_.ffn_dim});
            lora_tmp_.assign(lora_scratch_floats(lora_rank_, widest, capacity_));
        }
        std::size_t scratch = 0;
        for (std::size_t l = 0; l < weights_.layers.size(); ++l) {
            const CpuLayerWeights& m = matmul_weights_.layer(l);
            for (const MatmulWeight* t : {&m.wq, &m.wk, &m.wv, &m.wo, &m.ffn_gate, &m.ffn_up, &m.ffn_down}) {
                scratch = std::max(scratch, matmul_scratch_bytes(*t, capacity_));
            }
        }
        scratch = std::max(scratch, matmul_scratch_bytes(matmul_weights_.output(), capacity_));
        scratch_ = allocate(scratch);
    }

    ModelShape shape_;
    ModelWeights weights_;
    KvCacheSpec kv_;
    ThreadPool pool_;
    CpuWeights matmul_weights_;
    RopeTable rope_;
    std::vector<Buffer> k_cache_, v_cache_;
    std::vector<PagedKvLayer> layers_;

    std::int64_t capacity_ = 0;
    std::int32_t seq_capacity_ = 0;
    Floats x_, xb_, q_, k_, v_, attn_, gate_, up_, cos_sin_;
    Buffer scratch_, attn_buffer_, swap_;
    std::span<std::byte> attn_scratch_;
    std::vector<std::int32_t> logit_query_start_;  // (seq_capacity + 1): see keep_logit_rows_only
    std::vector<std::pair<std::int32_t, std::int32_t>> copy_pairs_;

    std::vector<LoraWeights> loras_;  // by slot
    std::int32_t lora_rank_ = 0;      // the largest rank of any adapter's pair
    // (capacity): each row's LoRA slot (-1 none), and the same for the compacted rows
    std::vector<std::int32_t> row_lora_, compact_lora_;
    std::vector<LoraRun> lora_runs_, compact_lora_runs_;  // reserved for capacity runs
    Floats lora_tmp_;                                     // lora_delta's scratch
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv,
                                          const CpuBackendOptions& options) {
    return std::make_unique<CpuBackend>(shape, weights, kv, options);
}

}  // namespace kvscope
