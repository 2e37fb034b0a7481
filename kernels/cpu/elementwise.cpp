#include "kernels/elementwise.h"

#include <cmath>

#include "kernels/check.h"
#include "kernels/cpu/rows_simd.h"

namespace kvscope {

void add_inplace(float* y, const float* x, std::int64_t n) {
    // a loop the compiler vectorises at any target
    for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void swiglu(const float* gate, const float* up, float* out, std::int64_t n, SimdLevel level) {
    KV_CHECK(n >= 0);
    KV_CHECK(level <= detect_simd_level());
    if (level >= SimdLevel::Avx2) {
        avx2::swiglu(gate, up, out, n);
        return;
    }
    for (std::int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void swiglu(const float* gate, const float* up, float* out, std::int64_t n) {
    swiglu(gate, up, out, n, active_simd_level());
}

}  // namespace kvscope
