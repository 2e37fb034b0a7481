#pragma once
// Dequantisation of GGUF weight rows on the device (and, for the tests, on the host): eight
// consecutive elements at a time, for every computable type. The block layouts are documented
// in kernels/quant_blocks.h; this file reads them byte by byte (blocks are packed, so fields
// are not aligned), as the CPU's dequantize_row does.
//
// Group g of a row is elements 8g .. 8g + 7; rows of a quantised type have a multiple of 32
// (legacy) or 256 (K-quants) elements, so groups never straddle a block.

#include <cstdint>

#include "kernels/cuda/hd.h"
#include "kernels/tensor_type.h"

namespace kvscope::cuda {

// Q4_K / Q5_K: the 6-bit scale and min of sub-block s (0..7) from scales[12].
KV_HD inline void k4_scale_min(const std::uint8_t* scales, int s, float& sc, float& mn) {
    if (s < 4) {
        sc = static_cast<float>(scales[s] & 63);
        mn = static_cast<float>(scales[s + 4] & 63);
    } else {
        sc = static_cast<float>((scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4));
        mn = static_cast<float>((scales[s + 4] >> 4) | ((scales[s] >> 6) << 4));
    }
}

// out[0..7] = elements 8g .. 8g + 7 of a row of type T (row: its first byte).
template <TensorType T>
KV_HD inline void dequant8(const std::uint8_t* row, std::int64_t g, float* out) {
    if constexpr (T == TensorType::F32) {
        for (int i = 0; i < 8; ++i) out[i] = load_f32(row + 4 * (8 * g + i));
    } else if constexpr (T == TensorType::F16) {
        for (int i = 0; i < 8; ++i) out[i] = half_to_float(load_u16(row + 2 * (8 * g + i)));
    } else if constexpr (T == TensorType::BF16) {
        for (int i = 0; i < 8; ++i) out[i] = bf16_to_float(load_u16(row + 2 * (8 * g + i)));
    } else if constexpr (T == TensorType::Q4_0 || T == TensorType::Q4_1) {
        // (d, [m], qs[16]); x = d * (q - 8) or d * q + m; q[j] low nibble of qs[j], q[j + 16] high
        constexpr int kBytes = T == TensorType::Q4_0 ? 18 : 20;
        const std::uint8_t* b = row + (g / 4) * kBytes;
        const int j0 = static_cast<int>(g % 4) * 8;
        const float d = half_to_float(load_u16(b));
        const std::uint8_t* qs = b + (T == TensorType::Q4_0 ? 2 : 4);
        for (int i = 0; i < 8; ++i) {
            const int q = j0 < 16 ? (qs[j0 + i] & 15) : (qs[j0 - 16 + i] >> 4);
            if constexpr (T == TensorType::Q4_0) {
                out[i] = d * static_cast<float>(q - 8);
            } else {
                out[i] = d * static_cast<float>(q) + half_to_float(load_u16(b + 2));
            }
        }
    } else if constexpr (T == TensorType::Q5_0 || T == TensorType::Q5_1) {
        // (d, [m], qh[4], qs[16]); bit 4 of q[j] is bit j of qh
        constexpr int kBytes = T == TensorType::Q5_0 ? 22 : 24;
        const std::uint8_t* b = row + (g / 4) * kBytes;
        const int j0 = static_cast<int>(g % 4) * 8;
        const float d = half_to_float(load_u16(b));
        const std::uint8_t* qh_bytes = b + (T == TensorType::Q5_0 ? 2 : 4);
        const std::uint32_t qh = load_u32(qh_bytes);
        const std::uint8_t* qs = qh_bytes + 4;
        for (int i = 0; i < 8; ++i) {
            const int j = j0 + i;
            const int low = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
            const int q = low | static_cast<int>(((qh >> j) & 1u) << 4);
            if constexpr (T == TensorType::Q5_0) {
                out[i] = d * static_cast<float>(q - 16);
            } else {
                out[i] = d * static_cast<float>(q) + half_to_float(load_u16(b + 2));
            }
        }
    } else if constexpr (T == TensorType::Q8_0) {
        // (d, qs[32]); x = d * qs
        const std::uint8_t* b = row + (g / 4) * 34;
        const int j0 = static_cast<int>(g % 4) * 8;
        const float d = half_to_float(load_u16(b));
        for (int i = 0; i < 8; ++i) out[i] = d * static_cast<float>(static_cast<std::int8_t>(b[2 + j0 + i]));
    } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
        // (d, dmin, scales[12], [qh[32]], qs[128]); chunk c of 64: qs[32c + l] holds element
        // 64c + l (low nibble, sub-block 2c) and 64c + 32 + l (high nibble, sub-block 2c + 1)
        constexpr int kBytes = T == TensorType::Q4_K ? 144 : 176;
        const std::uint8_t* b = row + (g / 32) * kBytes;
        const int e0 = static_cast<int>(g % 32) * 8;  // first element in the super-block
        const int c = e0 / 64;
        const int high = (e0 % 64) >= 32 ? 1 : 0;
        const int l0 = e0 % 32;
        const int s = 2 * c + high;
        float sc, mn;
        k4_scale_min(b + 4, s, sc, mn);
        const float d1 = half_to_float(load_u16(b)) * sc;
        const float m1 = half_to_float(load_u16(b + 2)) * mn;
        const std::uint8_t* qs = b + (T == TensorType::Q4_K ? 16 : 48);
        for (int i = 0; i < 8; ++i) {
            const std::uint8_t byte = qs[32 * c + l0 + i];
            int q = high ? (byte >> 4) : (byte & 15);
            if constexpr (T == TensorType::Q5_K) q |= ((b[16 + l0 + i] >> s) & 1) << 4;  // qh[l]
            out[i] = d1 * static_cast<float>(q) - m1;
        }
    } else if constexpr (T == TensorType::Q6_K) {
        // (ql[128], qh[64], scales[16] int8, d); half h of 128: L = ql + 64h, H = qh + 32h;
        // quarter k of the half (32 elements, l = 0..31): nibble (k >= 2 ? high : low) of
        // L[l + 32 (k & 1)], bits 2k..2k+1 of H[l] as bits 4-5; x = d * scales[e / 16] * (q - 32)
        const std::uint8_t* b = row + (g / 32) * 210;
        const int e0 = static_cast<int>(g % 32) * 8;
        const int h = e0 / 128;
        const int k = (e0 % 128) / 32;
        const int l0 = e0 % 32;
        const std::uint8_t* ql = b + 64 * h;
        const std::uint8_t* qh = b + 128 + 32 * h;
        const float d =
            half_to_float(load_u16(b + 208)) * static_cast<float>(static_cast<std::int8_t>(b[192 + e0 / 16]));
        for (int i = 0; i < 8; ++i) {
            const int l = l0 + i;
            const std::uint8_t lb = ql[l + 32 * (k & 1)];
            const int low = k >= 2 ? (lb >> 4) : (lb & 15);
            const int q = low | (((qh[l] >> (2 * k)) & 3) << 4);
            out[i] = d * static_cast<float>(q - 32);
        }
    }
}

