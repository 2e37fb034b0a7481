// The CUDA backend: the forward pass of cpu_backend.cpp, step for step, on a device reached
// through DeviceOps (kernels/cuda/device_ops.h). Weights are uploaded once in their stored
// types; the KV cache and the step's activations live in device memory; each step uploads its
// inputs (two copies), runs, and downloads the logits rows (one copy). Decode steps whose
// batch fits a bucket are padded to it and replayed from a graph captured for that bucket.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/error.h"
#include "kernels/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_ops.h"

namespace kvscope {
namespace {

using cuda::DeviceOps;
using cuda::Launch;

constexpr int kGemvMaxTokens = 32;                        // more activation rows: dequantise + GEMM
constexpr std::int64_t kWeightScratchElems = 32ll << 20;  // f16 elements of dequantised weight rows
constexpr int kMaxSplits = 16;                            // split-K of decode attention
constexpr int kSplitMinKeys = 256;                        // keys per split at least
constexpr int kGraphBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};

struct DeviceWeight {
    TensorType type = TensorType::F32;
    std::int64_t rows = 0, cols = 0;
    std::size_t row_bytes = 0;
    const std::uint8_t* data = nullptr;
};

struct DeviceLayer {
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
    DeviceWeight wq, wk, wv, wo, gate, up, down;
    std::uint8_t* k_cache = nullptr;  // (num_blocks, block_size, num_kv_heads, head_dim) of the cache dtype
    std::uint8_t* v_cache = nullptr;
};

// A LoRA pair on the device: A (rank, in) as loaded, B (out, rank) with the scale folded in.
struct DeviceLoraPair {
    const float* a = nullptr;
    const float* b = nullptr;
    std::int64_t rank = 0, in = 0, out = 0;
};
using DeviceLoraLayer = std::array<DeviceLoraPair, kNumLoraTargets>;

bool is_quantised(TensorType t) {
    return t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16;
}

int gemv_width(int n) {  // the smallest compiled NT >= n
    return n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8;
}

// What one forward launch covers (graph replays: the padded shape).
struct StepShape {
    int tokens = 0, seqs = 0, logits = 0;
    int max_query_len = 0, qtiles = 0, splits = 1;
    const cuda::AttentionTiling* tiling = nullptr;
};

class CudaBackend final : public Backend {
public:
    CudaBackend(std::unique_ptr<DeviceOps> ops, const ModelShape& shape, const ModelWeights& weights,
                const KvCacheSpec& kv, const CudaBackendOptions& options)
        : ops_(std::move(ops)), shape_(shape), kv_(kv), options_(options) {
        check_model(weights);
        upload_weights(weights);
        table_width_ =
            options.max_model_len > 0 ? static_cast<int>(cuda::ceil_div(options.max_model_len, kv.block_size)) : 64;
        grow(std::max(options.max_num_tokens, options.max_num_seqs), options.max_num_seqs, options.max_num_seqs,
             table_width_);
        allocate_kv(options.kv_memory_fraction);
        if (kv_.num_swap_blocks > 0) allocate_swap();
    }

    ~CudaBackend() override {
        clear_graphs();
        free_workspace();
        for (void* p : owned_) ops_->release(p);
        if (swap_host_) ops_->release_host(swap_host_);
    }

    std::string name() const override { return "cuda (" + ops_->device_name() + ")"; }
    const ModelShape& shape() const override { return shape_; }
    const KvCacheSpec& kv_spec() const override { return kv_; }
    bool supports_swap() const override { return kv_.num_swap_blocks > 0; }

    bool supports_lora() const override { return true; }
    void add_lora(const LoraWeights& weights) override {
        KV_CHECK(weights.layers.size() == layers_.size());
        std::vector<DeviceLoraLayer>& adapter = loras_.emplace_back(layers_.size());
        std::vector<float> scaled;
        for (std::size_t l = 0; l < layers_.size(); ++l) {
            for (int t = 0; t < kNumLoraTargets; ++t) {
                const LoraPair& p = weights.layers[l][static_cast<std::size_t>(t)];
                if (!p.present()) continue;
                const std::size_t a_count = static_cast<std::size_t>(p.rank) * p.in;
                const std::size_t b_count = static_cast<std::size_t>(p.out) * p.rank;
                scaled.assign(p.b, p.b + b_count);
                for (float& v : scaled) v *= p.scale;
                auto* a = static_cast<float*>(alloc(a_count * sizeof(float)));
                auto* b = static_cast<float*>(alloc(b_count * sizeof(float)));
                ops_->upload(a, p.a, a_count * sizeof(float));
                ops_->upload(b, scaled.data(), b_count * sizeof(float));
                ops_->synchronize();
                adapter[l][static_cast<std::size_t>(t)] = DeviceLoraPair{a, b, p.rank, p.in, p.out};
            }
        }
        // Room for the delta's intermediates at the new rank.
        lora_rank_ = std::max(lora_rank_, weights.max_rank());
        clear_graphs();
        free_workspace();
        grow(tok_cap_, seq_cap_, logit_cap_, table_width_);
    }
    void remove_lora(std::int32_t slot) override {
        KV_CHECK(slot >= 0 && slot < static_cast<std::int32_t>(loras_.size()) &&
                 !removed_loras_.contains(slot));
        ops_->synchronize();  // no kernel in flight reads the pairs
        for (DeviceLoraLayer& layer : loras_[static_cast<std::size_t>(slot)]) {
            for (DeviceLoraPair& p : layer) {
                for (const float* m : {p.a, p.b}) {
                    if (m == nullptr) continue;
                    std::erase(owned_, static_cast<void*>(const_cast<float*>(m)));
                    ops_->release(const_cast<float*>(m));
                }
                p = DeviceLoraPair{};
            }
        }
        removed_loras_.insert(slot);
        clear_graphs();  // captured steps may hold the released pointers
    }

