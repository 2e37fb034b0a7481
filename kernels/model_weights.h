#pragma once
// What a backend needs to run a decoder-only transformer: its shape and views of its weights.
// The views point into memory the engine's Model owns (the mapped GGUF file, or buffers made
// at load time); a backend may copy them (the CUDA backend uploads them).

#include <cstdint>
#include <vector>

#include "kernels/rope.h"
#include "kernels/tensor_type.h"

namespace kvscope {

struct ModelShape {
    std::int32_t num_layers = 0;
    std::int32_t dim = 0;      // embedding length
    std::int32_t ffn_dim = 0;  // feed-forward length
    std::int32_t num_heads = 0;
    std::int32_t num_kv_heads = 0;
    std::int32_t head_dim = 0;
    std::int32_t vocab_size = 0;
    std::int32_t rope_dim = 0;  // leading dims of each head that rotate (<= head_dim, even)
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // linear rope scaling: positions are multiplied by this
    RopeStyle rope_style = RopeStyle::Normal;
    float rms_eps = 1e-5f;
    std::int32_t max_context = 0;  // trained context length from metadata

    std::int32_t q_dim() const { return num_heads * head_dim; }
    std::int32_t kv_dim() const { return num_kv_heads * head_dim; }
};

// A 2-D weight: `rows` rows of `cols` elements of `type`, rows contiguous (GGUF shape [cols, rows]).
struct WeightTensor {
    TensorType type = TensorType::F32;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    const void* data = nullptr;
};

struct LayerWeights {
    const float* attn_norm = nullptr;  // (dim)
    WeightTensor wq;                   // (q_dim, dim)
    WeightTensor wk;                   // (kv_dim, dim)
    WeightTensor wv;                   // (kv_dim, dim)
    const float* bq = nullptr;         // (q_dim) or null
    const float* bk = nullptr;         // (kv_dim) or null
    const float* bv = nullptr;         // (kv_dim) or null
    WeightTensor wo;                   // (dim, q_dim)
    const float* ffn_norm = nullptr;   // (dim)
    WeightTensor ffn_gate;             // (ffn_dim, dim)
    WeightTensor ffn_up;               // (ffn_dim, dim)
    WeightTensor ffn_down;             // (dim, ffn_dim)
};

struct ModelWeights {
    WeightTensor token_embedding;              // (vocab_size, dim)
    const float* output_norm = nullptr;        // (dim)
    WeightTensor output;                       // (vocab_size, dim); the embedding when tied
    const float* rope_freq_factors = nullptr;  // (rope_dim / 2) or null: theta_i /= factor_i
    std::vector<LayerWeights> layers;
};

}  // namespace kvscope
