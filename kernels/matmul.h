#pragma once
// Weight matmuls of the forward pass, for every computable weight type. Activations are
// quantised once per call to the type's vec_dot_type, then each output element is one row dot
// product (kernels/quant.h), so weights are read in their stored format, never expanded.

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/model_weights.h"

namespace kvscope {

class ThreadPool;

// Scratch bytes matmul() needs for `num_rows` activation rows against `w`.
std::size_t matmul_scratch_bytes(const WeightTensor& w, std::int64_t num_rows);

// y(num_rows, w.rows) = x(num_rows, w.cols) · wᵀ, split over the pool's threads by output rows.
// scratch: matmul_scratch_bytes(w, num_rows) bytes, 64-byte aligned.
void matmul(ThreadPool& pool, const WeightTensor& w, const float* x, std::int64_t num_rows, float* y,
            std::uint8_t* scratch);

// out(ids.size(), w.cols) = the rows `ids` of w, dequantised (token embedding lookup).
void gather_rows(const WeightTensor& w, std::span<const std::int32_t> ids, float* out);

}  // namespace kvscope
