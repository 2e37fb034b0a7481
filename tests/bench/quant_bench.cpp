// Row kernels: vec_dot and vec_dot_f32 of a 4096-element row per type and SIMD level
// (bytes/s = weight bytes read), and activation quantisation (bytes/s = f32 bytes read).
// One row stays in cache: this measures the kernels' compute rate, not memory bandwidth.
//
//   ./build/tests/quant_bench --benchmark_filter=VecDot/avx2

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/quant.h"

namespace kvscope {
namespace {

constexpr std::int64_t kRow = 4096;

std::vector<float> random_row(std::int64_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

std::vector<std::uint8_t> quantized(TensorType type, const std::vector<float>& x) {
    std::vector<std::uint8_t> bytes(row_bytes(type, static_cast<std::int64_t>(x.size())));
    type_kernels(type, SimdLevel::Scalar).quantize(x.data(), bytes.data(), static_cast<std::int64_t>(x.size()));
    return bytes;
}

void vec_dot(benchmark::State& state, TensorType type, SimdLevel level) {
    const TypeKernels& k = type_kernels(type, level);
    const auto w = quantized(type, random_row(kRow, 1));
    const auto x = quantized(k.vec_dot_type, random_row(kRow, 2));
    for (auto _ : state) benchmark::DoNotOptimize(k.vec_dot(kRow, w.data(), x.data()));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(w.size()));
}

void vec_dot_f32(benchmark::State& state, TensorType type, SimdLevel level) {
    const TypeKernels& k = type_kernels(type, level);
    const auto w = quantized(type, random_row(kRow, 1));
    const auto x = random_row(kRow, 2);
    for (auto _ : state) benchmark::DoNotOptimize(k.vec_dot_f32(kRow, w.data(), x.data()));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(w.size()));
}

void quantize(benchmark::State& state, TensorType type, SimdLevel level) {
    const TypeKernels& k = type_kernels(type, level);
    const auto x = random_row(kRow, 3);
    std::vector<std::uint8_t> out(row_bytes(type, kRow));
    for (auto _ : state) {
        k.quantize(x.data(), out.data(), kRow);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * kRow * static_cast<std::int64_t>(sizeof(float)));
}

// "kind/level/type" (appended piecewise: GCC 12 warns falsely on "literal" + std::string)
std::string bench_name(const char* kind, SimdLevel level, TensorType type) {
    std::string name(kind);
    name.append("/").append(simd_level_name(level)).append("/").append(type_name(type));
    return name;
}

const bool kRegistered = [] {
    const TensorType weights[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                                  TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                  TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
    for (int l = 0; l <= static_cast<int>(detect_simd_level()); ++l) {
        const auto level = static_cast<SimdLevel>(l);
        for (TensorType t : weights) {
            benchmark::RegisterBenchmark(bench_name("VecDot", level, t).c_str(), vec_dot, t, level);
            benchmark::RegisterBenchmark(bench_name("VecDotF32", level, t).c_str(), vec_dot_f32, t, level);
        }
        for (TensorType t : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
            benchmark::RegisterBenchmark(bench_name("Quantize", level, t).c_str(), quantize, t, level);
        }
    }
    return true;
}();

}  // namespace
}  // namespace kvscope
