#pragma once
// Weight quantisers of the K-quants (Q4_K, Q5_K, Q6_K). Not ggml's code and not bit-identical
// to it: each sub-block gets a least-squares (scale, min) from a small search over candidate
// grids, then the super-block scales are quantised to 6 (Q4_K/Q5_K) or 8 (Q6_K) bits and the
// elements are re-quantised against the scales as stored.
//
// They run when a model is written and when weights are re-quantised at load, so the search runs
// kLanes candidate grids side by side, one vector lane each, over the elements of a sub-block,
// then each lane's least-squares fit and its squared error from the grid's sums. Compiled once
// per target: quant_k_quantize.cpp (baseline) and quant_k_quantize_avx2.cpp. Both with
// -ffp-contract=off (no fused multiply-adds) and only lane-wise arithmetic in a fixed order, so
// every level writes the same bytes for the same weights (quant_simd_test checks it). Internal
// linkage throughout: each file gets its own copy, compiled with its own flags.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace kvscope::cpu {
namespace {

// Candidate grids searched together: one register's worth of floats. Each lane is one grid and
// the best is picked in grid order, so the width changes the speed, never the result.
#ifdef __AVX2__
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif

// kLanes floats as one value (GCC/Clang vector extension): arithmetic and comparisons are
// lane-wise, `c ? a : b` selects per lane.
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));

inline Lanes splat(float v) {
    return Lanes{} + v;
}

// round_to_int's rounding (ties to even, |v| < 2^22), kept in float
inline Lanes round_even(Lanes v) {
    return (v + splat(12582912.0f)) - splat(12582912.0f);
}

inline Lanes clamp_lanes(Lanes v, Lanes lo, Lanes hi) {
    const Lanes above = v < lo ? lo : v;
    return above > hi ? hi : above;
}

// Asymmetric fit of a 32-element sub-block as scale * q - min, q in 0..nmax, scale >= 0,
// min >= 0 (ranges that do not contain 0 are widened to it, so min stays a subtraction). Tries
// the grids q = round(iscale * (x - lo)) for iscale = nmax / (hi - lo) (with its own scale and
// offset) and iscale = (nmax + rmin + rdelta * step) / (hi - lo), step 0..nstep (with the
// least-squares scale and offset of their q), and keeps the one of smallest squared error, which
// comes from each grid's sums of q, q^2 and q x. Returns scale, and min in *min_out; the quants
// are found later, against the scales as stored.
float fit_scale_min(const float* x, int nmax, float rmin, float rdelta, int nstep, float* min_out) {
    constexpr int n = 32;
    float lo = x[0], hi = x[0], sum_x = 0.0f, sum_x2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
        sum_x += x[i];
        sum_x2 += x[i] * x[i];
    }
    lo = std::min(lo, 0.0f);
    if (hi == lo) {  // all equal (and <= 0): q = 0, x = -min
        *min_out = -lo;
        return 0.0f;
    }
    const auto nmax_f = static_cast<float>(nmax);
    float best_scale = (hi - lo) / nmax_f, best_offset = lo, best_err = INFINITY;
    const int num_grids = nstep + 2;  // grid 0: the plain min/max one; grid c: step c - 1
    for (int first = 0; first < num_grids; first += kLanes) {
        Lanes iscale;
        for (int j = 0; j < kLanes; ++j) {
            const int step = std::min(first + j, num_grids - 1) - 1;  // lanes past the end repeat the last
            iscale[j] = (nmax_f + (step < 0 ? 0.0f : rmin + rdelta * static_cast<float>(step))) / (hi - lo);
        }
        Lanes l{}, l2{}, lx{};
        for (int i = 0; i < n; ++i) {
            const Lanes q = clamp_lanes(round_even(iscale * splat(x[i] - lo)), splat(0.0f), splat(nmax_f));
            l += q;
            l2 += q * q;
            lx += q * splat(x[i]);
        }
        // least squares of x ~ s q + o, with o <= 0 (else o = 0 and s through the origin); det
        // is exact (sums of small integers)
        const Lanes det = splat(n) * l2 - l * l;
        const Lanes inv_det = splat(1.0f) / (det > splat(0.0f) ? det : splat(1.0f));
        const Lanes ls_offset = (l2 * splat(sum_x) - l * lx) * inv_det;
        const Lanes ls_scale = (splat(n) * lx - splat(sum_x) * l) * inv_det;
        const Lanes origin_scale = lx / (l2 > splat(0.0f) ? l2 : splat(1.0f));
        Lanes scale = ls_offset > splat(0.0f) ? origin_scale : ls_scale;
        Lanes offset = ls_offset > splat(0.0f) ? splat(0.0f) : ls_offset;
        if (first == 0) {  // the plain grid keeps its own scale and offset
            scale[0] = 1.0f / iscale[0];
            offset[0] = lo;
        }
        // sum (s q + o - x)^2 over the sub-block, expanded
        const Lanes sq_err = scale * scale * l2 + splat(2.0f) * scale * offset * l - splat(2.0f) * scale * lx +
                             splat(n) * offset * offset - splat(2.0f) * offset * splat(sum_x) + splat(sum_x2);
        Lanes err = det > splat(0.0f) ? sq_err : splat(INFINITY);  // no fit where every q is equal
        if (first == 0) err[0] = sq_err[0];
        for (int j = 0; j < kLanes; ++j) {
            if (err[j] < best_err) {
                best_err = err[j];
                best_scale = scale[j];
                best_offset = offset[j];
            }
        }
    }
    *min_out = -best_offset;
    return best_scale;
}