    void copy_blocks(std::span<const BlockCopy> copies) override {
        if (copies.empty()) return;
        for (const BlockCopy& c : copies) {
            KV_CHECK_MSG(c.src >= 0 && c.src < kv_.num_blocks && c.dst >= 0 && c.dst < kv_.num_blocks && c.src != c.dst,
                         "copy_blocks: block id outside the KV cache");
        }
        run_copies(copies, kv_bases_, kv_bases_, block_bytes_, block_bytes_);
    }

    void swap_out(std::span<const BlockCopy> copies) override {
        if (copies.empty()) return;
        check_swap(copies, /*kv_is_src=*/true);
        run_copies(copies, kv_bases_, swap_bases_, block_bytes_, swap_stride());
    }

    void swap_in(std::span<const BlockCopy> copies) override {
        if (copies.empty()) return;
        check_swap(copies, /*kv_is_src=*/false);
        run_copies(copies, swap_bases_, kv_bases_, swap_stride(), block_bytes_);
    }

    void forward(const ForwardBatch& batch, std::span<float> logits) override {
        const int n = batch.num_tokens(), num_seqs = batch.num_seqs();
        const int num_logits = static_cast<int>(batch.logits_rows.size());
        KV_CHECK(n > 0 && logits.size() == static_cast<std::size_t>(num_logits) * shape_.vocab_size);
        int max_query_len = 0, max_seq_len = 0;
        for (int s = 0; s < num_seqs; ++s) {
            max_query_len = std::max(max_query_len, batch.query_start[s + 1] - batch.query_start[s]);
            max_seq_len = std::max(max_seq_len, batch.seq_lens[s]);
        }
        // 1. the launch shape: a decode step is padded to its graph bucket
        const bool decode = max_query_len == 1 && n == num_seqs;
        // Steps with LoRA run without graphs: their launches depend on which rows use which adapter.
        const int bucket = decode && use_graphs() && batch.seq_lora.empty() ? graph_bucket(num_seqs) : 0;
        StepShape step;
        step.tokens = bucket ? bucket : n;
        step.seqs = bucket ? bucket : num_seqs;
        step.logits = bucket ? bucket : num_logits;
        step.max_query_len = max_query_len;
        step.tiling = decode ? &decode_tiling_ : &prefill_tiling_;
        step.qtiles = static_cast<int>(cuda::ceil_div(std::max(max_query_len, 1), step.tiling->query_tile));
        step.splits = decode ? choose_splits(num_seqs, max_seq_len) : 1;
        grow(step.tokens, step.seqs, step.logits, batch.max_blocks_per_seq);
        lora_rows(batch);

        // 2. inputs: one copy of the small arrays, one of the block tables
        stage_inputs(batch, step);
        ops_->upload(in_dev_, in_host_, in_bytes_);
        if (num_seqs > 0 && batch.max_blocks_per_seq > 0) {
            const std::size_t row = static_cast<std::size_t>(batch.max_blocks_per_seq) * 4;
            ops_->upload_2d(tables_, static_cast<std::size_t>(table_width_) * 4, batch.block_tables.data(), row, row,
                            static_cast<std::size_t>(num_seqs));
        }

        // 3. compute: replay a graph, capture one (the second time a shape comes), or run
        if (bucket) {
            GraphState& g = graphs_[std::int64_t{bucket} * 64 + step.splits];
            if (g.handle == 0 && g.seen) {
                ops_->begin_capture();
                run(step);
                g.handle = ops_->end_capture();
            }
            if (g.handle != 0) {
                ops_->launch_graph(g.handle);
            } else {
                run(step);
            }
            g.seen = true;
        } else {
            run(step);
        }

        // 4. the logits rows back (waits for the step)
        if (num_logits > 0) ops_->download(logits.data(), logits_dev_, logits.size() * sizeof(float));
        ops_->synchronize();
    }

private:
    struct GraphState {
        cuda::GraphHandle handle = 0;
        bool seen = false;
    };

    bool use_graphs() const { return options_.use_graphs; }

