#pragma once
// The tiled float GEMM of gemm_float.h, shared by gemm_float_avx2.cpp (8 lanes) and
// gemm_float_avx512.cpp (16 lanes). Include only from those files, after they define, in
// kvscope::cpu's anonymous namespace:
//   Vec                      the vector type, of kLanes floats
//   kTileRows, kTileX        weight rows and activation rows of a tile
//   vzero(), vload(p), vfmadd(a, b, c), vhsum(v)
//   F32, F16, BF16           per weight type: load(w, i) -> Vec of weights i .., one(w, i), kBytes

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/gemm_float.h"

namespace kvscope::cpu {
namespace {

constexpr std::int64_t kPanelRows = 64;  // weight rows per panel (64 x 2048 f16: 256 KiB, L2)

// y[t][r] for RM weight rows from `w` (row stride cols) and RN activation rows from `x`.
template <class W, int RM, int RN>
void tile(const std::uint8_t* w, const float* x, std::int64_t cols, float* y, std::int64_t ldy) {
    Vec acc[RM][RN];
    for (int i = 0; i < RM; ++i) {
        for (int j = 0; j < RN; ++j) acc[i][j] = vzero();
    }
    const std::int64_t stride = cols * W::kBytes;
    std::int64_t k = 0;
    for (; k + kLanes <= cols; k += kLanes) {
        Vec xv[RN];
        for (int j = 0; j < RN; ++j) xv[j] = vload(x + j * cols + k);
        for (int i = 0; i < RM; ++i) {
            const Vec wv = W::load(w + i * stride, k);
            for (int j = 0; j < RN; ++j) acc[i][j] = vfmadd(wv, xv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < RM; ++i) {
        for (int j = 0; j < RN; ++j) {
            float sum = vhsum(acc[i][j]);
            for (std::int64_t kk = k; kk < cols; ++kk) sum += W::one(w + i * stride, kk) * x[j * cols + kk];
            y[j * ldy + i] = sum;
        }
    }
}

// A tile of rm (1 .. kTileRows) weight rows and RN activation rows.
template <class W, int RN, int RM = kTileRows>
void tile_rows(int rm, const std::uint8_t* w, const float* x, std::int64_t cols, float* y, std::int64_t ldy) {
    if constexpr (RM > 1) {
        if (rm < RM) return tile_rows<W, RN, RM - 1>(rm, w, x, cols, y, ldy);
    }
    tile<W, RM, RN>(w, x, cols, y, ldy);
}

// A tile of rn (1 .. kTileX) activation rows.
template <class W, int RN = kTileX>
void tile_x(int rn, int rm, const std::uint8_t* w, const float* x, std::int64_t cols, float* y, std::int64_t ldy) {
    if constexpr (RN > 1) {
        if (rn < RN) return tile_x<W, RN - 1>(rn, rm, w, x, cols, y, ldy);
    }
    tile_rows<W, RN>(rm, w, x, cols, y, ldy);
}

template <class W>
void gemm(const GemmFloatArgs& a) {
    const auto* w = static_cast<const std::uint8_t*>(a.w);
    const std::int64_t stride = a.cols * W::kBytes;
    for (std::int64_t p = a.row_begin; p < a.row_end; p += kPanelRows) {
        const std::int64_t p_end = std::min(p + kPanelRows, a.row_end);
        for (std::int64_t t = 0; t < a.num_x; t += kTileX) {
            const int rn = static_cast<int>(std::min<std::int64_t>(kTileX, a.num_x - t));
            for (std::int64_t r = p; r < p_end; r += kTileRows) {
                const int rm = static_cast<int>(std::min<std::int64_t>(kTileRows, p_end - r));
                tile_x<W>(rn, rm, w + r * stride, a.x + t * a.cols, a.cols, a.y + t * a.ldy + r, a.ldy);
            }
        }
    }
}

}  // namespace
}  // namespace kvscope::cpu
