#pragma once
// Helpers of the row-kernel tests (quant_*_test.cpp): random rows, quantise/dequantise into
// vectors at a given SIMD level, a double-precision dot product.

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/quant.h"

namespace kvscope::test {

inline const std::vector<TensorType>& weight_types() {
    static const std::vector<TensorType> types = {
        TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
        TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
    return types;
}

inline std::int64_t block_elems(TensorType type) {
    return type_info(type).block_elems;
}

// n values ~ N(mean, sigma^2)
inline std::vector<float> random_row(std::int64_t n, unsigned seed, float mean = 0.0f, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(mean, sigma);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

inline std::vector<std::uint8_t> quantize(TensorType type, const std::vector<float>& x,
                                          SimdLevel level = SimdLevel::Scalar) {
    const auto n = static_cast<std::int64_t>(x.size());
    std::vector<std::uint8_t> bytes(row_bytes(type, n));
    type_kernels(type, level).quantize(x.data(), bytes.data(), n);
    return bytes;
}

inline std::vector<float> dequantize(TensorType type, const std::vector<std::uint8_t>& bytes, std::int64_t n,
                                     SimdLevel level = SimdLevel::Scalar) {
    std::vector<float> out(static_cast<std::size_t>(n));
    type_kernels(type, level).dequantize(bytes.data(), out.data(), n);
    return out;
}

inline double dot_double(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
    return s;
}

inline double abs_dot_double(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += std::fabs(static_cast<double>(a[i]) * b[i]);
    return s;
}

// The x of a 4-row dot: 4 Q8_K rows of n elements one after the other (row 1 off-centre), from
// seeds first_seed .. first_seed + 3. The stride is a quarter of the size.
inline std::vector<std::uint8_t> four_q8_k_rows(std::int64_t n, unsigned first_seed) {
    std::vector<std::uint8_t> x;
    for (unsigned t = 0; t < 4; ++t) {
        const auto row = quantize(TensorType::Q8_K, random_row(n, first_seed + t, t == 1 ? -0.5f : 0.0f));
        x.insert(x.end(), row.begin(), row.end());
    }
    return x;
}

}  // namespace kvscope::test