    int graph_bucket(int num_seqs) const {
        for (int b : kGraphBuckets) {
            if (b >= num_seqs) return b;
        }
        return 0;
    }

    int choose_splits(int num_seqs, int max_seq_len) const {
        const int blocks = num_seqs * shape_.num_kv_heads;
        int splits = 1;
        while (splits * 2 <= kMaxSplits && blocks * splits * 2 <= 4 * ops_->num_sms() &&
               max_seq_len / (splits * 2) >= kSplitMinKeys) {
            splits *= 2;
        }
        return splits;
    }

    // ---- construction ----

    void check_model(const ModelWeights& weights) {
        auto check_type = [](const WeightTensor& w, const char* what) {
            const TensorType t = w.type;
            const bool ok = t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16 ||
                            t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q5_0 ||
                            t == TensorType::Q5_1 || t == TensorType::Q8_0 || t == TensorType::Q4_K ||
                            t == TensorType::Q5_K || t == TensorType::Q6_K;
            if (!ok) {
                throw ConfigError(std::string("the CUDA backend has no kernel for ") + what + " weights of type " +
                                  std::string(type_name(t)) + "; use --backend cpu");
            }
        };
        check_type(weights.token_embedding, "embedding");
        check_type(weights.output, "output");
        for (const LayerWeights& l : weights.layers) {
            for (const WeightTensor* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
                check_type(*w, "layer");
            }
        }
        KV_CHECK(shape_.num_heads % shape_.num_kv_heads == 0);
        const int group = shape_.num_heads / shape_.num_kv_heads;
        decode_tiling_ = cuda::choose_attention_tiling(group, shape_.head_dim, true, ops_->max_shared_bytes());
        prefill_tiling_ = cuda::choose_attention_tiling(group, shape_.head_dim, false, ops_->max_shared_bytes());
        if (decode_tiling_.query_tile == 0 || prefill_tiling_.query_tile == 0) {
            throw ConfigError("the CUDA attention kernel cannot hold " + std::to_string(group) +
                              " query heads of size " + std::to_string(shape_.head_dim) +
                              " per KV head in shared memory; use --backend cpu");
        }
    }

    void* alloc(std::size_t bytes) {
        void* p = ops_->alloc(bytes);
        owned_.push_back(p);
        return p;
    }

    // Uploads host memory once per address (a tied output shares the embedding's upload).
    const std::uint8_t* upload_once(const void* host, std::size_t bytes) {
        if (host == nullptr) return nullptr;
        auto it = uploaded_.find(host);
        if (it != uploaded_.end()) return it->second;
        void* dev = alloc(bytes);
        ops_->upload(dev, host, bytes);
        ops_->synchronize();
        return uploaded_[host] = static_cast<const std::uint8_t*>(dev);
    }

    DeviceWeight upload(const WeightTensor& w) {
        DeviceWeight d{w.type, w.rows, w.cols, row_bytes(w.type, w.cols), nullptr};
        d.data = upload_once(w.data, d.row_bytes * static_cast<std::size_t>(w.rows));
        if (is_quantised(w.type)) max_quant_elems_ = std::max(max_quant_elems_, w.rows * w.cols);
        max_cols_ = std::max(max_cols_, w.cols);
        return d;
    }

    const float* upload_vector(const float* v, std::int64_t n) {
        return reinterpret_cast<const float*>(upload_once(v, static_cast<std::size_t>(n) * 4));
    }

    void upload_weights(const ModelWeights& w) {
        embedding_ = upload(w.token_embedding);
        output_ = upload(w.output);
        output_norm_ = upload_vector(w.output_norm, shape_.dim);
        for (const LayerWeights& l : w.layers) {
            DeviceLayer d;
            d.attn_norm = upload_vector(l.attn_norm, shape_.dim);
            d.ffn_norm = upload_vector(l.ffn_norm, shape_.dim);
            d.bq = upload_vector(l.bq, shape_.q_dim());
            d.bk = upload_vector(l.bk, shape_.kv_dim());
            d.bv = upload_vector(l.bv, shape_.kv_dim());
            d.wq = upload(l.wq), d.wk = upload(l.wk), d.wv = upload(l.wv), d.wo = upload(l.wo);
            d.gate = upload(l.ffn_gate), d.up = upload(l.ffn_up), d.down = upload(l.ffn_down);
            layers_.push_back(d);
        }
        // Rotary inverse frequencies, formed as RopeTable forms them (linear scaling folded in).
        const int half = shape_.rope_dim / 2;
        std::vector<double> inv_freq(static_cast<std::size_t>(half));
        for (int i = 0; i < half; ++i) {
            double factor = 1.0;
            if (w.rope_freq_factors != nullptr || shape_.rope_freq_scale != 1.0f) {
                factor = (w.rope_freq_factors ? w.rope_freq_factors[i] : 1.0f) / shape_.rope_freq_scale;
            }
            inv_freq[static_cast<std::size_t>(i)] =
                std::pow(static_cast<double>(shape_.rope_freq_base), -2.0 * i / shape_.rope_dim) / factor;
        }
        inv_freq_ = static_cast<double*>(alloc(inv_freq.size() * sizeof(double)));
        ops_->upload(inv_freq_, inv_freq.data(), inv_freq.size() * sizeof(double));
        ops_->synchronize();
        // The f16 scratch for dequantised weight rows: whole matrices up to kWeightScratchElems.
        weight_scratch_elems_ = std::min(max_quant_elems_, std::max<std::int64_t>(kWeightScratchElems, max_cols_));
        if (weight_scratch_elems_ > 0) {
            weight_scratch_ = static_cast<std::uint16_t*>(alloc(static_cast<std::size_t>(weight_scratch_elems_) * 2));
        }
    }

