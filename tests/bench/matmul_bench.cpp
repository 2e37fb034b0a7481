// matmul per weight type at the shapes of a TinyLlama-1.1B layer (dim 2048, ffn 5632):
//   Decode/<type>/<layout>/threads:T   one activation row (a decode step). The weights rotate
//       through copies totalling more than 256 MiB, so every call streams them from DRAM, as a
//       decode step does: bytes_per_second is the weight bytes read (compare with bench roofline).
//   Prefill/<type>/<layout>/threads:T  512 activation rows against a 2048 x 2048 weight (which
//       stays in cache): items_per_second is multiply-adds, tokens_per_second activation rows.
//   Batch/<type>/<layout>/{ffn,down}/rows:R/threads:T   R activation rows (a batched decode step of R
//       sequences) against weights streamed from DRAM as in Decode (ffn: 5632 x 2048, down:
//       2048 x 5632, whose activation rows are 2.75x longer): a call reads the weights once
//       for all R rows, so its time should grow far slower than R (bench batched, batch R vs 1).
//       The CPU column is the whole process's CPU time (both threads): it separates the work from
//       what other processes on a loaded machine take.
// <layout>: packed (Q4_0/Q8_0/Q4_K/Q5_K in groups of 8 rows) or stored (row by row vec_dot).
//
//   ./build/tests/matmul_bench --benchmark_filter='Decode/Q4_0' --benchmark_min_time=1

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/packed_weight.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace kvscope {
namespace {

constexpr std::int64_t kDim = 2048, kFfn = 5632;
constexpr std::size_t kStreamBytes = std::size_t{256} << 20;

struct Free {
    void operator()(void* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<std::uint8_t[], Free>;

Bytes allocate(std::size_t bytes) {
    return Bytes(static_cast<std::uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
}

// `copies` weights of rows x cols of `type`, packed when asked and possible.
struct Weights {
    std::vector<Bytes> stored, packed;
    std::vector<MatmulWeight> list;
};

Weights make_weights(TensorType type, std::int64_t rows, std::int64_t cols, int copies, bool pack) {
    Weights w;
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> row(static_cast<std::size_t>(cols));
    const std::size_t rb = row_bytes(type, cols);
    for (int c = 0; c < copies; ++c) {
        w.stored.push_back(allocate(rb * rows));
        for (std::int64_t r = 0; r < rows; ++r) {
            if (c == 0 || r < 8) {
                for (float& v : row) v = dist(rng);
            }
            quantize_row(type, row.data(), w.stored.back().get() + r * rb, cols);
        }
        MatmulWeight m{WeightTensor{type, rows, cols, w.stored.back().get()}};
        if (pack && packed_format(m.w) != PackedFormat::None) {
            w.packed.push_back(allocate(packed_bytes(m.w)));
            pack_weight(m.w, w.packed.back().get(), 0, rows / kPackRows);
            m.format = packed_format(m.w);
            m.packed = w.packed.back().get();
        }
        w.list.push_back(m);
    }
    return w;
}

void decode(benchmark::State& state, TensorType type, bool pack, std::int64_t rows, std::int64_t cols) {
    ThreadPool pool(static_cast<int>(state.range(0)));
    const std::size_t bytes = static_cast<std::size_t>(rows) * row_bytes(type, cols);
    const int copies = static_cast<int>(kStreamBytes / bytes + 1);
    const Weights w = make_weights(type, rows, cols, copies, pack);
    std::vector<float> x(static_cast<std::size_t>(cols), 0.5f), y(static_cast<std::size_t>(rows));
    const Bytes scratch = allocate(matmul_scratch_bytes(w.list[0], 1));
    std::size_t i = 0;
    for (auto _ : state) {
        matmul(pool, w.list[i], x.data(), 1, y.data(), scratch.get());
        i = (i + 1) % w.list.size();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void batch(benchmark::State& state, TensorType type, bool pack, std::int64_t rows, std::int64_t cols) {
    const std::int64_t num_x = state.range(0);
    ThreadPool pool(static_cast<int>(state.range(1)));
    const std::size_t bytes = static_cast<std::size_t>(rows) * row_bytes(type, cols);
    const int copies = static_cast<int>(kStreamBytes / bytes + 1);
    const Weights w = make_weights(type, rows, cols, copies, pack);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(num_x * cols)), y(static_cast<std::size_t>(num_x * rows));
    for (float& v : x) v = dist(rng);
    const Bytes scratch = allocate(matmul_scratch_bytes(w.list[0], num_x));
    std::size_t i = 0;
    for (auto _ : state) {
        matmul(pool, w.list[i], x.data(), num_x, y.data(), scratch.get());
        i = (i + 1) % w.list.size();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
    state.SetItemsProcessed(state.iterations() * num_x * rows * cols);
}

void prefill(benchmark::State& state, TensorType type, bool pack) {
    constexpr std::int64_t kTokens = 512;
    ThreadPool pool(static_cast<int>(state.range(0)));
    const Weights w = make_weights(type, kDim, kDim, 1, pack);
    std::mt19937 rng(2);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(kTokens * kDim)), y(static_cast<std::size_t>(kTokens * kDim));
    for (float& v : x) v = dist(rng);
    const Bytes scratch = allocate(matmul_scratch_bytes(w.list[0], kTokens));
    for (auto _ : state) matmul(pool, w.list[0], x.data(), kTokens, y.data(), scratch.get());
    state.SetItemsProcessed(state.iterations() * kTokens * kDim * kDim);
    state.counters["tokens_per_second"] =
        benchmark::Counter(double(state.iterations() * kTokens), benchmark::Counter::kIsRate);
}

std::string name(const char* kind, TensorType type, bool pack, const char* shape = "") {
    std::string s(kind);
    s.append("/").append(type_name(type)).append(pack ? "/packed" : "/stored").append(shape);
    return s;
}

const bool kRegistered = [] {
    const TensorType types[] = {TensorType::F32,  TensorType::F16,  TensorType::Q8_0,
                                TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K};
    for (TensorType t : types) {
        const bool packs = packed_format(WeightTensor{t, 8, 256, nullptr}) != PackedFormat::None;
        for (bool pack : {false, true}) {
            if (pack && !packs) continue;
            benchmark::RegisterBenchmark(name("Decode", t, pack, "/ffn").c_str(), decode, t, pack, kFfn, kDim)
                ->Arg(1)
                ->Arg(2)
                ->ArgName("threads")
                ->UseRealTime();
            for (const bool down : {false, true}) {
                benchmark::RegisterBenchmark(name("Batch", t, pack, down ? "/down" : "/ffn").c_str(), batch, t, pack,
                                             down ? kDim : kFfn, down ? kFfn : kDim)
                    ->ArgsProduct({{1, 2, 4, 8, 16}, {1, 2}})
                    ->ArgNames({"rows", "threads"})
                    ->UseRealTime()
                    ->MeasureProcessCPUTime()
                    ->Unit(benchmark::kMillisecond);
            }
            benchmark::RegisterBenchmark(name("Prefill", t, pack).c_str(), prefill, t, pack)
                ->Arg(1)
                ->Arg(2)
                ->ArgName("threads")
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        }
    }
    return true;
}();

}  // namespace
}  // namespace kvscope
