#pragma once
// A naive reference forward pass, written independently of kernels/ and engine/model: it reads
// hyperparameters and tensors straight from the GGUF file, dequantises every weight to f32,
// keeps a contiguous KV cache and runs plain loops with double accumulation, one token at a
// time, as llama2.c's run.c does. It is the oracle the paged engine is compared against.

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/gguf.h"

namespace kvscope::test {

class ReferenceModel {
public:
    explicit ReferenceModel(const GgufFile& file);
    // Every 2-D weight whose row length fits `weight_type`'s blocks goes through a round trip to
    // that type (quantise, then dequantise), as a model re-quantised at load holds it.
    ReferenceModel(const GgufFile& file, std::optional<TensorType> weight_type);

    int vocab_size() const { return vocab_size_; }
    // Stores K and V rows as `type` would (F32: exact; F16, Q8_0: quantised and read back), to
    // mirror a paged cache of that dtype.
    void set_cache_type(TensorType type) { cache_type_ = type; }

    // Starts a new sequence (clears the KV cache).
    void reset();
    // Feeds one token at the next position and returns the logits (vocab_size) it predicts.
    std::vector<float> step(std::int32_t token);
    // Logits after each of `tokens`, from an empty cache: (tokens.size(), vocab_size).
    std::vector<std::vector<float>> forward(const std::vector<std::int32_t>& tokens);
    // Greedy continuation of `prompt` by `num_new` tokens (argmax, ties to the lowest id).
    std::vector<std::int32_t> greedy(const std::vector<std::int32_t>& prompt, int num_new);

private:
    struct Matrix {
        int rows = 0, cols = 0;
        std::vector<float> data;  // (rows, cols)
    };
    struct Layer {
        std::vector<float> attn_norm, ffn_norm, bq, bk, bv;
        Matrix wq, wk, wv, wo, gate, up, down;
    };

    Matrix load_matrix(const GgufFile& file, const char* name) const;
    std::vector<float> load_vector(const GgufFile& file, const char* name, bool optional) const;
    void matvec(const Matrix& w, const std::vector<float>& x, std::vector<float>& y) const;

    std::optional<TensorType> weight_type_;
    TensorType cache_type_ = TensorType::F32;
    bool neox_rope_ = false;
    int num_layers_ = 0, dim_ = 0, ffn_dim_ = 0, num_heads_ = 0, num_kv_heads_ = 0, head_dim_ = 0, vocab_size_ = 0;
    int rope_dim_ = 0;
    double rope_base_ = 10000.0, eps_ = 1e-5;
    Matrix embedding_, output_;
    std::vector<float> output_norm_;
    std::vector<Layer> layers_;
    // Contiguous cache: per layer (position, num_kv_heads * head_dim).
    std::vector<std::vector<std::vector<float>>> k_cache_, v_cache_;
};

}  // namespace kvscope::test