    void allocate_kv(double fraction) {
        row_bytes_ = kvscope::row_bytes(kv_.dtype, shape_.kv_dim());
        block_bytes_ = row_bytes_ * static_cast<std::size_t>(kv_.block_size);
        KV_CHECK(block_bytes_ % 16 == 0);
        if (fraction > 0.0) {
            const double budget = static_cast<double>(ops_->free_memory()) * fraction;
            const double per_block = 2.0 * shape_.num_layers * static_cast<double>(block_bytes_);
            const double blocks = std::floor(budget / per_block);
            if (blocks < 1.0) {
                throw ConfigError("the GPU has " + std::to_string(ops_->free_memory() >> 20) +
                                  " MiB free after the weights: no KV block fits; lower the model size or use "
                                  "--backend cpu");
            }
            double cap = double(1 << 24);
            if (options_.max_kv_blocks > 0) cap = std::min(cap, double(options_.max_kv_blocks));
            kv_.num_blocks = static_cast<std::int32_t>(std::min(blocks, cap));
        }
        KV_CHECK(kv_.num_blocks > 0);
        std::vector<std::uint8_t*> bases;
        for (DeviceLayer& l : layers_) {
            const std::size_t bytes = block_bytes_ * static_cast<std::size_t>(kv_.num_blocks);
            l.k_cache = static_cast<std::uint8_t*>(alloc(bytes));
            l.v_cache = static_cast<std::uint8_t*>(alloc(bytes));
            bases.push_back(l.k_cache);
            bases.push_back(l.v_cache);
        }
        kv_bases_ = upload_pointers(bases);
    }

    std::size_t swap_stride() const { return 2 * layers_.size() * block_bytes_; }

    // Swap block b: every layer's K block then V block, in pinned host memory the device maps.
    void allocate_swap() {
        swap_host_ = ops_->alloc_host(static_cast<std::size_t>(kv_.num_swap_blocks) * swap_stride());
        auto* dev = static_cast<std::uint8_t*>(ops_->host_device_pointer(swap_host_));
        std::vector<std::uint8_t*> bases;
        for (std::size_t b = 0; b < 2 * layers_.size(); ++b) bases.push_back(dev + b * block_bytes_);
        swap_bases_ = upload_pointers(bases);
    }

    std::uint8_t** upload_pointers(const std::vector<std::uint8_t*>& pointers) {
        auto** dev = static_cast<std::uint8_t**>(alloc(pointers.size() * sizeof(std::uint8_t*)));
        ops_->upload(dev, pointers.data(), pointers.size() * sizeof(std::uint8_t*));
        ops_->synchronize();
        return dev;
    }

    // ---- the step workspace ----

