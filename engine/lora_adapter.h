#pragma once
// A LoRA adapter loaded from GGUF, as llama.cpp's convert_lora_to_gguf writes it:
// general.type = "adapter", adapter.type = "lora", adapter.lora.alpha, general.architecture as
// the base model's, and for each adapted base tensor <name> the pair <name>.lora_a, GGUF shape
// [in, rank] (rows of A (rank, in)), and <name>.lora_b, GGUF shape [rank, out] (rows of
// B (out, rank)). The delta of <name> is scale · B·A with scale = alpha / rank.
//
// kvscope adapts the seven projections of each layer (attn_q/k/v/output, ffn_gate/up/down);
// an adapter of anything else (embeddings, output, norms) is refused, never half applied.
// Pairs are converted to f32 at load; the adapter is immutable afterwards.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf.h"
#include "kernels/lora.h"

namespace kvscope {

class Model;

class LoraAdapter {
public:
    // Throws FileError (unreadable or malformed file) or ModelError (not a LoRA adapter, or one
    // that does not fit `base`: architecture, tensor names, shapes), naming the file, the tensor
    // and what to do.
    static std::shared_ptr<const LoraAdapter> load(const std::string& path, const Model& base);
    static std::shared_ptr<const LoraAdapter> load(const GgufFile& file, const Model& base);

    LoraAdapter(const LoraAdapter&) = delete;
    LoraAdapter& operator=(const LoraAdapter&) = delete;

    const std::string& source() const { return source_; }  // the file's name
    float alpha() const { return alpha_; }
    std::int32_t rank() const { return rank_; }  // the largest rank of its pairs
    std::int32_t num_pairs() const { return num_pairs_; }
    // Views for the backends (valid as long as this adapter lives).
    const LoraWeights& weights() const { return weights_; }

private:
    LoraAdapter(const GgufFile& file, const Model& base);
    void add_pair(const GgufFile& file, const Model& base, const std::string& target);

    std::string source_;
    float alpha_ = 0.0f;
    std::int32_t rank_ = 0;
    std::int32_t num_pairs_ = 0;
    std::vector<std::vector<float>> data_;  // the pairs' A and B in f32
    LoraWeights weights_;
};

// The names kvscope's LoRA pairs adapt, per LoraTarget: "attn_q.weight", ..., "ffn_down.weight".
const char* lora_target_tensor(LoraTarget target);

}  // namespace kvscope
