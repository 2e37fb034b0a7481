// Scalar row kernels of the K-quants Q4_K, Q5_K, Q6_K (dequantise, dot with Q8_K, dot with f32)
// and of their activation type Q8_K. The weight quantisers are in quant_k_quantize.cpp.
// Layouts and formulas: kernels/quant_blocks.h.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_scalar_util.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

// Q5_K element 64c + 32h + l (h = 0: low nibble, 1: high nibble), 0..31
int q5_k_quant(const BlockQ5_K& b, int c, int h, int l) {
    const int nibble = h == 0 ? (b.qs[32 * c + l] & 15) : (b.qs[32 * c + l] >> 4);
    return nibble | (((b.qh[l] >> (2 * c + h)) & 1) << 4);
}

// Q6_K element 128h + 32k + l (k = 0..3, l = 0..31), 0..63
int q6_k_quant(const BlockQ6_K& b, int h, int k, int l) {
    const std::uint8_t low = b.ql[64 * h + l + 32 * (k & 1)];
    const int nibble = k < 2 ? (low & 15) : (low >> 4);
    return nibble | (((b.qh[32 * h + l] >> (2 * k)) & 3) << 4);
}

}  // namespace

// ---- dequantize

void dequantize_q4_k(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ4_K*>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const float d = fp16_to_f32(b[i].d);
        const float dmin = fp16_to_f32(b[i].dmin);
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(b[i].scales, sc, mn);
        for (int c = 0; c < 4; ++c, dst += 64) {
            const float d_lo = d * static_cast<float>(sc[2 * c]), m_lo = dmin * static_cast<float>(mn[2 * c]);
            const float d_hi = d * static_cast<float>(sc[2 * c + 1]), m_hi = dmin * static_cast<float>(mn[2 * c + 1]);
            const std::uint8_t* q = b[i].qs + 32 * c;
            for (int l = 0; l < 32; ++l) {
                dst[l] = d_lo * static_cast<float>(q[l] & 15) - m_lo;
                dst[l + 32] = d_hi * static_cast<float>(q[l] >> 4) - m_hi;
            }
        }
    }
}

void dequantize_q5_k(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ5_K*>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const float d = fp16_to_f32(b[i].d);
        const float dmin = fp16_to_f32(b[i].dmin);
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(b[i].scales, sc, mn);
        for (int c = 0; c < 4; ++c, dst += 64) {
            for (int h = 0; h < 2; ++h) {
                const float ds = d * static_cast<float>(sc[2 * c + h]);
                const float dm = dmin * static_cast<float>(mn[2 * c + h]);
                for (int l = 0; l < 32; ++l) dst[32 * h + l] = ds * static_cast<float>(q5_k_quant(b[i], c, h, l)) - dm;
            }
        }
    }
}

void dequantize_q6_k(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ6_K*>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int h = 0; h < 2; ++h, dst += 128) {
            const std::uint8_t* ql = b[i].ql + 64 * h;
            const std::uint8_t* qh = b[i].qh + 32 * h;
            const std::int8_t* sc = b[i].scales + 8 * h;
            for (int l = 0; l < 32; ++l) {
                // element 32k + l of this half is in sub-block 2k + l / 16 (see quant_blocks.h)
                const int s = l / 16;
                const int q0 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * static_cast<float>(sc[s]) * static_cast<float>(q0);
                dst[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q1);
                dst[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q2);
                dst[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q3);
            }
        }
    }
}

void dequantize_q8_k(const void* src, float* dst, std::int64_t n) {
    const auto* b = static_cast<const BlockQ8_K*>(src);
    for (std::int64_t i = 0; i < n / kQkK; ++i, dst += kQkK) {
        for (int j = 0; j < kQkK; ++j) dst[j] = b[i].d * static_cast<float>(b[i].qs[j]);
    }
}

// ---- Q8_K activations: symmetric 8-bit, f32 scale, sums of 16 for the mins of Q4_K/Q5_K

void quantize_q8_k(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ8_K*>(dst);
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        float amax = 0.0f;
        for (int j = 0; j < kQkK; ++j) amax = std::fmax(amax, std::fabs(src[j]));
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        for (int j = 0; j < kQkK; ++j) {
            b[i].qs[j] = static_cast<std::int8_t>(std::clamp(round_to_int(src[j] * id), -127, 127));
        }
        for (int g = 0; g < kQkK / 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * g + l];
            b[i].bsums[g] = static_cast<std::int16_t>(sum);
        }
    }
}

// ---- vec_dot with Q8_K

float vec_dot_q4_k(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(a[i].scales, sc, mn);
        // sum_j (d sc q_j - dmin mn) y_j: the mins only need the sums of y per sub-block
        int sum_mins = 0;
        for (int s = 0; s < 8; ++s) sum_mins += mn[s] * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
        int sumi = 0;
        for (int c = 0; c < 4; ++c) {
            const std::uint8_t* q = a[i].qs + 32 * c;
            const std::int8_t* y = b[i].qs + 64 * c;
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; ++l) {
                lo += (q[l] & 15) * y[l];
                hi += (q[l] >> 4) * y[l + 32];
            }
            sumi += sc[2 * c] * lo + sc[2 * c + 1] * hi;
        }
        sum += b[i].d *
               (fp16_to_f32(a[i].d) * static_cast<float>(sumi) - fp16_to_f32(a[i].dmin) * static_cast<float>(sum_mins));
    }
    return sum;
}

float vec_dot_q5_k(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        std::uint8_t sc[8], mn[8];
        unpack_k4_scales_mins(a[i].scales, sc, mn);
        int sum_mins = 0;
        for (int s = 0; s < 8; ++s) sum_mins += mn[s] * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
        int sumi = 0;
        for (int c = 0; c < 4; ++c) {
            for (int h = 0; h < 2; ++h) {
                const std::int8_t* y = b[i].qs + 64 * c + 32 * h;
                int part = 0;
                for (int l = 0; l < 32; ++l) part += q5_k_quant(a[i], c, h, l) * y[l];
                sumi += sc[2 * c + h] * part;
            }
        }
        sum += b[i].d *
               (fp16_to_f32(a[i].d) * static_cast<float>(sumi) - fp16_to_f32(a[i].dmin) * static_cast<float>(sum_mins));
    }
    return sum;
}

float vec_dot_q6_k(std::int64_t n, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n / kQkK; ++i) {
        int sumi = 0;
        for (int h = 0; h < 2; ++h) {
            for (int k = 0; k < 4; ++k) {
                const std::int8_t* y = b[i].qs + 128 * h + 32 * k;
                for (int half = 0; half < 2; ++half) {
                    int part = 0;
                    for (int l = 16 * half; l < 16 * half + 16; ++l) part += (q6_k_quant(a[i], h, k, l) - 32) * y[l];
                    sumi += a[i].scales[8 * h + 2 * k + half] * part;
                }
            }
        }
        sum += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(sumi);
    }
    return sum;
}

// ---- vec_dot_f32

float vec_dot_f32_q4_k(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQkK, sizeof(BlockQ4_K), dequantize_q4_k>(n, w, x);
}
float vec_dot_f32_q5_k(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQkK, sizeof(BlockQ5_K), dequantize_q5_k>(n, w, x);
}
float vec_dot_f32_q6_k(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQkK, sizeof(BlockQ6_K), dequantize_q6_k>(n, w, x);
}
float vec_dot_f32_q8_k(std::int64_t n, const void* w, const float* x) {
    return dot_dequantized<kQkK, sizeof(BlockQ8_K), dequantize_q8_k>(n, w, x);
}

}  // namespace kvscope::cpu