    // Grows the activation buffers, inputs and tables to hold a step of this size (reallocating
    // drops the graphs, which point into the old buffers).
    void grow(int tokens, int seqs, int logits, int table_width) {
        if (tokens <= tok_cap_ && seqs <= seq_cap_ && logits <= logit_cap_ && table_width <= table_width_ &&
            x_ != nullptr) {
            return;
        }
        clear_graphs();
        free_workspace();
        auto grown = [](int need, int have) { return need <= have ? have : std::max(need, 2 * have); };
        logit_cap_ = grown(logits, logit_cap_);
        tok_cap_ = grown(std::max(tokens, logit_cap_), tok_cap_);
        seq_cap_ = grown(seqs, seq_cap_);
        table_width_ = grown(table_width, table_width_);
        const auto t = static_cast<std::size_t>(tok_cap_);
        auto floats = [&](std::size_t count) { return static_cast<float*>(ws(count * 4)); };
        x_ = floats(t * shape_.dim);
        xb_ = floats(t * shape_.dim);
        q_ = floats(t * shape_.q_dim());
        attn_ = floats(t * shape_.q_dim());
        k_ = floats(t * shape_.kv_dim());
        v_ = floats(t * shape_.kv_dim());
        gate_ = floats(t * shape_.ffn_dim);
        up_ = floats(t * shape_.ffn_dim);
        cos_sin_ = floats(t * shape_.rope_dim);
        xl_ = floats(static_cast<std::size_t>(logit_cap_) * shape_.dim);
        logits_dev_ = floats(static_cast<std::size_t>(logit_cap_) * shape_.vocab_size);
        act16_ = static_cast<std::uint16_t*>(ws(t * static_cast<std::size_t>(max_cols_) * 2));
        partial_acc_ = floats(static_cast<std::size_t>(kMaxSplits) * t * shape_.q_dim());
        partial_ml_ = floats(static_cast<std::size_t>(kMaxSplits) * t * shape_.num_heads * 2);
        tables_ = static_cast<std::int32_t*>(ws(static_cast<std::size_t>(seq_cap_) * table_width_ * 4));
        row_lora_.assign(t, -1);
        lora_runs_.reserve(t);
        if (lora_rank_ > 0) {
            const std::size_t widest = static_cast<std::size_t>(std::max({shape_.q_dim(), shape_.dim, shape_.ffn_dim}));
            lora_xa_ = floats(t * static_cast<std::size_t>(lora_rank_));
            lora_delta_ = floats(t * widest);
        }
        // inputs, in this order: token ids, positions, slots, query starts, seq lens, logits rows
        in_offsets_[0] = 0;
        in_offsets_[1] = in_offsets_[0] + t * 4;
        in_offsets_[2] = (in_offsets_[1] + t * 4 + 7) / 8 * 8;
        in_offsets_[3] = in_offsets_[2] + t * 8;
        in_offsets_[4] = in_offsets_[3] + static_cast<std::size_t>(seq_cap_ + 1) * 4;
        in_offsets_[5] = in_offsets_[4] + static_cast<std::size_t>(seq_cap_) * 4;
        in_bytes_ = in_offsets_[5] + static_cast<std::size_t>(logit_cap_) * 4;
        in_dev_ = static_cast<std::uint8_t*>(ws(in_bytes_));
        in_host_ = static_cast<std::uint8_t*>(ops_->alloc_host(in_bytes_));
    }

    void* ws(std::size_t bytes) {
        void* p = ops_->alloc(std::max<std::size_t>(bytes, 16));
        workspace_.push_back(p);
        return p;
    }

    void free_workspace() {
        ops_->synchronize();
        for (void* p : workspace_) ops_->release(p);
        workspace_.clear();
        if (in_host_) ops_->release_host(in_host_);
        in_host_ = nullptr;
        x_ = nullptr;
    }

    void clear_graphs() {
        for (auto& [key, g] : graphs_) {
            if (g.handle) ops_->destroy_graph(g.handle);
        }
        graphs_.clear();
    }

    template <class T>
    T* input(int which, std::uint8_t* base) const {
        return reinterpret_cast<T*>(base + in_offsets_[which]);
    }

    // The step's small inputs into the pinned staging area, padded to the launch shape: padding
    // tokens are token 0 at position 0 written nowhere; padding sequences have no query.
    void stage_inputs(const ForwardBatch& b, const StepShape& step) {
        const int n = b.num_tokens(), num_seqs = b.num_seqs(), num_logits = static_cast<int>(b.logits_rows.size());
        auto* ids = input<std::int32_t>(0, in_host_);
        auto* pos = input<std::int32_t>(1, in_host_);
        auto* slots = input<std::int64_t>(2, in_host_);
        auto* qstart = input<std::int32_t>(3, in_host_);
        auto* lens = input<std::int32_t>(4, in_host_);
        auto* rows = input<std::int32_t>(5, in_host_);
        for (int i = 0; i < step.tokens; ++i) {
            ids[i] = i < n ? b.token_ids[i] : 0;
            pos[i] = i < n ? b.positions[i] : 0;
            slots[i] = i < n ? b.slot_mapping[i] : -1;
        }
        for (int s = 0; s <= step.seqs; ++s) qstart[s] = s <= num_seqs ? b.query_start[s] : n;
        for (int s = 0; s < step.seqs; ++s) lens[s] = s < num_seqs ? b.seq_lens[s] : 0;
        for (int r = 0; r < step.logits; ++r) rows[r] = r < num_logits ? b.logits_rows[r] : 0;
    }

    // ---- the forward pass ----

