// KV-cache bookkeeping costs: a decode step's allocate + commit, a request's admit/free cycle with
// a prefix hit, and a snapshot of a large cache (the workbench takes up to ~30 a second).

#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "engine/kv_cache_manager.h"

namespace kvscope {
namespace {

std::vector<std::int32_t> prompt_of(std::int32_t n, std::int32_t seed) {
    std::vector<std::int32_t> t(static_cast<std::size_t>(n));
    std::iota(t.begin(), t.end(), seed);
    return t;
}

// num_seqs sequences of `len` computed tokens each, with a shared 256-token system prompt.
void fill(KvCacheManager& m, std::int32_t num_seqs, std::int32_t len) {
    const std::vector<std::int32_t> system = prompt_of(256, 0);
    for (SeqId id = 0; id < num_seqs; ++id) {
        std::vector<std::int32_t> tokens = system;
        const std::vector<std::int32_t> own = prompt_of(len - 256, 100000 + static_cast<std::int32_t>(id) * len);
        tokens.insert(tokens.end(), own.begin(), own.end());
        const PrefixMatch match = m.find_cached_prefix(tokens, 0);
        if (!m.allocate_slots(id, len - match.num_cached_tokens, &match)) break;
        m.commit(id, tokens, len);
    }
}

void BM_Snapshot(benchmark::State& state) {
    const auto num_blocks = static_cast<std::int32_t>(state.range(0));
    KvCacheManager m(KvCacheConfig{num_blocks, 16, true});
    fill(m, num_blocks / 64, 1000);  // ~63 blocks each, most of the cache held
    KvSnapshot snapshot;
    for (auto _ : state) {
        m.snapshot_into(snapshot);
        benchmark::DoNotOptimize(snapshot.blocks.chunks().data());
    }
    state.counters["used_blocks"] = m.stats().num_used_blocks;
}
BENCHMARK(BM_Snapshot)->Arg(8192)->Arg(32768)->Unit(benchmark::kMicrosecond);

void BM_DecodeStep(benchmark::State& state) {
    const auto num_seqs = static_cast<std::int32_t>(state.range(0));
    KvCacheManager m(KvCacheConfig{32768, 16, true});
    fill(m, num_seqs, 300);
    std::vector<std::vector<std::int32_t>> tokens(static_cast<std::size_t>(num_seqs));
    for (SeqId id = 0; id < num_seqs; ++id) {
        tokens[id] = prompt_of(300, 0);  // content does not matter for the cost
        tokens[id].reserve(1 << 16);
    }
    for (auto _ : state) {
        for (SeqId id = 0; id < num_seqs; ++id) {
            auto& t = tokens[id];
            t.push_back(static_cast<std::int32_t>(t.size()));
            benchmark::DoNotOptimize(m.allocate_slots(id, 1));
            m.commit(id, t, static_cast<std::int32_t>(t.size()));
        }
        if (tokens[0].size() > 2000) state.SkipWithError("ran too long");
    }
    state.SetItemsProcessed(state.iterations() * num_seqs);
}
BENCHMARK(BM_DecodeStep)->Arg(256)->Iterations(1000)->Unit(benchmark::kMicrosecond);

void BM_AdmitWithPrefixHitAndFree(benchmark::State& state) {
    KvCacheManager m(KvCacheConfig{8192, 16, true});
    const std::vector<std::int32_t> prompt = prompt_of(1024, 7);
    const PrefixMatch first = m.find_cached_prefix(prompt, 0);
    m.allocate_slots(0, 1024, &first);
    m.commit(0, prompt, 1024);
    SeqId next = 1;
    for (auto _ : state) {
        const PrefixMatch match = m.find_cached_prefix(prompt, 0);
        m.allocate_slots(next, 1024 - match.num_cached_tokens, &match);
        m.free(next++);
    }
}
BENCHMARK(BM_AdmitWithPrefixHitAndFree)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kvscope
