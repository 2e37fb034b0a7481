#pragma once
// RMSNorm over rows (llama, qwen2):
//   y[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * w[i]
// Rows are independent: to use a ThreadPool, split the rows
// (pool.parallel_for(num_rows, [&](b, e) { rms_norm(x + b * dim, w, y + b * dim, e - b, dim, eps); })).

#include <cstdint>

#include "kernels/cpu_features.h"

namespace kvscope {

// x: (num_rows, dim), w: (dim), y: (num_rows, dim); y may be x (in place).
void rms_norm(const float* x, const float* w, float* y, std::int64_t num_rows, std::int64_t dim, float eps);

// The same at a given SIMD level (tests compare levels; never above the CPU's).
void rms_norm(const float* x, const float* w, float* y, std::int64_t num_rows, std::int64_t dim, float eps,
              SimdLevel level);

}  // namespace kvscope