    void run(const StepShape& st) {
        const std::int64_t n = st.tokens, dim = shape_.dim, q_dim = shape_.q_dim(), kv_dim = shape_.kv_dim();
        const std::int64_t ffn = shape_.ffn_dim;
        const auto* ids = input<std::int32_t>(0, in_dev_);
        const auto* positions = input<std::int32_t>(1, in_dev_);
        const auto* slots = input<std::int64_t>(2, in_dev_);
        const auto* logits_rows = input<std::int32_t>(5, in_dev_);
        const Launch per_token{st.tokens};

        // 1. rotary angles of the step's positions; token embeddings x(n, dim)
        ops_->rope_cos_sin({positions, inv_freq_, shape_.rope_dim / 2, cos_sin_}, per_token);
        ops_->gather({embedding_.type, embedding_.data, embedding_.row_bytes, dim, ids, x_}, per_token);

        for (std::size_t l = 0; l < layers_.size(); ++l) {
            const DeviceLayer& w = layers_[l];
            // 2. attention: xb = rmsnorm(x); q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ (+ bias)
            rms_norm(x_, w.attn_norm, xb_, nullptr, st.tokens);
            matmul(w.wq, xb_, n, q_);
            matmul(w.wk, xb_, n, k_);
            matmul(w.wv, xb_, n, v_);
            lora(l, LoraTarget::Q, xb_, q_);
            lora(l, LoraTarget::K, xb_, k_);
            lora(l, LoraTarget::V, xb_, v_);
            if (w.bq) elementwise(cuda::ElemOp::AddBias, w.bq, nullptr, q_, n * q_dim, q_dim);
            if (w.bk) elementwise(cuda::ElemOp::AddBias, w.bk, nullptr, k_, n * kv_dim, kv_dim);
            if (w.bv) elementwise(cuda::ElemOp::AddBias, w.bv, nullptr, v_, n * kv_dim, kv_dim);
            // 3. rotate q and k; k, v into their slots; attention over each sequence's blocks
            ops_->rope({shape_.rope_style == RopeStyle::Neox, q_, k_, shape_.num_heads, shape_.num_kv_heads,
                        shape_.head_dim, shape_.rope_dim, cos_sin_},
                       per_token);
            ops_->write_kv({kv_.dtype, w.k_cache, w.v_cache, row_bytes_, kv_dim, k_, v_, slots}, per_token);
            attention(w, st);
            // 4. x += attn·Woᵀ
            matmul(w.wo, attn_, n, xb_);
            lora(l, LoraTarget::O, attn_, xb_);
            elementwise(cuda::ElemOp::Add, xb_, nullptr, x_, n * dim, 0);
            // 5. feed-forward: x += (silu(xb·Wgᵀ) * xb·Wuᵀ)·Wdᵀ with xb = rmsnorm(x)
            rms_norm(x_, w.ffn_norm, xb_, nullptr, st.tokens);
            matmul(w.gate, xb_, n, gate_);
            matmul(w.up, xb_, n, up_);
            lora(l, LoraTarget::Gate, xb_, gate_);
            lora(l, LoraTarget::Up, xb_, up_);
            elementwise(cuda::ElemOp::Swiglu, gate_, up_, gate_, n * ffn, 0);
            matmul(w.down, gate_, n, xb_);
            lora(l, LoraTarget::Down, gate_, xb_);
            elementwise(cuda::ElemOp::Add, xb_, nullptr, x_, n * dim, 0);
        }
        // 6. logits of the rows that sample: rmsnorm of those rows, then ·Woutᵀ
        if (st.logits == 0) return;
        rms_norm(x_, output_norm_, xl_, logits_rows, st.logits);
        matmul(output_, xl_, st.logits, logits_dev_);
    }

    // Each token row's LoRA slot and the runs of rows sharing one (none without adapters).
    void lora_rows(const ForwardBatch& batch) {
        lora_runs_.clear();
        if (batch.seq_lora.empty()) return;
        KV_CHECK(batch.seq_lora.size() == batch.seq_lens.size());
        for (int s = 0; s < batch.num_seqs(); ++s) {
            const std::int32_t slot = batch.seq_lora[static_cast<std::size_t>(s)];
            KV_CHECK_MSG(slot < static_cast<std::int32_t>(loras_.size()) && !removed_loras_.contains(slot),
                         "LoRA slot not registered, or removed");
            std::fill(row_lora_.begin() + batch.query_start[s], row_lora_.begin() + batch.query_start[s + 1], slot);
        }
        lora_runs(std::span(row_lora_.data(), static_cast<std::size_t>(batch.num_tokens())), lora_runs_);
    }

    // y += scale · (x·Aᵀ)·Bᵀ over each run's rows: two GEMMs into scratch, then an add.
    void lora(std::size_t l, LoraTarget target, const float* x, float* y) {
        for (const LoraRun& run : lora_runs_) {
            const DeviceLoraPair& p = loras_[static_cast<std::size_t>(run.slot)][l][static_cast<std::size_t>(target)];
            if (p.a == nullptr) continue;
            const std::int64_t rows = run.end - run.begin;
            ops_->gemm(TensorType::F32, p.a, p.rank, p.in, x + run.begin * p.in, rows, lora_xa_, p.rank);
            ops_->gemm(TensorType::F32, p.b, p.out, p.rank, lora_xa_, rows, lora_delta_, p.out);
            elementwise(cuda::ElemOp::Add, lora_delta_, nullptr, y + run.begin * p.out, rows * p.out, 0);
        }
    }

    void rms_norm(const float* x, const float* weight, float* y, const std::int32_t* rows, int num_rows) {
        ops_->rms_norm({x, weight, y, rows, shape_.dim, shape_.rms_eps},
                       Launch{num_rows, 1, 1, cuda::kRmsNormSharedFloats * 4});
    }

