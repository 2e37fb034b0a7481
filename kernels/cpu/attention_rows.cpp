// Portable inner loops of paged attention (see attention_rows.h).

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/f16.h"

namespace kvscope {
namespace {

void scores_scalar(const float* q, const float* k, std::int64_t k_stride, int n, int head_dim, float scale,
                   float* out) {
    for (int j = 0; j < n; ++j) {
        const float* kj = k + j * k_stride;  // (head_dim)
        float dot = 0.0f;
        for (int d = 0; d < head_dim; ++d) dot += q[d] * kj[d];
        out[j] = dot * scale;
    }
}

float max_scalar(const float* x, int n) {
    float m = x[0];
    for (int j = 1; j < n; ++j) m = x[j] > m ? x[j] : m;
    return m;
}

float exp_sum_scalar(float* x, int n, float m) {
    float sum = 0.0f;
    for (int j = 0; j < n; ++j) {
        x[j] = std::exp(x[j] - m);
        sum += x[j];
    }
    return sum;
}

void rescale_accumulate_scalar(float* acc, float c, const float* p, const float* v, std::int64_t v_stride, int n,
                               int head_dim) {
    for (int d = 0; d < head_dim; ++d) acc[d] *= c;
    for (int j = 0; j < n; ++j) {
        const float* vj = v + j * v_stride;  // (head_dim)
        for (int d = 0; d < head_dim; ++d) acc[d] += p[j] * vj[d];
    }
}

void f16_to_f32_scalar(const std::uint16_t* src, float* dst, int n) {
    for (int i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void q8_0_to_f32_scalar(const void* row, std::int64_t begin, int n, float* dst) {
    const auto* bytes = static_cast<const std::uint8_t*>(row);
    for (int i = 0; i < n; ++i) {
        const std::int64_t e = begin + i;
        const std::uint8_t* block = bytes + (e / kQ8_0BlockElems) * kQ8_0BlockBytes;  // f16 d, int8 qs[32]
        std::uint16_t d;
        std::memcpy(&d, block, 2);
        dst[i] = f16_to_f32(d) * static_cast<float>(static_cast<std::int8_t>(block[2 + e % kQ8_0BlockElems]));
    }
}

}  // namespace

const AttentionRowKernels kAttentionRowsScalar = {
    scores_scalar, max_scalar, exp_sum_scalar, rescale_accumulate_scalar, f16_to_f32_scalar, q8_0_to_f32_scalar,
};

}  // namespace kvscope
