#include "kernels/softmax.h"

#include <cmath>
#include <limits>

#include "kernels/check.h"
#include "kernels/cpu/rows_simd.h"

namespace kvscope {

void softmax(float* x, std::int64_t n, SimdLevel level) {
    KV_CHECK(n >= 1);
    KV_CHECK(level <= detect_simd_level());
    if (level >= SimdLevel::Avx2) {
        avx2::softmax(x, n);
        return;
    }
    // 1. the largest entry, so that every exponent is <= 0 and nothing overflows
    float max = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
    if (max == -std::numeric_limits<float>::infinity()) {
        for (std::int64_t i = 0; i < n; ++i) x[i] = 0.0f;  // all -inf: no distribution
        return;
    }
    // 2. exponentiate and sum (in double: n can be a whole vocabulary)
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    // 3. normalise (sum >= 1: the max entry contributes e^0)
    const float inv_sum = static_cast<float>(1.0 / sum);
    for (std::int64_t i = 0; i < n; ++i) x[i] *= inv_sum;
}

void softmax(float* x, std::int64_t n) {
    softmax(x, n, active_simd_level());
}

}  // namespace kvscope
