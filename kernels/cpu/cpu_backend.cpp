// The CPU backend: a llama-style decoder forward pass over a batch of tokens from many
// sequences, with K/V in paged blocks, as llama2.c's run.c reads (one comment per step).

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/check.h"
#include "kernels/cpu_features.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/paged_attention.h"
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
    CpuBackend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv, int num_threads)
        : shape_(shape),
          weights_(weights),
          kv_(kv),
          pool_(num_threads),
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
        const AttentionBatch attn{batch.query_start, batch.seq_lens, batch.block_tables, batch.max_blocks_per_seq};

        // 1. token embeddings: x(n, dim)
        gather_rows(weights_.token_embedding, batch.token_ids, x_.data());
        // 2. rotary angles of this step's positions, shared by every layer
        rope_.rope_cos_sin(batch.positions, cos_sin_.data());

        for (int l = 0; l < shape_.num_layers; ++l) {
            const LayerWeights& w = weights_.layers[static_cast<std::size_t>(l)];
            // 3. attention: xb = rmsnorm(x); q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ (+ bias)
            rows(n, [&](std::int64_t b, std::int64_t e) {
                rms_norm(x_.data() + b * dim, w.attn_norm, xb_.data() + b * dim, e - b, dim, shape_.rms_eps);
            });
            matmul(pool_, w.wq, xb_.data(), n, q_.data(), scratch_.get());
            matmul(pool_, w.wk, xb_.data(), n, k_.data(), scratch_.get());
            matmul(pool_, w.wv, xb_.data(), n, v_.data(), scratch_.get());
            if (w.bq) add_bias(q_.data(), w.bq, n, q_dim);
            if (w.bk) add_bias(k_.data(), w.bk, n, kv_dim);
            if (w.bv) add_bias(v_.data(), w.bv, n, kv_dim);
            // 4. rotate q and k by position
            apply_rope(shape_.rope_style, q_.data(), n, shape_.num_heads, shape_.head_dim, shape_.rope_dim,
                       cos_sin_.data());
            apply_rope(shape_.rope_style, k_.data(), n, shape_.num_kv_heads, shape_.head_dim, shape_.rope_dim,
                       cos_sin_.data());
            // 5. k, v into their cache slots; attention over each sequence's blocks
            write_kv(layers_[static_cast<std::size_t>(l)], k_.data(), v_.data(), batch.slot_mapping);
            paged_attention(pool_, layers_[static_cast<std::size_t>(l)], q_.data(), attn_.data(), attn,
                            shape_.num_heads, attention_scale(), attn_scratch_);
            // 6. x += attn·Woᵀ
            matmul(pool_, w.wo, attn_.data(), n, xb_.data(), scratch_.get());
            add_inplace(x_.data(), xb_.data(), n * dim);
            // 7. feed-forward: x += (silu(xb·Wgᵀ) * xb·Wuᵀ)·Wdᵀ with xb = rmsnorm(x)
            rows(n, [&](std::int64_t b, std::int64_t e) {
                rms_norm(x_.data() + b * dim, w.ffn_norm, xb_.data() + b * dim, e - b, dim, shape_.rms_eps);
            });
            matmul(pool_, w.ffn_gate, xb_.data(), n, gate_.data(), scratch_.get());
            matmul(pool_, w.ffn_up, xb_.data(), n, up_.data(), scratch_.get());
            swiglu(gate_.data(), up_.data(), gate_.data(), n * ffn);
            matmul(pool_, w.ffn_down, gate_.data(), n, xb_.data(), scratch_.get());
            add_inplace(x_.data(), xb_.data(), n * dim);
        }

        // 8. logits of the rows that sample: rmsnorm, then ·Woutᵀ
        for (std::int64_t i = 0; i < num_logits; ++i) {
            const std::int32_t row = batch.logits_rows[static_cast<std::size_t>(i)];
            rms_norm(x_.data() + row * dim, weights_.output_norm, xb_.data() + i * dim, 1, dim, shape_.rms_eps);
        }
        matmul(pool_, weights_.output, xb_.data(), num_logits, logits.data(), scratch_.get());
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

    template <class Fn>
    void rows(std::int64_t n, Fn&& fn) {
        if (n * shape_.dim < (1 << 14))
            fn(0, n);
        else
            pool_.parallel_for(n, fn);
    }

    static void add_bias(float* y, const float* bias, std::int64_t n, std::int64_t width) {
        for (std::int64_t t = 0; t < n; ++t) add_inplace(y + t * width, bias, width);
    }

    // Grows the scratch for n tokens of num_seqs sequences (only when a larger batch than before comes).
    void reserve(std::int64_t n, std::int32_t num_seqs) {
        if (num_seqs > seq_capacity_) {
            seq_capacity_ = std::max(num_seqs, 2 * seq_capacity_);
            const std::size_t bytes =
                paged_attention_scratch_bytes(layers_.front(), shape_.num_heads, pool_.num_threads(), seq_capacity_);
            attn_buffer_ = allocate(bytes);
            attn_scratch_ = std::span<std::byte>(reinterpret_cast<std::byte*>(attn_buffer_.get()), bytes);
        }
        if (n <= capacity_) return;
        capacity_ = std::max<std::int64_t>(n, 2 * capacity_);
        const std::size_t c = static_cast<std::size_t>(capacity_);
        x_.assign(c * shape_.dim, 0.0f);
        xb_.assign(c * shape_.dim, 0.0f);
        q_.assign(c * shape_.q_dim(), 0.0f);
        k_.assign(c * shape_.kv_dim(), 0.0f);
        v_.assign(c * shape_.kv_dim(), 0.0f);
        attn_.assign(c * shape_.q_dim(), 0.0f);
        gate_.assign(c * shape_.ffn_dim, 0.0f);
        up_.assign(c * shape_.ffn_dim, 0.0f);
        cos_sin_.assign(c * static_cast<std::size_t>(shape_.rope_dim), 0.0f);
        std::size_t scratch = 0;
        for (const LayerWeights& w : weights_.layers) {
            for (const WeightTensor* t : {&w.wq, &w.wk, &w.wv, &w.wo, &w.ffn_gate, &w.ffn_up, &w.ffn_down}) {
                scratch = std::max(scratch, matmul_scratch_bytes(*t, capacity_));
            }
        }
        scratch = std::max(scratch, matmul_scratch_bytes(weights_.output, capacity_));
        scratch_ = allocate(scratch);
    }

    ModelShape shape_;
    ModelWeights weights_;
    KvCacheSpec kv_;
    ThreadPool pool_;
    RopeTable rope_;
    std::vector<Buffer> k_cache_, v_cache_;
    std::vector<PagedKvLayer> layers_;

    std::int64_t capacity_ = 0;
    std::int32_t seq_capacity_ = 0;
    std::vector<float> x_, xb_, q_, k_, v_, attn_, gate_, up_, cos_sin_;
    Buffer scratch_, attn_buffer_, swap_;
    std::span<std::byte> attn_scratch_;
    std::vector<std::pair<std::int32_t, std::int32_t>> copy_pairs_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv,
                                          const CpuBackendOptions& options) {
    return std::make_unique<CpuBackend>(shape, weights, kv, options.num_threads);
}

}  // namespace kvscope