    void elementwise(cuda::ElemOp op, const float* a, const float* b, float* y, std::int64_t count, std::int64_t width,
                     std::uint16_t* h = nullptr) {
        ops_->elementwise({op, a, b, y, h, count, width},
                          Launch{static_cast<int>(cuda::ceil_div(count, cuda::kElemThreads))});
    }

    void attention(const DeviceLayer& w, const StepShape& st) {
        const cuda::AttentionTiling& tiling = *st.tiling;
        const cuda::AttentionParams p{q_,
                                      attn_,
                                      w.k_cache,
                                      w.v_cache,
                                      kv_.dtype,
                                      row_bytes_,
                                      input<std::int32_t>(3, in_dev_),
                                      input<std::int32_t>(4, in_dev_),
                                      tables_,
                                      table_width_,
                                      kv_.block_size,
                                      shape_.num_heads,
                                      shape_.num_kv_heads,
                                      shape_.head_dim,
                                      st.tokens,
                                      1.0f / std::sqrt(static_cast<float>(shape_.head_dim)),
                                      tiling.query_tile,
                                      tiling.key_tile,
                                      st.qtiles,
                                      st.splits,
                                      partial_acc_,
                                      partial_ml_};
        ops_->attention(p, Launch{st.seqs * st.qtiles, shape_.num_kv_heads, st.splits, tiling.shared_bytes});
        if (st.splits > 1) {
            ops_->attention_reduce(
                {partial_acc_, partial_ml_, attn_, st.splits, st.tokens, shape_.num_heads, shape_.head_dim},
                Launch{st.tokens * shape_.num_heads});
        }
    }

    // y(n, w.rows) = x(n, w.cols) · wᵀ: cuBLAS for plain float weights; for quantised ones the
    // GEMV over the stored blocks (few rows), or dequantisation to f16 + GEMM (many rows).
    void matmul(const DeviceWeight& w, const float* x, std::int64_t n, float* y) {
        if (w.type == TensorType::F32) {
            ops_->gemm(TensorType::F32, w.data, w.rows, w.cols, x, n, y, w.rows);
            return;
        }
        if (!is_quantised(w.type)) {
            const auto op = w.type == TensorType::F16 ? cuda::ElemOp::ToHalf : cuda::ElemOp::ToBf16;
            elementwise(op, x, nullptr, nullptr, n * w.cols, 0, act16_);
            ops_->gemm(w.type, w.data, w.rows, w.cols, act16_, n, y, w.rows);
            return;
        }
        if (n <= kGemvMaxTokens) {
            for (std::int64_t t0 = 0; t0 < n; t0 += 8) {
                const int chunk = static_cast<int>(std::min<std::int64_t>(8, n - t0));
                const int nt = gemv_width(chunk);
                ops_->gemv(w.type, nt, {w.data, w.row_bytes, w.rows, w.cols, x + t0 * w.cols, y + t0 * w.rows, chunk},
                           Launch{static_cast<int>(cuda::ceil_div(w.rows, cuda::kGemvRowsPerBlock)), 1, 1,
                                  static_cast<std::size_t>(nt) * cuda::kGemvThreads * 4});
            }
            return;
        }
        elementwise(cuda::ElemOp::ToHalf, x, nullptr, nullptr, n * w.cols, 0, act16_);
        const std::int64_t chunk_rows = std::max<std::int64_t>(1, weight_scratch_elems_ / w.cols);
        for (std::int64_t r0 = 0; r0 < w.rows; r0 += chunk_rows) {
            const std::int64_t rc = std::min(chunk_rows, w.rows - r0);
            ops_->dequant_f16(w.type, {w.data + r0 * w.row_bytes, w.row_bytes, rc, w.cols, weight_scratch_},
                              Launch{static_cast<int>(cuda::ceil_div(rc * w.cols / 8, cuda::kDequantThreads))});
            ops_->gemm(TensorType::F16, weight_scratch_, rc, w.cols, act16_, n, y + r0, w.rows);
        }
    }

    // ---- block copies ----

    void check_swap(std::span<const BlockCopy> copies, bool kv_is_src) const {
        for (const BlockCopy& c : copies) {
            const std::int32_t kv = kv_is_src ? c.src : c.dst, swap = kv_is_src ? c.dst : c.src;
            KV_CHECK_MSG(kv >= 0 && kv < kv_.num_blocks, "swap: KV block id outside the cache");
            KV_CHECK_MSG(swap >= 0 && swap < kv_.num_swap_blocks, "swap: block id outside the swap space");
        }
    }