// Calls f.template operator()<T>() for the computable weight type `type` (a switch the compiler
// turns into one branch per call site). False for any other type.
template <class F>
KV_HD inline bool dispatch_weight_type(TensorType type, F&& f) {
    switch (type) {
        case TensorType::F32:
            f.template operator()<TensorType::F32>();
            return true;
        case TensorType::F16:
            f.template operator()<TensorType::F16>();
            return true;
        case TensorType::BF16:
            f.template operator()<TensorType::BF16>();
            return true;
        case TensorType::Q4_0:
            f.template operator()<TensorType::Q4_0>();
            return true;
        case TensorType::Q4_1:
            f.template operator()<TensorType::Q4_1>();
            return true;
        case TensorType::Q5_0:
            f.template operator()<TensorType::Q5_0>();
            return true;
        case TensorType::Q5_1:
            f.template operator()<TensorType::Q5_1>();
            return true;
        case TensorType::Q8_0:
            f.template operator()<TensorType::Q8_0>();
            return true;
        case TensorType::Q4_K:
            f.template operator()<TensorType::Q4_K>();
            return true;
        case TensorType::Q5_K:
            f.template operator()<TensorType::Q5_K>();
            return true;
        case TensorType::Q6_K:
            f.template operator()<TensorType::Q6_K>();
            return true;
        default:
            return false;
    }
}

// One element j of a row of type `type` (any j for the plain types; the slow path, for the
// embedding gather of rows whose length is not a multiple of 8).
KV_HD inline float dequant_one(TensorType type, const std::uint8_t* row, std::int64_t j) {
    switch (type) {
        case TensorType::F32:
            return load_f32(row + 4 * j);
        case TensorType::F16:
            return half_to_float(load_u16(row + 2 * j));
        case TensorType::BF16:
            return bf16_to_float(load_u16(row + 2 * j));
        default:
            break;
    }
    float v[8] = {};
    switch (type) {
        case TensorType::Q4_0:
            dequant8<TensorType::Q4_0>(row, j / 8, v);
            break;
        case TensorType::Q4_1:
            dequant8<TensorType::Q4_1>(row, j / 8, v);
            break;
        case TensorType::Q5_0:
            dequant8<TensorType::Q5_0>(row, j / 8, v);
            break;
        case TensorType::Q5_1:
            dequant8<TensorType::Q5_1>(row, j / 8, v);
            break;
        case TensorType::Q8_0:
            dequant8<TensorType::Q8_0>(row, j / 8, v);
            break;
        case TensorType::Q4_K:
            dequant8<TensorType::Q4_K>(row, j / 8, v);
            break;
        case TensorType::Q5_K:
            dequant8<TensorType::Q5_K>(row, j / 8, v);
            break;
        case TensorType::Q6_K:
            dequant8<TensorType::Q6_K>(row, j / 8, v);
            break;
        default:
            break;
    }
    return v[j % 8];
}

}  // namespace kvscope::cuda
