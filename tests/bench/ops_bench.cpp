// The small per-token operations of a forward pass at TinyLlama-1.1B's sizes, per SIMD level:
// RMSNorm of a 2048-wide row, SwiGLU over 5632 values, softmax over a 2048-long score row, and
// RoPE of one token's 32 query heads of 64. bytes_per_second counts the f32 bytes read.
//
//   ./build/tests/ops_bench --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"

namespace kvscope {
namespace {

std::vector<float> random_values(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

void rms_norm_bench(benchmark::State& state, SimdLevel level) {
    constexpr std::int64_t kDim = 2048;
    const auto x = random_values(kDim, 1), w = random_values(kDim, 2);
    std::vector<float> y(kDim);
    for (auto _ : state) {
        rms_norm(x.data(), w.data(), y.data(), 1, kDim, 1e-5f, level);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(state.iterations() * 2 * kDim * 4);
}

void swiglu_bench(benchmark::State& state, SimdLevel level) {
    constexpr std::int64_t kFfn = 5632;
    const auto g = random_values(kFfn, 3), u = random_values(kFfn, 4);
    std::vector<float> out(kFfn);
    for (auto _ : state) {
        swiglu(g.data(), u.data(), out.data(), kFfn, level);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * 2 * kFfn * 4);
}

void softmax_bench(benchmark::State& state, SimdLevel level) {
    constexpr std::int64_t kLen = 2048;
    const auto x = random_values(kLen, 5);
    std::vector<float> y(kLen);
    for (auto _ : state) {
        y = x;
        softmax(y.data(), kLen, level);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(state.iterations() * kLen * 4);
}

void rope_bench(benchmark::State& state) {
    constexpr int kHeads = 32, kHeadDim = 64;
    const RopeTable table(kHeadDim, 10000.0f);
    const std::int32_t positions[] = {1234};
    std::vector<float> cos_sin(kHeadDim);
    auto q = random_values(kHeads * kHeadDim, 6);
    for (auto _ : state) {
        table.rope_cos_sin(positions, cos_sin.data());
        apply_rope(RopeStyle::Normal, q.data(), 1, kHeads, kHeadDim, kHeadDim, cos_sin.data());
        benchmark::DoNotOptimize(q.data());
    }
    state.SetBytesProcessed(state.iterations() * kHeads * kHeadDim * 4);
}

const bool kRegistered = [] {
    for (int l = 0; l <= static_cast<int>(detect_simd_level()); ++l) {
        const auto level = static_cast<SimdLevel>(l);
        const std::string suffix = "/" + std::string(simd_level_name(level));
        benchmark::RegisterBenchmark(("RmsNorm2048" + suffix).c_str(), rms_norm_bench, level);
        benchmark::RegisterBenchmark(("SwiGlu5632" + suffix).c_str(), swiglu_bench, level);
        benchmark::RegisterBenchmark(("Softmax2048" + suffix).c_str(), softmax_bench, level);
    }
    benchmark::RegisterBenchmark("Rope32x64", rope_bench);
    return true;
}();

}  // namespace
}  // namespace kvscope
