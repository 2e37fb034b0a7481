// Scalar row kernels of the 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the
// activation type Q8_1. Layouts and formulas: kernels/quant_blocks.h.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_scalar_util.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

std::uint32_t load_qh(const std::uint8_t* qh) {
    std::uint32_t v;
    std::memcpy(&v, qh, sizeof(v));
    return v;
}

// The value of largest magnitude, with its sign (0 for an all-zero block).
float signed_absmax(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void min_max(const float* x, int n, float* lo, float* hi) {
    *lo = x[0];
    *hi = x[0];
    for (int j = 1; j < n; ++j) {
        if (x[j] < *lo) *lo = x[j];
        if (x[j] > *hi) *hi = x[j];
    }
}

// Q8_0/Q8_1 quants of one block; returns d (quants round to nearest even, as the SIMD paths do)
float quantize_q8_block(const float* x, std::int8_t* qs) {
    float amax = 0.0f;
    for (int j = 0; j < kQk; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQk; ++j) qs[j] = static_cast<std::int8_t>(std::clamp(round_to_int(x[j] * id), -127, 127));
    return d;
}

}  // namespace

// ---- dequantize

void dequantize_q4_0(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ4_0*>(src);
    for (std::int64_t i = 0; i < n / kQk; ++i, dst += kQk) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQk / 2; ++j) {
            dst[j] = d * static_cast<float>((b[i].qs[j] & 15) - 8);
            dst[j + 16] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
        }
    }
}

void dequantize_q4_1(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ4_1*>(src);
    for (std::int64_t i = 0; i < n / kQk; ++i, dst += kQk) {
        const float d = fp16_to_f32(b[i].d);
        const float m = fp16_to_f32(b[i].m);
        for (int j = 0; j < kQk / 2; ++j) {
            dst[j] = d * static_cast<float>(b[i].qs[j] & 15) + m;
            dst[j + 16] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
        }
    }
}

void dequantize_q5_0(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ5_0*>(src);
    for (std::int64_t i = 0; i < n / kQk; ++i, dst += kQk) {
        const float d = fp16_to_f32(b[i].d);
        const std::uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < kQk / 2; ++j) {
            const int lo = (b[i].qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4);
            const int hi = (b[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
            dst[j] = d * static_cast<float>(lo - 16);
            dst[j + 16] = d * static_cast<float>(hi - 16);
        }
    }
}

void dequantize_q5_1(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ5_1*>(src);
    for (std::int64_t i = 0; i < n / kQk; ++i, dst += kQk) {
        const float d = fp16_to_f32(b[i].d);
        const float m = fp16_to_f32(b[i].m);
        const std::uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < kQk / 2; ++j) {
            const int lo = (b[i].qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4);
            const int hi = (b[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
            dst[j] = d * static_cast<float>(lo) + m;
            dst[j + 16] = d * static_cast<float>(hi) + m;
        }
    }
}

void dequantize_q8_0(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ8_0*>(src);
    for (std::int64_t i = 0; i < n / kQk; ++i, dst += kQk) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQk; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
    }
}

void dequantize_q8_1(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ8_1*>(src);
    for (std::int64_t i = 0; i < n / kQk; ++i, dst += kQk) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQk; ++j) dst[j] = d * static_cast<float>(b[i].qs[j]);
    }
}

// ---- quantize (as ggml's reference quantisers)

void quantize_q4_0(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ4_0*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        // the extreme value maps to -8, so the other side reaches +8 (clamped to 7)
        const float d = signed_absmax(src, kQk) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_fp16(d);
        for (int j = 0; j < kQk / 2; ++j) {
            const int lo = std::min(15, static_cast<int>(src[j] * id + 8.5f));
            const int hi = std::min(15, static_cast<int>(src[j + 16] * id + 8.5f));
            b[i].qs[j] = static_cast<std::uint8_t>(lo | (hi << 4));
        }
    }
}

void quantize_q4_1(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ4_1*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        float lo, hi;
        min_max(src, kQk, &lo, &hi);
        const float d = (hi - lo) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_fp16(d);
        b[i].m = f32_to_fp16(lo);
        for (int j = 0; j < kQk / 2; ++j) {
            const int q0 = std::min(15, static_cast<int>((src[j] - lo) * id + 0.5f));
            const int q1 = std::min(15, static_cast<int>((src[j + 16] - lo) * id + 0.5f));
            b[i].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
        }
    }
}

