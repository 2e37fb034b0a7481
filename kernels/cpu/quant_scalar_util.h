#pragma once
// Helpers shared by the scalar row kernels (quant_scalar_*.cpp). Internal linkage throughout
// (see kernels/fp16.h on why).

#include <cstddef>
#include <cstdint>

namespace kvscope::cpu {
namespace {

// vec_dot_f32 of a block type: dequantise one block into a stack buffer, dot it with x.
template <int kBlockElems, std::size_t kBlockBytes, void (*Dequantize)(const void*, float*, std::int64_t)>
float dot_dequantized(std::int64_t n, const void* w, const float* x) {
    float buf[kBlockElems];
    const auto* block = static_cast<const std::uint8_t*>(w);
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n; i += kBlockElems, block += kBlockBytes) {
        Dequantize(block, buf, kBlockElems);
        float part = 0.0f;
        for (int j = 0; j < kBlockElems; ++j) part += buf[j] * x[i + j];
        sum += part;
    }
    return sum;
}

}  // namespace
}  // namespace kvscope::cpu