// Symmetric fit of a 16-element sub-block as scale * q, q in -nmax..nmax-1 (scale may be
// negative: the value of largest magnitude maps to -nmax), over the grids iscale =
// -(nmax + 0.1 * step) / max, step -9..9. Returns scale; q is not kept (re-quantised later).
float fit_scale_symmetric(const float* x, int nmax) {
    constexpr int n = 16, kFirstStep = -9, kNumGrids = 19;
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    if (amax < 1e-30f) return 0.0f;
    const auto nmax_f = static_cast<float>(nmax);
    float best_scale = -max / nmax_f;
    float best_score = -1.0f;  // (sum q x)^2 / sum q^2: larger is a smaller squared error
    for (int first = 0; first < kNumGrids; first += kLanes) {
        Lanes iscale;
        for (int j = 0; j < kLanes; ++j) {
            const int step = kFirstStep + std::min(first + j, kNumGrids - 1);
            iscale[j] = -(nmax_f + 0.1f * static_cast<float>(step)) / max;
        }
        Lanes lx{}, l2{};
        for (int i = 0; i < n; ++i) {
            const Lanes q = clamp_lanes(round_even(iscale * splat(x[i])), splat(-nmax_f), splat(nmax_f - 1.0f));
            lx += q * splat(x[i]);
            l2 += q * q;
        }
        for (int j = 0; j < kLanes; ++j) {
            if (l2[j] > 0.0f && lx[j] * lx[j] / l2[j] > best_score) {
                best_score = lx[j] * lx[j] / l2[j];
                best_scale = lx[j] / l2[j];
            }
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
        scales[s] = fit_scale_min(x + 32 * s, nmax, rmin, rdelta, nstep, &mins[s]);
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

inline void quantize_q4_k_blocks(const float* src, void* dst, std::int64_t n) {
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

inline void quantize_q5_k_blocks(const float* src, void* dst, std::int64_t n) {
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

inline void quantize_q6_k_blocks(const float* src, void* dst, std::int64_t n) {
    auto* b = static_cast<BlockQ6_K*>(dst);
    for (std::int64_t i = 0; i < n / kQkK; ++i, src += kQkK) {
        // 16 sub-block scales, quantised to int8 against the one of largest magnitude (-> -128)
        float scales[16];
        float max_scale = 0.0f, max_abs = 0.0f;
        for (int s = 0; s < 16; ++s) {
            scales[s] = fit_scale_symmetric(src + 16 * s, 32);
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

}  // namespace
}  // namespace kvscope::cpu
