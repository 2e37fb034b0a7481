// Weight quantisers of the K-quants (Q4_K, Q5_K, Q6_K). Not ggml's code and not bit-identical
// to it: each sub-block gets a least-squares (scale, min) from a small search over candidate
// grids, then the super-block scales are quantised to 6 (Q4_K/Q5_K) or 8 (Q6_K) bits and the
// elements are re-quantised against the scales as stored. Speed is secondary here: these run
// when a model is written, not per token.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

// Asymmetric fit of x[0..n) as scale * q - min, q in 0..nmax, scale >= 0, min >= 0 (ranges
// that do not contain 0 are widened to it, so min stays a subtraction). Tries the grids
// q = round(iscale * (x - lo)) for iscale around nmax / (hi - lo) and keeps the least-squares
// (scale, min) of the best one. Writes q to L; returns scale, min in *min_out.
float fit_scale_min(const float* x, int n, int nmax, float rmin, float rdelta, int nstep, std::uint8_t* L,
                    float* min_out) {
    float lo = *std::min_element(x, x + n);
    const float hi = *std::max_element(x, x + n);
    lo = std::min(lo, 0.0f);
    if (hi == lo) {  // all equal (and <= 0): q = 0, x = -min
        std::fill(L, L + n, std::uint8_t{0});
        *min_out = -lo;
        return 0.0f;
    }
    std::uint8_t trial[kQkK];
    float best_scale = (hi - lo) / static_cast<float>(nmax), best_offset = lo;
    float best_err = INFINITY;
    for (int step = -1; step <= nstep; ++step) {
        // step -1: the plain min/max grid with its own (scale, offset)
        const float iscale = (static_cast<float>(nmax) + (step < 0 ? 0.0f : rmin + rdelta * step)) / (hi - lo);
        double sum_l = 0, sum_l2 = 0, sum_x = 0, sum_lx = 0;
        for (int i = 0; i < n; ++i) {
            const int q = std::clamp(round_to_int(iscale * (x[i] - lo)), 0, nmax);
            trial[i] = static_cast<std::uint8_t>(q);
            sum_l += q;
            sum_l2 += q * q;
            sum_x += x[i];
            sum_lx += q * x[i];
        }
        float scale = 1.0f / iscale, offset = lo;
        if (step >= 0) {
            // least squares of x ~ scale * q + offset, with offset <= 0
            const double det = n * sum_l2 - sum_l * sum_l;
            if (det <= 0) continue;
            scale = static_cast<float>((n * sum_lx - sum_x * sum_l) / det);
            offset = static_cast<float>((sum_l2 * sum_x - sum_l * sum_lx) / det);
            if (offset > 0.0f) {
                offset = 0.0f;
                scale = static_cast<float>(sum_lx / sum_l2);
            }
        }
        float err = 0.0f;
        for (int i = 0; i < n; ++i) {
            const float diff = scale * static_cast<float>(trial[i]) + offset - x[i];
            err += diff * diff;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = scale;
            best_offset = offset;
            std::memcpy(L, trial, static_cast<std::size_t>(n));
        }
    }
    *min_out = -best_offset;
    return best_scale;
}

// Symmetric fit of x[0..n) as scale * q, q in -nmax..nmax-1 (scale may be negative: the value
// of largest magnitude maps to -nmax). Returns scale; q is not kept (re-quantised later).
float fit_scale_symmetric(const float* x, int n, int nmax) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    if (amax < 1e-30f) return 0.0f;
    float best_scale = -max / static_cast<float>(nmax);
    float best_score = -1.0f;  // (sum q x)^2 / sum q^2: larger is a smaller squared error
    for (int step = -9; step <= 9; ++step) {
        const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
        double sum_lx = 0, sum_l2 = 0;
        for (int i = 0; i < n; ++i) {
            const int q = std::clamp(round_to_int(iscale * x[i]), -nmax, nmax - 1);
            sum_lx += q * x[i];
            sum_l2 += q * q;
        }
        if (sum_l2 > 0 && sum_lx * sum_lx / sum_l2 > best_score) {
            best_score = static_cast<float>(sum_lx * sum_lx / sum_l2);
            best_scale = static_cast<float>(sum_lx / sum_l2);
        }
    }
    return best_scale;
}

