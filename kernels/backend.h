#pragma once
// The compute side of one engine step. A Backend owns the model's weights (or views of them)
// and the paged KV memory; the engine hands it a ForwardBatch built from the scheduler's
// decisions and receives logits. The CPU backend always exists; CUDA is chosen at run time
// when a device is present.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "kernels/block_copy.h"
#include "kernels/lora.h"
#include "kernels/model_weights.h"
#include "kernels/tensor_type.h"

namespace kvscope {

// Physical KV memory: num_blocks blocks of block_size token slots, for every layer,
// K and V each (num_blocks, block_size, num_kv_heads, head_dim) in `dtype` (F32, F16 or Q8_0).
// num_swap_blocks more blocks of the same size live in host memory, for preemption by swap
// (0: no swap space).
struct KvCacheSpec {
    std::int32_t num_blocks = 0;
    std::int32_t block_size = 16;
    TensorType dtype = TensorType::F32;
    std::int32_t num_swap_blocks = 0;
};

// Bytes one block takes over all layers, K and V.
std::size_t kv_block_bytes(const ModelShape& shape, const KvCacheSpec& spec);

// One step's work: a flat list of tokens from several sequences. Sequence s owns token rows
// [query_start[s], query_start[s+1]); they are its last query_len positions of a context of
// seq_lens[s] tokens, whose KV lives in the blocks of its block table row.
struct ForwardBatch {
    std::span<const std::int32_t> token_ids;     // (num_tokens)
    std::span<const std::int32_t> positions;     // (num_tokens)
    std::span<const std::int64_t> slot_mapping;  // (num_tokens): block_id * block_size + offset
    std::span<const std::int32_t> query_start;   // (num_seqs + 1)
    std::span<const std::int32_t> seq_lens;      // (num_seqs): context length after this step
    std::span<const std::int32_t> block_tables;  // (num_seqs, max_blocks_per_seq), unused = -1
    std::int32_t max_blocks_per_seq = 0;
    std::span<const std::int32_t> logits_rows;  // token rows whose logits are wanted, ascending
    std::span<const std::int32_t> seq_lora;     // (num_seqs): LoRA slot of each sequence, -1 none; empty: none

    std::int32_t num_tokens() const { return static_cast<std::int32_t>(token_ids.size()); }
    std::int32_t num_seqs() const { return static_cast<std::int32_t>(seq_lens.size()); }
};

class Backend {
public:
    virtual ~Backend() = default;

    virtual std::string name() const = 0;  // "cpu (avx2, 2 threads)", "cuda (NVIDIA H100)"
    virtual const ModelShape& shape() const = 0;
    virtual const KvCacheSpec& kv_spec() const = 0;

    // Runs the batch and writes logits (logits_rows.size(), vocab_size) row-major.
    virtual void forward(const ForwardBatch& batch, std::span<float> logits) = 0;
    // Copies whole KV blocks (all layers, K and V), src to dst, before a step writes to dst.
    virtual void copy_blocks(std::span<const BlockCopy> copies) = 0;

    // Preemption by swap: whole blocks between the KV memory and the swap space
    // (kv_spec().num_swap_blocks host blocks). swap_out copies KV block src -> swap block dst,
    // swap_in swap block src -> KV block dst. The engine calls them before copy_blocks and
    // forward of the same step. Backends without swap space must not be asked (KV_CHECK).
    virtual bool supports_swap() const { return false; }
    virtual void swap_out(std::span<const BlockCopy> copies);
    virtual void swap_in(std::span<const BlockCopy> copies);

    // LoRA adapters (kernels/lora.h): add_lora registers an adapter's pairs under the next slot
    // (0, 1, ... in call order), views the caller keeps alive as long as the backend; each
    // sequence of a batch picks one by ForwardBatch::seq_lora. Backends without LoRA support
    // must not be asked (KV_CHECK).
    // remove_lora releases slot `slot`'s adapter (device memory included); the slot is not given
    // out again, and no batch may pick it after.
    virtual bool supports_lora() const { return false; }
    virtual void add_lora(const LoraWeights& weights);
    virtual void remove_lora(std::int32_t slot);
};

struct CpuBackendOptions {
    int num_threads = 0;       // 0: all hardware threads
    bool pack_weights = true;  // repack Q4_0/Q8_0/Q4_K/Q5_K weights for the tiled kernels (kernels/packed_weight.h)
};

// Validates the spec against the shape (ConfigError-free: callers validate; KV_CHECK here).
std::unique_ptr<Backend> make_cpu_backend(const ModelShape& shape, const ModelWeights& weights, const KvCacheSpec& kv,
                                          const CpuBackendOptions& options);

}  // namespace kvscope
