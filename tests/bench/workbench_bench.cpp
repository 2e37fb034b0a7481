// What a large KV cache costs the workbench's engine thread: one step of a 400-request synthetic
// batch (the batch panel's default workload, all arriving at once) on the embedded model, and a
// full snapshot taken in the middle of that batch as EngineWorker takes it (a new shared value
// each time, from scratch or sharing what did not change with the one before), at 1k to 256k
// blocks. Arg: the number of KV blocks.

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "tests/bench/batch_engine.h"

namespace kvscope {
namespace {

// Steps of the batch, from the start, as many as the benchmark runs (a new batch when one ends).
void BM_BatchStep(benchmark::State& state) {
    const auto num_blocks = static_cast<std::int32_t>(state.range(0));
    std::unique_ptr<Engine> engine = bench::batch_engine(num_blocks);
    for (auto _ : state) {
        if (!engine->has_work()) {
            state.PauseTiming();
            engine = bench::batch_engine(num_blocks);
            state.ResumeTiming();
        }
        benchmark::DoNotOptimize(engine->step());
    }
}
BENCHMARK(BM_BatchStep)->Arg(1024)->Arg(16384)->Arg(65536)->Arg(262144)->Unit(benchmark::kMillisecond);

// Bytes a snapshot holds that `previous` does not (chunks of blocks it shares cost nothing).
double new_mib(const EngineSnapshot& s, const EngineSnapshot* previous) {
    const std::size_t bytes =
        snapshot_array_bytes(s) + s.kv.blocks.bytes_not_in(previous ? &previous->kv.blocks : nullptr);
    return double(bytes) / (1 << 20);
}

// A full snapshot in the middle of the batch as the worker takes it: a new EngineSnapshot behind a
// shared pointer, every step, with the one before as `previous` (range(1) = 1) or from scratch
// (0). The last 64 are kept alive, as the recorder keeps frames, so that what a snapshot does not
// share is written into memory the allocator hands out anew. Steps run outside the timing.
void BM_BatchSnapshot(benchmark::State& state) {
    const auto num_blocks = static_cast<std::int32_t>(state.range(0));
    const bool incremental = state.range(1) != 0;
    std::unique_ptr<Engine> engine = bench::engine_mid_batch(num_blocks);
    std::vector<std::shared_ptr<const EngineSnapshot>> kept(64);
    std::shared_ptr<const EngineSnapshot> previous;
    std::size_t next = 0;
    double mib = 0;
    for (auto _ : state) {
        state.PauseTiming();
        if (!engine->has_work()) {
            engine = bench::engine_mid_batch(num_blocks);
            previous.reset();
        }
        engine->step();
        state.ResumeTiming();
        auto snapshot = std::make_shared<const EngineSnapshot>(
            engine->snapshot(SnapshotDetail::Full, incremental ? previous.get() : nullptr));
        state.PauseTiming();
        mib += new_mib(*snapshot, incremental ? previous.get() : nullptr);
        kept[next] = snapshot;
        next = (next + 1) % kept.size();
        previous = std::move(snapshot);
        state.ResumeTiming();
    }
    state.counters["new_MiB"] = mib / double(state.iterations());
    state.counters["used"] = previous->kv.stats.num_used_blocks;
    state.counters["cached"] = previous->kv.stats.num_cached_free_blocks;
}
BENCHMARK(BM_BatchSnapshot)
    ->ArgsProduct({{1024, 16384, 65536, 262144}, {0, 1}})
    ->ArgNames({"blocks", "incremental"})
    ->Iterations(100)
    ->Unit(benchmark::kMillisecond);

void BM_BatchCountersSnapshot(benchmark::State& state) {
    std::unique_ptr<Engine> engine = bench::engine_mid_batch(static_cast<std::int32_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(engine->snapshot(SnapshotDetail::CountersOnly));
}
BENCHMARK(BM_BatchCountersSnapshot)->Arg(1024)->Arg(262144)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kvscope
