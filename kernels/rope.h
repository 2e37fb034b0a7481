#pragma once
// Rotary position embedding (RoPE) for a batch of tokens at arbitrary positions.
//
// Dimension pair i (0 <= i < rope_dim / 2) of a head rotates by the angle
//   theta_i(pos) = pos * freq_base^(-2i / rope_dim) / freq_factor[i]
// (freq_factor = 1 unless the model ships "rope_freqs", as Llama 3.x does):
//   (a, b) <- (a cos - b sin, a sin + b cos).
// Which dimensions form pair i depends on the style:
//   Normal (llama):  (2i, 2i + 1)              -- adjacent values
//   Neox   (qwen2):  (i, i + rope_dim / 2)     -- the two halves of the rotated part
// Only the first rope_dim dimensions of a head rotate; the rest pass through unchanged.
//
// Use: build one RopeTable per model, call rope_cos_sin once per step for the step's positions
// (shared by every layer, by q and by k), then apply_rope to q and k of each layer.

#include <cstdint>
#include <span>
#include <vector>

namespace kvscope {

enum class RopeStyle {
    Normal,  // adjacent pairs (2i, 2i+1): llama
    Neox,    // half-split pairs (i, i + rope_dim/2): qwen2, gpt-neox
};

class RopeTable {
public:
    // rope_dim even and > 0; freq_factors empty or of size rope_dim / 2 (all > 0).
    RopeTable(std::int32_t rope_dim, float freq_base, std::span<const float> freq_factors = {});

    std::int32_t rope_dim() const { return rope_dim_; }

    // cos_sin (num_tokens, rope_dim / 2, 2) <- (cos theta_i(pos), sin theta_i(pos)) for each
    // token's position; positions (num_tokens), each >= 0. Angles are formed in double, so
    // large positions keep their precision.
    void rope_cos_sin(std::span<const std::int32_t> positions, float* cos_sin) const;

private:
    std::int32_t rope_dim_;
    std::vector<double> inv_freq_;  // (rope_dim / 2): freq_base^(-2i / rope_dim) / freq_factor[i]
};

// x (num_tokens, num_heads, head_dim) rotated in place with cos_sin (num_tokens, rope_dim / 2, 2)
// from rope_cos_sin; rope_dim <= head_dim, even.
void apply_rope(RopeStyle style, float* x, std::int64_t num_tokens, std::int32_t num_heads, std::int32_t head_dim,
                std::int32_t rope_dim, const float* cos_sin);

}  // namespace kvscope
