#pragma once
// Elementwise ops of the forward pass on flat f32 buffers of n values. Like the row ops, they
// run on the calling thread; split n with ThreadPool::parallel_for for large buffers.

#include <cstdint>

#include "kernels/cpu_features.h"

namespace kvscope {

// y(n) += x(n)   (the residual connection)
void add_inplace(float* y, const float* x, std::int64_t n);

// out(n) = silu(gate(n)) * up(n), silu(g) = g / (1 + e^-g)   (the FFN of llama and qwen2)
// out may be gate or up.
void swiglu(const float* gate, const float* up, float* out, std::int64_t n);
void swiglu(const float* gate, const float* up, float* out, std::int64_t n, SimdLevel level);

}  // namespace kvscope
