#pragma once
// A model's architecture and hyperparameters, read from GGUF metadata and checked against the
// tensors the file holds. Everything a user's file can get wrong is a ModelError here, before
// any memory is allocated for it.

#include <cstdint>
#include <string>

#include "engine/gguf.h"
#include "kernels/model_weights.h"

namespace kvscope {

enum class Architecture { Llama, Qwen2 };

struct ModelConfig {
    Architecture architecture = Architecture::Llama;
    std::string architecture_name;  // "llama", "qwen2"
    std::string name;               // general.name, or the file name
    ModelShape shape;
    bool tied_embeddings = false;  // no output.weight: the embedding is reused for logits
    bool has_qkv_bias = false;
    TensorType weight_type = TensorType::F32;  // the type of most weight bytes (for display)
    // llama.cpp's name of general.file_type ("Q4_K - Medium" for a Q4_K_M file; for display),
    // empty when the key is absent or names a type this engine cannot run
    std::string file_type;
    std::int64_t num_params = 0;
    std::uint64_t weight_bytes = 0;
};

// Reads and validates the hyperparameters and every tensor the forward pass needs (presence,
// shapes, computable types). Throws ModelError with a one-line message naming the file.
ModelConfig read_model_config(const GgufFile& file);

// The names the architectures share: "blk.<layer>.<suffix>".
std::string layer_tensor_name(int layer, const char* suffix);

}  // namespace kvscope
