// Scalar row kernels of the float types F32, F16 and BF16 (activations stay f32 for them).

#include <cstdint>
#include <cstring>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/fp16.h"

namespace kvscope::cpu {
namespace {

// sum_i w[i] * x[i] with w converted by `to_f32`; four partial sums, as the SIMD paths keep lanes
template <typename W, float (*ToF32)(W)>
float dot_converted(std::int64_t n, const W* w, const float* x) {
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int k = 0; k < 4; ++k) acc[k] += ToF32(w[i + k]) * x[i + k];
    }
    for (; i < n; ++i) acc[0] += ToF32(w[i]) * x[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float identity(float v) {
    return v;
}
float from_fp16(std::uint16_t v) {
    return fp16_to_f32(v);
}
float from_bf16(std::uint16_t v) {
    return bf16_to_f32(v);
}

}  // namespace

void dequantize_f32(const void* src, float* dst, std::int64_t n) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
}

void dequantize_f16(const void* src, float* dst, std::int64_t n) {
    const auto* w = static_cast<const std::uint16_t*>(src);
    for (std::int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(w[i]);
}

void dequantize_bf16(const void* src, float* dst, std::int64_t n) {
    const auto* w = static_cast<const std::uint16_t*>(src);
    for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(w[i]);
}

void quantize_f32(const float* src, void* dst, std::int64_t n) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
}

void quantize_f16(const float* src, void* dst, std::int64_t n) {
    auto* w = static_cast<std::uint16_t*>(dst);
    for (std::int64_t i = 0; i < n; ++i) w[i] = f32_to_fp16(src[i]);
}

void quantize_bf16(const float* src, void* dst, std::int64_t n) {
    auto* w = static_cast<std::uint16_t*>(dst);
    for (std::int64_t i = 0; i < n; ++i) w[i] = f32_to_bf16(src[i]);
}

float vec_dot_f32_f32(std::int64_t n, const void* w, const float* x) {
    return dot_converted<float, identity>(n, static_cast<const float*>(w), x);
}

float vec_dot_f32_f16(std::int64_t n, const void* w, const float* x) {
    return dot_converted<std::uint16_t, from_fp16>(n, static_cast<const std::uint16_t*>(w), x);
}

float vec_dot_f32_bf16(std::int64_t n, const void* w, const float* x) {
    return dot_converted<std::uint16_t, from_bf16>(n, static_cast<const std::uint16_t*>(w), x);
}

float vec_dot_f32(std::int64_t n, const void* w, const void* x) {
    return vec_dot_f32_f32(n, w, static_cast<const float*>(x));
}

float vec_dot_f16(std::int64_t n, const void* w, const void* x) {
    return vec_dot_f32_f16(n, w, static_cast<const float*>(x));
}

float vec_dot_bf16(std::int64_t n, const void* w, const void* x) {
    return vec_dot_f32_bf16(n, w, static_cast<const float*>(x));
}

}  // namespace kvscope::cpu