void quantize_q5_0(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ5_0*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        const float d = signed_absmax(src, kQk) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_fp16(d);
        std::uint32_t qh = 0;
        for (int j = 0; j < kQk / 2; ++j) {
            const int q0 = std::min(31, static_cast<int>(src[j] * id + 16.5f));
            const int q1 = std::min(31, static_cast<int>(src[j + 16] * id + 16.5f));
            b[i].qs[j] = static_cast<std::uint8_t>((q0 & 15) | ((q1 & 15) << 4));
            qh |= static_cast<std::uint32_t>(q0 >> 4) << j;
            qh |= static_cast<std::uint32_t>(q1 >> 4) << (j + 16);
        }
        std::memcpy(b[i].qh, &qh, sizeof(qh));
    }
}

void quantize_q5_1(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ5_1*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        float lo, hi;
        min_max(src, kQk, &lo, &hi);
        const float d = (hi - lo) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_fp16(d);
        b[i].m = f32_to_fp16(lo);
        std::uint32_t qh = 0;
        for (int j = 0; j < kQk / 2; ++j) {
            const int q0 = std::min(31, static_cast<int>((src[j] - lo) * id + 0.5f));
            const int q1 = std::min(31, static_cast<int>((src[j + 16] - lo) * id + 0.5f));
            b[i].qs[j] = static_cast<std::uint8_t>((q0 & 15) | ((q1 & 15) << 4));
            qh |= static_cast<std::uint32_t>(q0 >> 4) << j;
            qh |= static_cast<std::uint32_t>(q1 >> 4) << (j + 16);
        }
        std::memcpy(b[i].qh, &qh, sizeof(qh));
    }
}

void quantize_q8_0(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) b[i].d = f32_to_fp16(quantize_q8_block(src, b[i].qs));
}

void quantize_q8_1(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_1*>(dst);
    for (std::int64_t i = 0; i < n / kQk; ++i, src += kQk) {
        const float d = quantize_q8_block(src, b[i].qs);
        int sum = 0;
        for (int j = 0; j < kQk; ++j) sum += b[i].qs[j];
        b[i].d = f32_to_fp16(d);
        b[i].s = f32_to_fp16(d * static_cast<float>(sum));
    }
}

// ---- vec_dot: integer dot of the quants per block, scaled by the two block scales

float vec_dot_q4_0(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQk; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQk / 2; ++j) {
            sumi += ((a[i].qs[j] & 15) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        }
        sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

float vec_dot_q4_1(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_1*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQk; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQk / 2; ++j) {
            sumi += (a[i].qs[j] & 15) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        }
        // sum_j (d q_j + m) dy y_j = d dy sumi + m s
        sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(sumi) +
               fp16_to_f32(a[i].m) * fp16_to_f32(b[i].s);
    }
    return sum;
}

float vec_dot_q5_0(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQk; ++i) {
        const std::uint32_t qh = load_qh(a[i].qh);
        int sumi = 0;
        for (int j = 0; j < kQk / 2; ++j) {
            const int lo = ((a[i].qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4)) - 16;
            const int hi = ((a[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4)) - 16;
            sumi += lo * b[i].qs[j] + hi * b[i].qs[j + 16];
        }
        sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

float vec_dot_q5_1(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_1*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQk; ++i) {
        const std::uint32_t qh = load_qh(a[i].qh);
        int sumi = 0;
        for (int j = 0; j < kQk / 2; ++j) {
            const int lo = (a[i].qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4);
            const int hi = (a[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
            sumi += lo * b[i].qs[j] + hi * b[i].qs[j + 16];
        }
        sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(sumi) +
               fp16_to_f32(a[i].m) * fp16_to_f32(b[i].s);
    }
    return sum;
}

float vec_dot_q8_0(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ8_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQk; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQk; ++j) sumi += a[i].qs[j] * b[i].qs[j];
        sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

// ---- vec_dot_f32

float vec_dot_f32_q4_0(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQk, sizeof(BlockQ4_0), dequantize_q4_0>(n, w, x);
}
float vec_dot_f32_q4_1(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQk, sizeof(BlockQ4_1), dequantize_q4_1>(n, w, x);
}
float vec_dot_f32_q5_0(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQk, sizeof(BlockQ5_0), dequantize_q5_0>(n, w, x);
}
float vec_dot_f32_q5_1(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQk, sizeof(BlockQ5_1), dequantize_q5_1>(n, w, x);
}
float vec_dot_f32_q8_0(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQk, sizeof(BlockQ8_0), dequantize_q8_0>(n, w, x);
}
float vec_dot_f32_q8_1(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQk, sizeof(BlockQ8_1), dequantize_q8_1>(n, w, x);
}

}  // namespace kvscope::cpu
