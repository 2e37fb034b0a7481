#pragma once
// How Model::load treats a file: weights as stored, or re-quantised at load into buffers the Model
// owns (as llama.cpp's quantize tool would write them, but in memory), and who hears of progress.

#include <functional>
#include <optional>
#include <string>

#include "engine/requantization.h"
#include "kernels/tensor_type.h"

namespace kvscope {

struct ModelLoadOptions {
    // Every 2-D weight (embedding, attention, feed-forward, output) re-quantised to this type, one
    // of requantization_targets(). Each row is dequantised to f32 and quantised again; which
    // weights change type: requantizes() (engine/requantization.h). nullopt: weights as stored.
    std::optional<TensorType> weight_type;
    // With weight_type Q4_K or Q5_K: llama.cpp's _M mixture over it instead (Q4_K_M, Q5_K_M;
    // k_quant_medium_type: Q6_K for the output and some attn_v and ffn_down).
    bool k_quant_medium = false;
    // Threads that re-quantise (rows of a weight split between them); <= 0: all cores.
    int threads = 0;
    // Called on the loading thread with the fraction done (0..1) and what is being done.
    std::function<void(double fraction, const std::string& stage)> on_progress;

    // Throws ConfigError when weight_type is not one of the re-quantisation targets, or a mixture is
    // asked over another type.
    void validate() const;
};

}  // namespace kvscope
