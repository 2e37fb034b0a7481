#pragma once
// Weight matmuls of the forward pass, for every computable weight type. Activations are
// quantised once per call (matmul_activation_type); weights are read in their stored format,
// never expanded to f32:
// - packed weights (Q4_0, Q8_0, Q4_K, Q5_K in groups of 8 rows, kernels/packed_weight.h) go through tiled
//   integer kernels that reuse each weight block across a tile of activation rows (prompt
//   processing) and keep 8 rows' sums in the lanes of one vector (decode);
// - F32/F16/BF16 weights with several activation rows go through a tiled float GEMM (4 weight
//   rows x 3 activation rows of accumulators, weight panels kept in L2) on AVX2 CPUs;
// - every other case is one row dot product (kernels/quant.h) per output element, over tiles
//   of 16 weight rows.
// Work is split over the pool's threads in units of 16 output rows (64 bytes of each output row),
// taken in contiguous chunks from a shared counter, so threads never write to the same cache line
// of y (when y is 64-byte aligned and w.rows a multiple of 16) and a thread the OS deschedules
// holds up no one.

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/cpu_features.h"
#include "kernels/model_weights.h"
#include "kernels/packed_weight.h"

namespace kvscope {

class ThreadPool;

// What matmul quantises activations to for w: Q8_0 for every packed format (with the per-block
// sums of gemm_x8.h), else the type's vec_dot_type. Weights of one matmul_multi call share it.
TensorType matmul_activation_type(const MatmulWeight& w);

// Scratch bytes matmul() needs for `num_rows` activation rows against `w`.
std::size_t matmul_scratch_bytes(const MatmulWeight& w, std::int64_t num_rows);
std::size_t matmul_scratch_bytes(const WeightTensor& w, std::int64_t num_rows);

// y(num_rows, w.rows) = x(num_rows, w.cols) · wᵀ, split over the pool's threads by output rows.
// scratch: matmul_scratch_bytes(w, num_rows) bytes, 64-byte aligned. Does not allocate.
void matmul(ThreadPool& pool, const MatmulWeight& w, const float* x, std::int64_t num_rows, float* y,
            std::uint8_t* scratch);
void matmul(ThreadPool& pool, const WeightTensor& w, const float* x, std::int64_t num_rows, float* y,
            std::uint8_t* scratch);

// ys[i](num_rows, ws[i].rows) = x · ws[i]ᵀ for several weights of the same cols and activation
// type (q/k/v, gate/up) in one parallel region: x is quantised once, and the threads share the
// rows of all the weights. scratch: the largest matmul_scratch_bytes of the weights.
void matmul_multi(ThreadPool& pool, std::span<const MatmulWeight* const> ws, const float* x, std::int64_t num_rows,
                  std::span<float* const> ys, std::uint8_t* scratch);

// The same at a given SIMD level for the packed kernels (tests compare levels; never above the CPU's).
void matmul_multi(ThreadPool& pool, std::span<const MatmulWeight* const> ws, const float* x, std::int64_t num_rows,
                  std::span<float* const> ys, std::uint8_t* scratch, SimdLevel level);

// out(ids.size(), w.cols) = the rows `ids` of w, dequantised (token embedding lookup).
void gather_rows(const WeightTensor& w, std::span<const std::int32_t> ids, float* out);

}  // namespace kvscope
