// The lab's paged allocator is the live engine: the embedded model runs a trace (greedy,
// ignore_eos, max_tokens = each request's output length) with requests added at their arrival
// steps, and after every engine step its KvCacheStats equal the lab's figures for that step —
// blocks held, tokens stored, cached and free blocks, sharing, sequences, preemptions — with
// chunked prefill, preemption, prefix caching, priorities, n > 1 and idle stretches in the
// trace. The engine's own trace recording gives back the requests it ran.

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "engine/engine.h"
#include "engine/lab/replay.h"

namespace kvscope {
namespace lab_engine_match_test {

struct Case {
    std::int32_t block_size;
    std::int32_t num_blocks;
    bool prefix_caching;
};

// GoogleTest prints the parameter into the test's listed name; bytewise it would show the padding.
void PrintTo(const Case& c, std::ostream* os) {
    *os << "block_size " << c.block_size << ", " << c.num_blocks << " blocks, prefix caching "
        << (c.prefix_caching ? "on" : "off");
}

std::shared_ptr<const Model> embedded() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

constexpr std::int32_t kMaxModelLen = 256;
constexpr std::int32_t kMaxNumSeqs = 6;
constexpr std::int32_t kMaxBatchedTokens = 48;

// Arrivals in whole steps (step_time 1 s); half the prompts start with one 20-token prefix.
Trace make_trace() {
    std::mt19937 rng(5);
    std::vector<std::int32_t> system(20);
    for (std::int32_t& t : system) t = 3 + static_cast<std::int32_t>(rng() % 500);
    const std::vector<double> arrivals = {0, 0, 0, 0, 2, 2, 5, 9, 9, 14, 20, 30, 31, 400};
    Trace trace;
    for (std::size_t i = 0; i < arrivals.size(); ++i) {
        TraceRequest r;
        r.arrival_s = arrivals[i];
        r.prompt_token_ids = {1};
        if (i % 2 == 0) r.prompt_token_ids.insert(r.prompt_token_ids.end(), system.begin(), system.end());
        const std::size_t own = 4 + rng() % 50;
        for (std::size_t k = 0; k < own; ++k) r.prompt_token_ids.push_back(3 + static_cast<std::int32_t>(rng() % 500));
        r.prompt_len = static_cast<std::int32_t>(r.prompt_token_ids.size());
        const std::int32_t n = i == 3 || i == 8 ? 2 : 1;
        r.output_lens.assign(static_cast<std::size_t>(n), 1 + static_cast<std::int32_t>(rng() % 40));
        r.priority = i == 5 ? 1 : (i == 9 ? -1 : 0);
        trace.requests.push_back(std::move(r));
    }
    return trace;
}

struct EngineRun {
    std::vector<std::int64_t> step_index;
    std::vector<KvCacheStats> stats;
    std::vector<std::int64_t> preemptions;  // cumulative
    std::vector<TraceRequest> recorded;
};

EngineRun run_engine(const Trace& trace, const Case& c) {
    EngineConfig config;
    config.block_size = c.block_size;
    config.num_kv_blocks = c.num_blocks;
    config.enable_prefix_caching = c.prefix_caching;
    config.max_model_len = kMaxModelLen;
    config.max_num_seqs = kMaxNumSeqs;
    config.max_num_batched_tokens = kMaxBatchedTokens;
    config.num_threads = 1;
    Engine engine(embedded(), config);
    engine.record_trace(100);
    EngineRun run;
    std::size_t next = 0;
    std::int64_t step = 0;
    auto arrival_step = [&](std::size_t i) { return static_cast<std::int64_t>(trace.requests[i].arrival_s); };
    while (next < trace.requests.size() || engine.has_work()) {
        if (!engine.has_work()) step = std::max(step, arrival_step(next));
        for (; next < trace.requests.size() && arrival_step(next) <= step; ++next) {
            const TraceRequest& t = trace.requests[next];
            Request r;
            r.prompt_token_ids = t.prompt_token_ids;
            r.params.temperature = 0;
            r.params.ignore_eos = true;
            r.params.max_tokens = t.output_lens.front();
            r.params.n = t.n();
            r.priority = t.priority;
            engine.add_request(std::move(r));
        }
        engine.step();
        run.step_index.push_back(step++);
        run.stats.push_back(engine.snapshot().kv.stats);
        run.preemptions.push_back(engine.metrics().num_preemptions);
    }
    run.recorded = engine.take_trace();
    return run;
}

class LabMatchesEngine : public ::testing::TestWithParam<Case> {};

TEST_P(LabMatchesEngine, StepByStep) {
    const Case c = GetParam();
    Trace trace = make_trace();
    const EngineRun engine = run_engine(trace, c);

    // The recording holds the requests as they were run, in arrival order.
    ASSERT_EQ(engine.recorded.size(), trace.requests.size());
    for (std::size_t i = 0; i < trace.requests.size(); ++i) {
        SCOPED_TRACE(i);
        const TraceRequest& want = trace.requests[i];
        const TraceRequest& got = engine.recorded[i];
        EXPECT_EQ(got.prompt_token_ids, want.prompt_token_ids);
        EXPECT_EQ(got.prompt_len, want.prompt_len);
        EXPECT_EQ(got.output_lens, want.output_lens);
        EXPECT_EQ(got.priority, want.priority);
        ASSERT_EQ(got.output_token_ids.size(), want.output_lens.size());
        EXPECT_EQ(got.output_token_ids[0].size(), static_cast<std::size_t>(want.output_lens[0]));
        if (i > 0) {
            EXPECT_LE(engine.recorded[i - 1].arrival_s, got.arrival_s);
        }
        trace.requests[i].output_token_ids = got.output_token_ids;  // the replay hashes the same outputs
    }

    lab::LabConfig config;
    config.budget_tokens = std::int64_t{c.num_blocks} * c.block_size;
    config.max_model_len = kMaxModelLen;
    config.max_num_seqs = kMaxNumSeqs;
    config.max_num_batched_tokens = kMaxBatchedTokens;
    config.step_time_s = 1.0;
    const lab::LabRun run =
        lab::replay(trace, config, {lab::AllocatorSpec::Kind::Paged, c.block_size, c.prefix_caching});

    ASSERT_EQ(run.steps.size(), engine.stats.size());
    std::int64_t preemptions = 0, max_saved = 0;
    const std::int64_t bs = c.block_size;
    for (std::size_t i = 0; i < run.steps.size(); ++i) {
        SCOPED_TRACE("step " + std::to_string(i));
        const lab::LabStep& s = run.steps[i];
        const KvCacheStats& e = engine.stats[i];
        preemptions += s.num_preempted;
        ASSERT_EQ(s.step, engine.step_index[i]);
        ASSERT_EQ(s.memory.token, e.num_filled_slots);
        ASSERT_EQ(s.memory.token + s.memory.reserved + s.memory.internal, e.num_used_blocks * bs);
        ASSERT_EQ(s.memory.cached, e.num_cached_free_blocks * bs);
        ASSERT_EQ(s.memory.free, e.num_free_blocks * bs);
        ASSERT_EQ(s.memory.shared_saved, e.num_saved_blocks * bs);
        ASSERT_EQ(s.memory.external, 0);
        ASSERT_EQ(s.num_running, e.num_sequences);
        ASSERT_EQ(preemptions, engine.preemptions[i]);
        max_saved = std::max(max_saved, s.memory.shared_saved);
    }
    EXPECT_EQ(run.totals.prefix_hit_tokens, engine.stats.back().num_prefix_hit_tokens);
    EXPECT_EQ(run.totals.prefix_query_tokens, engine.stats.back().num_prefix_query_tokens);
    EXPECT_EQ(run.totals.num_finished, static_cast<std::int32_t>(trace.requests.size()));
    // The trace exercises what it should.
    EXPECT_GT(preemptions, 0);
    EXPECT_GT(max_saved, 0);
    if (c.prefix_caching) {
        EXPECT_GT(run.totals.prefix_hit_tokens, 0);
    }
    EXPECT_GT(run.steps.back().step + 1, static_cast<std::int64_t>(run.steps.size()));  // an idle stretch
}

INSTANTIATE_TEST_SUITE_P(Lab, LabMatchesEngine,
                         ::testing::Values(Case{8, 24, true}, Case{16, 12, false}, Case{32, 6, true}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                             return "block" + std::to_string(info.param.block_size) +
                                    (info.param.prefix_caching ? "_prefix" : "_noprefix");
                         });

}  // namespace lab_engine_match_test
}  // namespace kvscope
