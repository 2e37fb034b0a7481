#include "kernels/norm.h"

#include <cmath>

#include "kernels/check.h"
#include "kernels/cpu/rows_simd.h"

namespace kvscope {
namespace {

void rms_norm_row_scalar(const float* x, const float* w, float* y, std::int64_t dim, float eps) {
    // 1. mean of squares, accumulated in double
    double sum_sq = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
    // 2. y = x * rsqrt(mean + eps) * w
    const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps));
    for (std::int64_t i = 0; i < dim; ++i) y[i] = x[i] * inv_rms * w[i];
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, std::int64_t num_rows, std::int64_t dim, float eps,
              SimdLevel level) {
    KV_CHECK(dim > 0 && num_rows >= 0);
    KV_CHECK(level <= detect_simd_level());
    for (std::int64_t r = 0; r < num_rows; ++r) {
        const float* xr = x + r * dim;  // (dim)
        float* yr = y + r * dim;        // (dim)
        if (level >= SimdLevel::Avx2) {
            avx2::rms_norm_row(xr, w, yr, dim, eps);
        } else {
            rms_norm_row_scalar(xr, w, yr, dim, eps);
        }
    }
}

void rms_norm(const float* x, const float* w, float* y, std::int64_t num_rows, std::int64_t dim, float eps) {
    rms_norm(x, w, y, num_rows, dim, eps, active_simd_level());
}

}  // namespace kvscope
