#pragma once
// Kernel bodies of the quantised matmuls (see hd.h): the decode GEMV, which reads each weight
// row once in its stored format and dots it with up to NT activation rows, and the
// dequantisation to f16 that feeds cuBLAS in prefill.

#include <cstdint>

#include "kernels/cuda/dequant.h"
#include "kernels/cuda/hd.h"

namespace kvscope::cuda {

inline constexpr int kGemvThreads = 256;
inline constexpr int kGemvLanes = 32;                                // threads per weight row
inline constexpr int kGemvRowsPerBlock = kGemvThreads / kGemvLanes;  // weight rows per block

// y(n, rows) = x(n, cols) · wᵀ for n <= NT; cols a multiple of 8 (of the type's block size).
struct GemvParams {
    const std::uint8_t* w;  // (rows, cols) of the weight type, row_bytes per row
    std::size_t row_bytes;
    std::int64_t rows, cols;
    const float* x;  // (n, cols)
    float* y;        // (n, rows)
    int n;
};

// Shared memory: NT * kGemvThreads floats. Block block_x computes weight rows
// [block_x * kGemvRowsPerBlock, +kGemvRowsPerBlock).
template <TensorType T, int NT, class Exec>
KV_BODY void gemv_block(const Exec& ex, const GemvParams& p, int block_x, float* smem) {
    const std::int64_t row0 = static_cast<std::int64_t>(block_x) * kGemvRowsPerBlock;
    // 1. lane l of row r dots groups l, l + 32, ... of the row with every activation row
    ex.phase([&](int tid) {
        const int r = tid / kGemvLanes, lane = tid % kGemvLanes;
        const std::int64_t row = row0 + r;
        float acc[NT];
        for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
        if (row < p.rows) {
            const std::uint8_t* wrow = p.w + static_cast<std::size_t>(row) * p.row_bytes;
            const std::int64_t num_groups = p.cols / 8;
            for (std::int64_t g = lane; g < num_groups; g += kGemvLanes) {
                float wv[8];
                dequant8<T>(wrow, g, wv);
                for (int t = 0; t < NT; ++t) {
                    if (t < p.n) {
                        const float* xv = p.x + static_cast<std::int64_t>(t) * p.cols + 8 * g;
                        float s = 0.0f;
                        for (int i = 0; i < 8; ++i) s += wv[i] * xv[i];
                        acc[t] += s;
                    }
                }
            }
        }
        for (int t = 0; t < NT; ++t) smem[t * kGemvThreads + tid] = acc[t];
    });
    // 2. one thread per (row, activation row) adds the 32 lanes' sums
    ex.phase([&](int tid) {
        if (tid >= kGemvRowsPerBlock * NT) return;
        const int r = tid / NT, t = tid % NT;
        const std::int64_t row = row0 + r;
        if (row >= p.rows || t >= p.n) return;
        float s = 0.0f;
        for (int lane = 0; lane < kGemvLanes; ++lane) s += smem[t * kGemvThreads + r * kGemvLanes + lane];
        p.y[static_cast<std::int64_t>(t) * p.rows + row] = s;
    });
}

// out(rows, cols) f16 bits = w(rows, cols) dequantised; one thread per group of 8.
struct DequantParams {
    const std::uint8_t* w;
    std::size_t row_bytes;
    std::int64_t rows, cols;
    std::uint16_t* out;
};

inline constexpr int kDequantThreads = 256;

template <TensorType T, class Exec>
KV_BODY void dequant_f16_block(const Exec& ex, const DequantParams& p, int block_x) {
    ex.phase([&](int tid) {
        const std::int64_t groups_per_row = p.cols / 8;
        const std::int64_t g = static_cast<std::int64_t>(block_x) * kDequantThreads + tid;
        if (g >= groups_per_row * p.rows) return;
        const std::int64_t row = g / groups_per_row, group = g % groups_per_row;
        float v[8];
        dequant8<T>(p.w + static_cast<std::size_t>(row) * p.row_bytes, group, v);
        std::uint16_t* out = p.out + row * p.cols + 8 * group;
        for (int i = 0; i < 8; ++i) out[i] = float_to_half(v[i]);
    });
}

}  // namespace kvscope::cuda
