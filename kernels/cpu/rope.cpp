#include "kernels/rope.h"

#include <cmath>

#include "kernels/check.h"

namespace kvscope {

RopeTable::RopeTable(std::int32_t rope_dim, float freq_base, std::span<const float> freq_factors)
    : rope_dim_(rope_dim), inv_freq_(static_cast<std::size_t>(rope_dim / 2)) {
    KV_CHECK(rope_dim > 0 && rope_dim % 2 == 0);
    KV_CHECK(freq_base > 0.0f);
    KV_CHECK(freq_factors.empty() || static_cast<std::int32_t>(freq_factors.size()) == rope_dim / 2);
    // inv_freq[i] = base^(-2i / rope_dim) / factor[i]
    for (std::int32_t i = 0; i < rope_dim / 2; ++i) {
        const double factor = freq_factors.empty() ? 1.0 : static_cast<double>(freq_factors[i]);
        KV_CHECK(factor > 0.0);
        inv_freq_[i] = std::pow(static_cast<double>(freq_base), -2.0 * i / rope_dim) / factor;
    }
}

void RopeTable::rope_cos_sin(std::span<const std::int32_t> positions, float* cos_sin) const {
    const std::int32_t half = rope_dim_ / 2;
    for (std::size_t t = 0; t < positions.size(); ++t) {
        KV_CHECK(positions[t] >= 0);
        float* cs = cos_sin + t * 2 * half;  // (rope_dim / 2, 2)
        for (std::int32_t i = 0; i < half; ++i) {
            const double angle = positions[t] * inv_freq_[i];
            cs[2 * i] = static_cast<float>(std::cos(angle));
            cs[2 * i + 1] = static_cast<float>(std::sin(angle));
        }
    }
}

void apply_rope(RopeStyle style, float* x, std::int64_t num_tokens, std::int32_t num_heads, std::int32_t head_dim,
                std::int32_t rope_dim, const float* cos_sin) {
    KV_CHECK(rope_dim > 0 && rope_dim % 2 == 0 && rope_dim <= head_dim);
    const std::int32_t half = rope_dim / 2;
    // which dims form pair i: (2i, 2i+1) or (i, i+half)
    const std::int32_t first_step = style == RopeStyle::Normal ? 2 : 1;
    const std::int32_t second_offset = style == RopeStyle::Normal ? 1 : half;
    for (std::int64_t t = 0; t < num_tokens; ++t) {
        const float* cs = cos_sin + t * rope_dim;  // (rope_dim / 2, 2) of token t
        for (std::int32_t h = 0; h < num_heads; ++h) {
            float* xh = x + (t * num_heads + h) * head_dim;  // (head_dim)
            for (std::int32_t i = 0; i < half; ++i) {
                float* a = xh + i * first_step;
                float* b = a + second_offset;
                const float c = cs[2 * i], s = cs[2 * i + 1];
                const float a0 = *a, b0 = *b;
                *a = a0 * c - b0 * s;
                *b = a0 * s + b0 * c;
            }
        }
    }
}

}  // namespace kvscope
