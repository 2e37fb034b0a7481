// AVX2 + FMA tiled GEMM for float-type weights (see gemm_float.h). Compiled with -mavx2 -mfma
// -mf16c; only called on CPUs that have them.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/gemm_float.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/fp16.h"

namespace kvscope::cpu {
namespace {

constexpr int kTileRows = 4;             // weight rows per tile
constexpr int kTileX = 3;                // activation rows per tile
constexpr std::int64_t kPanelRows = 64;  // weight rows per panel (64 x 2048 f16: 256 KiB, L2)

// 8 weights at w + i -> f32, and one weight -> f32, per storage type
struct F32 {
    static __m256 load8(const void* w, std::int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
    static float one(const void* w, std::int64_t i) { return static_cast<const float*>(w)[i]; }
    static constexpr std::int64_t kBytes = 4;
};
struct F16 {
    static __m256 load8(const void* w, std::int64_t i) {
        return _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(w) + i)));
    }
    static float one(const void* w, std::int64_t i) { return _cvtsh_ss(static_cast<const std::uint16_t*>(w)[i]); }
    static constexpr std::int64_t kBytes = 2;
};
struct BF16 {
    static __m256 load8(const void* w, std::int64_t i) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(w) + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static float one(const void* w, std::int64_t i) { return bf16_to_f32(static_cast<const std::uint16_t*>(w)[i]); }
    static constexpr std::int64_t kBytes = 2;
};

// y[t][r] for RM weight rows from `w` (row stride cols) and RN activation rows from `x`.
template <class W, int RM, int RN>
void tile(const std::uint8_t* w, const float* x, std::int64_t cols, float* y, std::int64_t ldy) {
    __m256 acc[RM][RN];
    for (int i = 0; i < RM; ++i) {
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    const std::int64_t stride = cols * W::kBytes;
    std::int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
        __m256 xv[RN];
        for (int j = 0; j < RN; ++j) xv[j] = _mm256_loadu_ps(x + j * cols + k);
        for (int i = 0; i < RM; ++i) {
            const __m256 wv = W::load8(w + i * stride, k);
            for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < RM; ++i) {
        for (int j = 0; j < RN; ++j) {
            float sum = avx2_hsum(acc[i][j]);
            for (std::int64_t kk = k; kk < cols; ++kk) sum += W::one(w + i * stride, kk) * x[j * cols + kk];
            y[j * ldy + i] = sum;
        }
    }
}

template <class W, int RN>
void tile_rows(int rm, const std::uint8_t* w, const float* x, std::int64_t cols, float* y, std::int64_t ldy) {
    switch (rm) {
        case 4:
            return tile<W, 4, RN>(w, x, cols, y, ldy);
        case 3:
            return tile<W, 3, RN>(w, x, cols, y, ldy);
        case 2:
            return tile<W, 2, RN>(w, x, cols, y, ldy);
        default:
            return tile<W, 1, RN>(w, x, cols, y, ldy);
    }
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
                const std::uint8_t* wr = w + r * stride;
                const float* xt = a.x + t * a.cols;
                float* yt = a.y + t * a.ldy + r;
                if (rn == 3)
                    tile_rows<W, 3>(rm, wr, xt, a.cols, yt, a.ldy);
                else if (rn == 2)
                    tile_rows<W, 2>(rm, wr, xt, a.cols, yt, a.ldy);
                else
                    tile_rows<W, 1>(rm, wr, xt, a.cols, yt, a.ldy);
            }
        }
    }
}

}  // namespace

constinit const GemmFloatKernels kGemmFloatAvx2 = {gemm<F32>, gemm<F16>, gemm<BF16>};

}  // namespace kvscope::cpu
