#pragma once
// Re-quantisation of weights at load (ModelLoadOptions::weight_type): which types a load may
// convert to, which weights a conversion touches, and what it gives, before any loading (the
// workbench's settings show it for the file chosen).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/gguf.h"
#include "kernels/tensor_type.h"
#include "kernels/thread_pool.h"

namespace kvscope {

// The types weights can be re-quantised to at load, for menus and messages, in menu order:
// F16, Q8_0, Q6_K, Q5_K, Q4_K, Q4_0.
std::span<const TensorType> requantization_targets();
bool is_requantization_target(TensorType type);
// "F16, Q8_0, Q6_K, Q5_K, Q4_K or Q4_0", for messages.
std::string requantization_target_list();

// Whether a 2-D weight stored as `stored` with rows of `cols` elements changes type when the load
// re-quantises to `target`: not already that type, and its rows a whole number of the target's
// blocks (32 elements, 256 for the K-quants). Model::load follows this rule.
bool requantizes(TensorType stored, std::int64_t cols, TensorType target);

// llama.cpp's "_M" mixture over a Q4_K or Q5_K base (Q4_K_M, Q5_K_M: what most downloaded GGUF
// files are): the type of the 2-D weight `name` ("blk.3.ffn_down.weight"; `layer` its block
// index, -1 for token_embd and output) in a model of `num_layers` blocks. Q6_K for the output
// (or the embedding when `tied`: no output.weight), and for attn_v and ffn_down in the first and
// last eighth of the layers and every third layer between (use_more_bits); `base` otherwise.
TensorType k_quant_medium_type(TensorType base, const std::string& name, int layer, int num_layers, bool tied);

// "blk.12.attn_v.weight" -> 12; -1 for a tensor outside the blocks (token_embd, output).
int weight_layer(const std::string& name);

// A conversion named as llama.cpp names file types: one of the targets ("q4_k", "F16"), or a
// mixture over Q4_K / Q5_K ("q4_k_m", "Q5_K_M"); any case. nullopt for anything else.
struct WeightConversion {
    TensorType base = TensorType::F16;
    bool k_quant_medium = false;
    std::string name() const;  // "Q4_K", "Q4_K_M"
};
std::optional<WeightConversion> parse_weight_conversion(std::string_view text);

// `rows` consecutive rows of `cols` elements, stored as `from` at `src`, written as `to` at `dst`:
// each dequantised to f32 and quantised again, the rows split between the pool's threads.
void requantize_rows(TensorType from, const std::uint8_t* src, TensorType to, std::uint8_t* dst, std::int64_t cols,
                     std::int64_t rows, ThreadPool& pool);

struct RequantizationEstimate {
    std::uint64_t weight_bytes = 0;  // every tensor's bytes, the converted ones at their new size
    int num_converted = 0;           // 2-D tensors that change type
    int num_matrices = 0;            // 2-D tensors in the file
};

// What re-quantising `file`'s 2-D tensors to `target` gives (the weights of a llama-family file
// are exactly its 2-D tensors), or to the _M mixture over it (the layers counted from the
// tensors' names, tied when there is no output.weight).
RequantizationEstimate estimate_requantization(const GgufFile& file, TensorType target, bool k_quant_medium = false);

}  // namespace kvscope