// Q4_K / Q5_K: sub-block fits, 6-bit scales and mins, then the final quants q[256] in 0..nmax.
void quantize_k4_superblock(const float* x, int nmax, float rmin, float rdelta, int nstep, std::uint16_t* d_out,
                            std::uint16_t* dmin_out, std::uint8_t* scales_out, std::uint8_t* q) {
    float scales[8], mins[8];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 8; ++s) {
        scales[s] = fit_scale_min(x + 32 * s, 32, nmax, rmin, rdelta, nstep, q + 32 * s, &mins[s]);
        max_scale = std::max(max_scale, scales[s]);
        max_min = std::max(max_min, mins[s]);
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    std::uint8_t sc[8], mn[8];
    for (int s = 0; s < 8; ++s) {
        sc[s] = static_cast<std::uint8_t>(std::min(63, round_to_int(inv_scale * scales[s])));
        mn[s] = static_cast<std::uint8_t>(std::min(63, round_to_int(inv_min * mins[s])));
    }
    *d_out = f32_to_fp16(max_scale / 63.0f);
    *dmin_out = f32_to_fp16(max_min / 63.0f);
    pack_k4_scale_min(sc, mn, scales_out);
    // re-quantise against the scales as a reader will see them
    const float d = fp16_to_f32(*d_out), dmin = fp16_to_f32(*dmin_out);
    for (int s = 0; s < 8; ++s) {
        const float ds = d * static_cast<float>(sc[s]);
        const float dm = dmin * static_cast<float>(mn[s]);
        for (int l = 0; l < 32; ++l) {
            const int v = ds != 0.0f ? round_to_int((x[32 * s + l] + dm) / ds) : 0;
            q[32 * s + l] = static_cast<std::uint8_t>(std::clamp(v, 0, nmax));
        }
    }
}

}  // namespace

void quantize_q4_k(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ4_K*>(dst);
    std::uint8_t q[kQkK];
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        quantize_k4_superblock(src, 15, -1.0f, 0.1f, 20, &b[i].d, &b[i].dmin, b[i].scales, q);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                b[i].qs[32 * c + l] = static_cast<std::uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
            }
        }
    }
}

void quantize_q5_k(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ5_K*>(dst);
    std::uint8_t q[kQkK];
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        quantize_k4_superblock(src, 31, -0.5f, 0.1f, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        std::memset(b[i].qh, 0, sizeof(b[i].qh));
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b[i].qs[32 * c + l] = static_cast<std::uint8_t>((lo & 15) | ((hi & 15) << 4));
                b[i].qh[l] |= static_cast<std::uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
        }
    }
}

void quantize_q6_k(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ6_K*>(dst);
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        // 16 sub-block scales, quantised to int8 against the one of largest magnitude (-> -128)
        float scales[16];
        float max_scale = 0.0f, max_abs = 0.0f;
        for (int s = 0; s < 16; ++s) {
            scales[s] = fit_scale_symmetric(src + 16 * s, 16, 32);
            if (std::fabs(scales[s]) > max_abs) {
                max_abs = std::fabs(scales[s]);
                max_scale = scales[s];
            }
        }
        std::memset(&b[i], 0, sizeof(BlockQ6_K));
        if (max_abs < 1e-30f) continue;  // all zero: d = 0, every quant 0 - 32 times 0
        const float iscale = -128.0f / max_scale;
        b[i].d = f32_to_fp16(1.0f / iscale);
        for (int s = 0; s < 16; ++s) {
            b[i].scales[s] = static_cast<std::int8_t>(std::clamp(round_to_int(iscale * scales[s]), -128, 127));
        }
        // quants against the stored scales, then the ql/qh bit planes
        std::uint8_t q[kQkK];
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQkK; ++j) {
            const float ds = d * static_cast<float>(b[i].scales[j / 16]);
            const int v = ds != 0.0f ? round_to_int(src[j] / ds) : 0;
            q[j] = static_cast<std::uint8_t>(std::clamp(v, -32, 31) + 32);
        }
        for (int h = 0; h < 2; ++h) {
            const std::uint8_t* qq = q + 128 * h;
            for (int l = 0; l < 32; ++l) {
                b[i].ql[64 * h + l] = static_cast<std::uint8_t>((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
                b[i].ql[64 * h + l + 32] = static_cast<std::uint8_t>((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
                b[i].qh[32 * h + l] = static_cast<std::uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                                                ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
            }
        }
    }
}

}  // namespace kvscope::cpu