    // The copies in one launch, or one launch each when a later copy reads an earlier one's
    // destination (the order then matters).
    void run_copies(std::span<const BlockCopy> copies, std::uint8_t** src_bases, std::uint8_t** dst_bases,
                    std::size_t src_stride, std::size_t dst_stride) {
        bool chained = false;
        for (std::size_t i = 0; i < copies.size() && !chained; ++i) {
            for (std::size_t j = i + 1; j < copies.size(); ++j) chained = chained || copies[j].src == copies[i].dst;
        }
        pairs_host_.clear();
        for (const BlockCopy& c : copies) {
            pairs_host_.push_back(c.src);
            pairs_host_.push_back(c.dst);
        }
        if (pairs_host_.size() > pairs_cap_) {
            if (pairs_dev_) ops_->release(pairs_dev_);
            pairs_cap_ = std::max(pairs_host_.size(), 2 * pairs_cap_);
            pairs_dev_ = static_cast<std::int32_t*>(ops_->alloc(pairs_cap_ * 4));
        }
        ops_->upload(pairs_dev_, pairs_host_.data(), pairs_host_.size() * 4);  // pageable: copied before return
        const auto num_buffers = static_cast<int>(2 * layers_.size());
        const int num = static_cast<int>(copies.size());
        for (int first = 0; first < num; first += chained ? 1 : num) {
            const cuda::CopyBlocksParams p{
                pairs_dev_ + 2 * first, src_bases, dst_bases, src_stride, dst_stride, block_bytes_};
            ops_->copy_blocks(p, Launch{chained ? 1 : num, num_buffers});
        }
        ops_->synchronize();
    }

    std::unique_ptr<DeviceOps> ops_;
    ModelShape shape_;
    KvCacheSpec kv_;
    CudaBackendOptions options_;

    // weights (device)
    std::map<const void*, const std::uint8_t*> uploaded_;
    std::vector<void*> owned_;
    DeviceWeight embedding_, output_;
    const float* output_norm_ = nullptr;
    std::vector<DeviceLayer> layers_;
    double* inv_freq_ = nullptr;
    std::int64_t max_quant_elems_ = 0, max_cols_ = 1, weight_scratch_elems_ = 0;
    std::uint16_t* weight_scratch_ = nullptr;
    cuda::AttentionTiling decode_tiling_, prefill_tiling_;

    // KV cache and swap space
    std::size_t row_bytes_ = 0, block_bytes_ = 0;
    std::uint8_t** kv_bases_ = nullptr;    // (2 * num_layers): K, V of layer 0, K, V of layer 1, ...
    std::uint8_t** swap_bases_ = nullptr;  // the same parts of swap block 0, in mapped host memory
    void* swap_host_ = nullptr;
    std::vector<std::int32_t> pairs_host_;
    std::int32_t* pairs_dev_ = nullptr;
    std::size_t pairs_cap_ = 0;

    // step workspace (device), sized for tok_cap_ tokens, seq_cap_ sequences, logit_cap_ rows
    int tok_cap_ = 0, seq_cap_ = 0, logit_cap_ = 0, table_width_ = 0;
    std::vector<void*> workspace_;
    float *x_ = nullptr, *xb_ = nullptr, *q_ = nullptr, *attn_ = nullptr, *k_ = nullptr, *v_ = nullptr;
    float *gate_ = nullptr, *up_ = nullptr, *cos_sin_ = nullptr, *xl_ = nullptr, *logits_dev_ = nullptr;
    float *partial_acc_ = nullptr, *partial_ml_ = nullptr;
    std::uint16_t* act16_ = nullptr;
    std::int32_t* tables_ = nullptr;  // (seq_cap_, table_width_)
    std::uint8_t *in_dev_ = nullptr, *in_host_ = nullptr;
    std::size_t in_offsets_[6] = {}, in_bytes_ = 0;

    std::map<std::int64_t, GraphState> graphs_;  // by bucket * 64 + splits

    std::vector<std::vector<DeviceLoraLayer>> loras_;  // by slot, then layer
    std::unordered_set<std::int32_t> removed_loras_;    // slots whose pairs were released
    std::int32_t lora_rank_ = 0;                       // the largest rank of any pair
    float *lora_xa_ = nullptr, *lora_delta_ = nullptr;  // (tok_cap, lora_rank), (tok_cap, widest output)
    std::vector<std::int32_t> row_lora_;                // (tok_cap): each row's slot, -1 none
    std::vector<LoraRun> lora_runs_;                    // reserved for tok_cap runs
};

CudaBackendOptions with_env(CudaBackendOptions options) {
    if (const char* g = std::getenv("KVSCOPE_CUDA_GRAPHS"); g != nullptr && std::string(g) == "0") {
        options.use_graphs = false;
    }
    return options;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv,
                                           const CudaBackendOptions& options) {
    if (!cuda_device_info().available) throw ConfigError(cuda_device_info().reason + "; use --backend cpu");
    return std::make_unique<CudaBackend>(cuda::make_cuda_device_ops(), shape, weights, kv, with_env(options));
}

std::unique_ptr<Backend> make_emulated_cuda_backend(const ModelShape& shape, const ModelWeights& weights,
                                                    const KvCacheSpec& kv, const CudaBackendOptions& options) {
    return std::make_unique<CudaBackend>(cuda::make_host_device_ops(), shape, weights, kv, options);
}

}  // namespace kvscope
