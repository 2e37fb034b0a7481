// Decode attention for a Llama-3.2-1B-like layer (32 query heads, 8 kv heads, head_dim 64):
// the K/V of each sequence reached through a shuffled block table (block size 16) versus the
// same K/V laid out contiguously (block table 0, 1, 2, ...: the blocks follow each other in
// memory, as an un-paged cache would). Plus the ThreadPool's cost of one parallel region.
//
//   ./build/tests/attention_bench --benchmark_min_time=0.5

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/paged_attention.h"
#include "kernels/thread_pool.h"

namespace kvscope {
namespace {

constexpr int kNumHeads = 32;
constexpr int kNumKvHeads = 8;
constexpr int kHeadDim = 64;
constexpr int kBlockSize = 16;

// num_seqs sequences of `context` tokens, the last query_len of each being queries.
void run_attention_bench(benchmark::State& state, int context, int query_len, bool shuffled, TensorType dtype,
                         int num_threads, int num_seqs) {
    // 1. a cache with exactly the blocks the sequences need, handed out in order or shuffled
    const int blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
    const int num_blocks = blocks_per_seq * num_seqs;
    PagedKvLayer layer{dtype, num_blocks, kBlockSize, kNumKvHeads, kHeadDim, nullptr, nullptr};
    std::vector<std::byte> k(layer.buffer_bytes()), v(layer.buffer_bytes());
    layer.k = k.data();
    layer.v = v.data();
    std::vector<std::int32_t> table(num_blocks);
    std::iota(table.begin(), table.end(), 0);
    std::mt19937 rng(42);
    if (shuffled) std::shuffle(table.begin(), table.end(), rng);

    // 2. fill every slot with random K/V
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> rows(std::size_t(num_blocks) * kBlockSize * kNumKvHeads * kHeadDim);
    for (auto& x : rows) x = dist(rng);
    std::vector<std::int64_t> slots(std::size_t(num_blocks) * kBlockSize);
    std::iota(slots.begin(), slots.end(), 0);
    write_kv(layer, rows.data(), rows.data(), slots);

    // 3. query_len queries per sequence
    std::vector<std::int32_t> query_start(num_seqs + 1), seq_lens(num_seqs, context);
    for (int s = 0; s <= num_seqs; ++s) query_start[s] = s * query_len;
    std::vector<float> q(std::size_t(num_seqs) * query_len * kNumHeads * kHeadDim), out(q.size());
    for (auto& x : q) x = dist(rng);
    const AttentionBatch batch{query_start, seq_lens, table, blocks_per_seq};

    ThreadPool pool(num_threads);
    std::vector<std::byte> scratch(paged_attention_scratch_bytes(layer, kNumHeads, num_threads, num_seqs));
    const float scale = 1.0f / std::sqrt(float(kHeadDim));
    for (auto _ : state) {
        paged_attention(pool, layer, q.data(), out.data(), batch, kNumHeads, scale, scratch);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    // K and V bytes each call reads (decodes: every query reads its whole context once)
    if (query_len == 1)
        state.SetBytesProcessed(state.iterations() * 2 * std::int64_t(context) * num_seqs * layer.row_bytes());
    state.SetLabel(std::string(type_name(dtype)) + (shuffled ? " shuffled" : " contiguous"));
}

// args: context length, shuffled table (1) or contiguous (0), cache dtype, threads, sequences
void BM_DecodeAttention(benchmark::State& state) {
    run_attention_bench(state, static_cast<int>(state.range(0)), 1, state.range(1) != 0,
                        static_cast<TensorType>(state.range(2)), static_cast<int>(state.range(3)),
                        static_cast<int>(state.range(4)));
}

void attention_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"ctx", "shuffled", "dtype", "threads", "seqs"});
    for (int threads : {1, 2}) {
        for (int dtype : {int(TensorType::F32), int(TensorType::F16), int(TensorType::Q8_0)}) {
            for (int context : {512, 2048}) {
                for (int shuffled : {0, 1}) b->Args({context, shuffled, dtype, threads, 1});
            }
        }
    }
    // a batch of 8 decodes
    for (int shuffled : {0, 1}) b->Args({512, shuffled, int(TensorType::F16), 2, 8});
}
BENCHMARK(BM_DecodeAttention)->Apply(attention_args)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A whole 512-token prompt (causal), F16 cache, shuffled table. args: threads
void BM_PrefillAttention512(benchmark::State& state) {
    run_attention_bench(state, 512, 512, true, TensorType::F16, static_cast<int>(state.range(0)), 1);
}
BENCHMARK(BM_PrefillAttention512)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// The cost of one parallel region with trivial work: wake, run, wait.
void BM_ParallelForOverhead(benchmark::State& state) {
    ThreadPool pool(static_cast<int>(state.range(0)));
    std::vector<std::int64_t> sink(64, 0);
    for (auto _ : state) {
        pool.parallel_for(pool.num_threads(), [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) sink[i * 8] += 1;
        });
    }
    benchmark::DoNotOptimize(sink.data());
}
BENCHMARK(BM_ParallelForOverhead)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();

// The same when the workers have gone to sleep (no spinning): a futex wake per region.
void BM_ParallelForOverheadSleeping(benchmark::State& state) {
    ThreadPool pool(static_cast<int>(state.range(0)), 0);
    std::vector<std::int64_t> sink(64, 0);
    for (auto _ : state) {
        pool.parallel_for(pool.num_threads(), [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) sink[i * 8] += 1;
        });
    }
    benchmark::DoNotOptimize(sink.data());
}
BENCHMARK(BM_ParallelForOverheadSleeping)->ArgName("threads")->Arg(2)->UseRealTime();

}  // namespace
}  // namespace kvscope
