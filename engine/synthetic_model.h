#pragma once
// Synthetic models: GGUF files with random weights at any shape and tensor type, for benchmarks
// at real sizes (throughput does not depend on whether the weights were trained) and for tests.
// Written by `kvscope-cli make-model`; never committed.

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/tensor_type.h"

namespace kvscope {

struct SyntheticModelSpec {
    std::string architecture = "llama";  // "llama" or "qwen2" (qwen2 adds Q/K/V biases)
    std::string name = "synthetic";
    std::int32_t num_layers = 2;
    std::int32_t dim = 64;
    std::int32_t ffn_dim = 128;
    std::int32_t num_heads = 4;
    std::int32_t num_kv_heads = 2;
    std::int32_t vocab_size = 512;
    std::int32_t context_length = 2048;
    float rope_freq_base = 10000.0f;
    float rms_eps = 1e-5f;
    bool tied_embeddings = false;
    TensorType weight_type = TensorType::F32;  // 2-D weights; norms and biases stay F32
    // llama.cpp's "_M" mixture over a Q4_K or Q5_K weight_type (k_quant_medium_type in
    // engine/requantization.h).
    bool k_quant_medium = false;
    // "llama": SentencePiece pieces with byte fallback; "gpt2": byte-level BPE with merges, the
    // Qwen2 pre-tokenizer, ChatML special tokens and a ChatML chat template (as Qwen2 ships).
    std::string tokenizer = "llama";
    std::uint64_t seed = 1;

    // Throws ConfigError naming the bad field (sizes, divisibility by the type's block size).
    void validate() const;
};

// The type of one 2-D weight: `name` as in the file ("blk.3.ffn_down.weight"), `layer` its block
// index (-1 for token_embd and output), `cols` its row length. As llama.cpp's quantize does, a
// row that does not fill a K-quant's 256-element blocks (SmolLM's 576) takes a 32-element type
// instead: Q8_0 (llama.cpp takes Q5_0, Q5_1 or Q8_0; kvscope has Q8_0 of these).
TensorType synthetic_weight_type(const SyntheticModelSpec& spec, const std::string& name, int layer, std::int64_t cols);

// Parses a --type value of make-model: a tensor type name, or q4_k_m / q5_k_m (the mixtures
// above). Returns false for anything else.
bool parse_synthetic_weight_type(const std::string& text, SyntheticModelSpec& spec);

// Named shapes of real models: "llama-3.2-1b", "tinyllama-1.1b", "qwen2.5-0.5b", "smollm-135m", "tiny".
SyntheticModelSpec synthetic_preset(const std::string& name);
std::vector<std::string> synthetic_preset_names();

// Writes the model (metadata, a vocabulary of vocab_size tokens, random weights streamed tensor
// by tensor) to `path` atomically.
void write_synthetic_model(const SyntheticModelSpec& spec, const std::string& path);

}  // namespace kvscope
