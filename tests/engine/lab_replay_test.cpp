// The memory lab on hand-built traces whose memory can be worked out by hand for every
// allocator: one request (reservation and internal fragmentation of each Orca variant and of
// paged blocks), first fit leaving gaps too small for the next request (external
// fragmentation), a shared prompt prefix and n > 1 (sharing), refusals and cut outputs, and
// invariants on random traces.

#include "engine/lab/replay.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "engine/error.h"

namespace kvscope::lab {
namespace lab_replay_test {

using Kind = AllocatorSpec::Kind;
const AllocatorSpec kMax{Kind::OrcaMax, 0, false};
const AllocatorSpec kPow2{Kind::OrcaPow2, 0, false};
const AllocatorSpec kOracle{Kind::OrcaOracle, 0, false};
AllocatorSpec paged(std::int32_t block_size, bool prefix = false) {
    return {Kind::Paged, block_size, prefix};
}

TraceRequest request(double arrival_s, std::int32_t prompt_len, std::vector<std::int32_t> output_lens,
                     std::vector<std::int32_t> prompt_ids = {}) {
    TraceRequest r;
    r.arrival_s = arrival_s;
    r.prompt_token_ids = std::move(prompt_ids);
    r.prompt_len = r.prompt_token_ids.empty() ? prompt_len : static_cast<std::int32_t>(r.prompt_token_ids.size());
    r.output_lens = std::move(output_lens);
    return r;
}

LabConfig config(std::int64_t budget, std::int32_t max_model_len) {
    LabConfig c;
    c.budget_tokens = budget;
    c.max_model_len = max_model_len;
    c.step_time_s = 1.0;
    return c;
}

std::vector<std::int64_t> column(const LabRun& run, std::int64_t MemoryUse::*part) {
    std::vector<std::int64_t> out;
    for (const LabStep& s : run.steps) out.push_back(s.memory.*part);
    return out;
}

// Prompt 10, output 5: steps 0..4, the prompt computed in step 0 and one output token a step;
// the 5th token finishes the request as it is sampled, so at most 14 tokens of KV are held.
TEST(LabReplay, OneRequestUnderEachAllocator) {
    const Trace trace{{}, {request(0, 10, {5})}};
    const LabConfig c = config(100, 64);
    const std::vector<std::int64_t> tokens = {10, 11, 12, 13, 0};
    const std::vector<std::int64_t> reserved = {4, 3, 2, 1, 0};

    // Orca oracle: a region of prompt + output = 15 slots; the 15th is never written.
    const LabRun oracle = replay(trace, c, kOracle);
    EXPECT_EQ(column(oracle, &MemoryUse::token), tokens);
    EXPECT_EQ(column(oracle, &MemoryUse::reserved), reserved);
    EXPECT_EQ(column(oracle, &MemoryUse::internal), (std::vector<std::int64_t>{1, 1, 1, 1, 0}));
    EXPECT_EQ(column(oracle, &MemoryUse::free), (std::vector<std::int64_t>{85, 85, 85, 85, 100}));
    EXPECT_EQ(oracle.totals.num_steps, 5);
    EXPECT_EQ(oracle.totals.slot_steps.token, 46);
    EXPECT_EQ(oracle.totals.slot_steps.capacity, 500);
    EXPECT_DOUBLE_EQ(oracle.totals.token_share_of_used(), 46.0 / 60.0);
    EXPECT_EQ(oracle.totals.num_finished, 1);
    EXPECT_EQ(oracle.totals.num_generated_tokens, 5);

    // Orca pow2: 10 + 8 = 18 slots, 4 never written. Orca max: 64 slots, 50 never written.
    EXPECT_EQ(column(replay(trace, c, kPow2), &MemoryUse::internal), (std::vector<std::int64_t>{4, 4, 4, 4, 0}));
    const LabRun max = replay(trace, c, kMax);
    EXPECT_EQ(column(max, &MemoryUse::internal), (std::vector<std::int64_t>{50, 50, 50, 50, 0}));
    EXPECT_EQ(column(max, &MemoryUse::token), tokens);

    // Paged, 8 tokens a block: 12 blocks (96 slots); two blocks hold 10..13 tokens, the last
    // two slots of the second block are never written.
    const LabRun paged8 = replay(trace, c, paged(8));
    EXPECT_EQ(paged8.capacity, 96);
    EXPECT_EQ(column(paged8, &MemoryUse::token), tokens);
    EXPECT_EQ(column(paged8, &MemoryUse::reserved), reserved);
    EXPECT_EQ(column(paged8, &MemoryUse::internal), (std::vector<std::int64_t>{2, 2, 2, 2, 0}));
    EXPECT_EQ(column(paged8, &MemoryUse::free), (std::vector<std::int64_t>{80, 80, 80, 80, 96}));
    // 32 a block: one block, 18 slots never written.
    EXPECT_EQ(column(replay(trace, c, paged(32)), &MemoryUse::internal),
              (std::vector<std::int64_t>{18, 18, 18, 18, 0}));
}

// Budget 100, the oracle allocator. A [0,22), B [22,72), C [72,94) are placed at step 0; D
// (30 slots) finds only the 6-slot tail. A and C finish after step 1, leaving holes of 22 and
// 28: 50 slots free, none of them usable by D, until B finishes after step 9.
TEST(LabReplay, FirstFitLeavesGapsTooSmallForTheNextRequest) {
    const Trace trace{{}, {request(0, 20, {2}), request(0, 40, {10}), request(0, 20, {2}), request(0, 25, {5})}};
    const LabConfig c = config(100, 64);
    const LabRun oracle = replay(trace, c, kOracle);
    std::vector<std::int64_t> external = {6, 50, 50, 50, 50, 50, 50, 50, 50, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(column(oracle, &MemoryUse::external), external);
    EXPECT_EQ(oracle.totals.slot_steps.external, 406);
    EXPECT_EQ(oracle.steps[1].memory.free, 0);
    EXPECT_EQ(oracle.steps[10].num_batched_seqs, 1);  // D admitted once B's region is back
    EXPECT_EQ(oracle.totals.makespan_steps, 15);
    EXPECT_EQ(oracle.totals.num_finished, 4);
    EXPECT_EQ(oracle.totals.max_batch, 3);

    // Paged (12 blocks of 8): D's 4 blocks are free once A and C finish: admitted at step 2.
    const LabRun paged8 = replay(trace, c, paged(8));
    EXPECT_EQ(paged8.totals.slot_steps.external, 0);
    EXPECT_EQ(paged8.steps[1].num_batched_seqs, 3);
    EXPECT_EQ(paged8.steps[2].num_batched_seqs, 2);  // B's decode and D's prompt
    EXPECT_EQ(paged8.totals.makespan_steps, 10);
    EXPECT_EQ(paged8.totals.num_preemptions, 0);
}

// Orca max with max_model_len 40, budget 100: A holds [0,40) for 30 steps. B (n = 2) needs two
// 40-slot regions: the 60 free slots hold one but not both, so all 60 are unusable until A ends.
TEST(LabReplay, ARequestWithSamplesCountsEveryGapItCannotUse) {
    const Trace trace{{}, {request(0, 5, {30}), request(0, 5, {3, 3})}};
    const LabRun max = replay(trace, config(100, 40), kMax);
    for (int i = 0; i < 29; ++i) EXPECT_EQ(max.steps[static_cast<std::size_t>(i)].memory.external, 60) << i;
    EXPECT_EQ(max.steps[29].memory.external, 0);  // A finished: B is placed next step
    EXPECT_EQ(max.totals.slot_steps.external, 29 * 60);
    EXPECT_EQ(max.steps[30].num_batched_seqs, 1);  // B's prompt, then its two samples
    EXPECT_EQ(max.steps[31].num_batched_seqs, 2);
}

// Two prompts share 16 tokens (two blocks of 8); the second arrives at step 1.
TEST(LabReplay, SharedPrefixIsHeldOnceWithPrefixCaching) {
    std::vector<std::int32_t> a(16), b;
    std::iota(a.begin(), a.end(), 100);
    b = a;
    a.insert(a.end(), {1, 2, 3, 4});
    b.insert(b.end(), {5, 6, 7, 8});
    const Trace trace{{}, {request(0, 0, {4}, a), request(1, 0, {2}, b)}};
    const LabConfig c = config(96, 64);

    // After step 1: blocks 0-1 (16 tokens, both hold them), A's third (5 tokens) and B's (4).
    const LabRun shared = replay(trace, c, paged(8, true));
    const MemoryUse& m = shared.steps[1].memory;
    EXPECT_EQ(m.token, 25);
    EXPECT_EQ(m.reserved, 2 + 1);  // A (final 23 tokens) fills positions 21-22 later, B (final 21) 20
    EXPECT_EQ(m.internal, 32 - 25 - 3);
    EXPECT_EQ(m.shared_saved, 16);
    EXPECT_EQ(shared.totals.prefix_hit_tokens, 16);
    EXPECT_EQ(shared.totals.prefix_query_tokens, 40);

    // Without prefix caching each holds its own copy: 6 blocks.
    const LabRun alone = replay(trace, c, paged(8, false));
    EXPECT_EQ(alone.steps[1].memory.token, 41);
    EXPECT_EQ(alone.steps[1].memory.reserved, 3);
    EXPECT_EQ(alone.steps[1].memory.token + alone.steps[1].memory.reserved + alone.steps[1].memory.internal, 48);
    EXPECT_EQ(alone.steps[1].memory.shared_saved, 0);
    EXPECT_EQ(alone.totals.prefix_hit_tokens, 0);
    // Contiguous allocators never share.
    EXPECT_EQ(replay(trace, c, kOracle).steps[1].memory.token, 41);
}

// n = 2 on a 16-token prompt, 3 tokens each: the samples share the prompt's blocks.
TEST(LabReplay, SamplesShareThePromptOnlyWhenPaged) {
    const Trace trace{{}, {request(0, 16, {3, 3})}};
    const LabConfig c = config(96, 64);
    const LabRun run = replay(trace, c, paged(8));
    ASSERT_EQ(run.steps.size(), 3u);
    // Step 0: the prompt in two blocks, forked: one copy held by both.
    EXPECT_EQ(run.steps[0].memory.token, 16);
    EXPECT_EQ(run.steps[0].memory.shared_saved, 16);
    EXPECT_EQ(run.steps[0].num_running, 2);
    // Step 1: each sample wrote token 17 into a block of its own (final length 18).
    EXPECT_EQ(run.steps[1].memory.token, 18);
    EXPECT_EQ(run.steps[1].memory.reserved, 2);
    EXPECT_EQ(run.steps[1].memory.internal, 32 - 18 - 2);
    EXPECT_EQ(run.steps[1].num_batched_seqs, 2);

    // Oracle: two regions of 19 placed at admission; after the fork each holds the prompt.
    const LabRun oracle = replay(trace, c, kOracle);
    EXPECT_EQ(oracle.steps[0].memory.token, 32);
    EXPECT_EQ(oracle.steps[0].memory.reserved, 4);
    EXPECT_EQ(oracle.steps[0].memory.internal, 2);
    EXPECT_EQ(oracle.steps[0].memory.shared_saved, 0);
    EXPECT_EQ(oracle.totals.num_finished, 1);
}

TEST(LabReplay, RefusesWhatCanNeverRunAndCutsOutputsAtTheContext) {
    const Trace trace{{}, {request(0, 10, {100}), request(0, 64, {1}), request(0, 5, {3})}};
    const LabConfig c = config(50, 64);
    // Orca max reserves 64 > 50 slots: nothing runs. The 64-token prompt fills the context.
    const LabRun max = replay(trace, c, kMax);
    EXPECT_EQ(max.totals.num_refused, 3);
    EXPECT_TRUE(max.steps.empty());
    // Oracle: the first request is cut to 54 tokens, and then needs 64 slots: refused too.
    const LabRun oracle = replay(trace, c, kOracle);
    EXPECT_EQ(oracle.totals.num_refused, 2);
    ASSERT_EQ(oracle.refused.size(), 2u);
    EXPECT_EQ(oracle.refused[0].index, 0);
    EXPECT_EQ(oracle.refused[1].index, 1);
    EXPECT_NE(oracle.refused[1].reason.find("context"), std::string::npos);
    EXPECT_EQ(oracle.totals.num_generated_tokens, 3);
    // Paged (6 blocks of 8 = 48 slots): the cut request needs 64 tokens = 8 blocks: refused.
    const LabRun paged8 = replay(trace, config(200, 64), paged(8));
    EXPECT_EQ(paged8.totals.num_refused, 1);
    EXPECT_EQ(paged8.totals.num_truncated, 1);
    EXPECT_EQ(paged8.totals.num_generated_tokens, 54 + 3);
}

TEST(LabReplay, ArrivalsMapToStepsAndIdleStretchesAreSkipped) {
    LabConfig c = config(100, 64);
    c.step_time_s = 0.5;
    const Trace trace{{}, {request(0, 4, {2}), request(10.0, 4, {1}), request(10.2, 4, {1})}};
    const LabRun run = replay(trace, c, kOracle);
    ASSERT_EQ(run.steps.size(), 4u);
    EXPECT_EQ(run.steps[0].step, 0);
    EXPECT_EQ(run.steps[1].step, 1);
    EXPECT_EQ(run.steps[2].step, 20);  // 10.0 s
    EXPECT_EQ(run.steps[3].step, 21);  // 10.2 s: the first step that starts after it
    EXPECT_DOUBLE_EQ(run.steps[3].time_s, 10.5);
    EXPECT_EQ(run.totals.makespan_steps, 22);
}

TEST(LabReplay, PreemptsTheNewestWhenPagedMemoryRunsOut) {
    // 4 blocks of 8. A and B (prompt 8, output 12) take 2 blocks each by step 8; at step 9 A
    // needs a third: B, the newest, is preempted, and recomputed once A has finished.
    const Trace trace{{}, {request(0, 8, {12}), request(0, 8, {12})}};
    const LabRun run = replay(trace, config(32, 64), paged(8));
    EXPECT_GT(run.totals.num_preemptions, 0);
    EXPECT_EQ(run.totals.num_finished, 2);
    for (const LabStep& s : run.steps) EXPECT_LE(s.memory.used(), 32);
}

// Random traces, every allocator: the parts tile the capacity at every step, everything
// finishes or is refused, and every output token is generated once (recomputation aside).
TEST(LabReplay, RandomTracesKeepTheInvariants) {
    std::mt19937 rng(11);
    for (int round = 0; round < 6; ++round) {
        Trace trace;
        for (int i = 0; i < 40; ++i) {
            std::vector<std::int32_t> prompt(2 + rng() % 60);
            for (std::size_t k = 0; k < prompt.size(); ++k) prompt[k] = k < 12 && round % 2 ? 7 : 10 + rng() % 50;
            std::vector<std::int32_t> outs(1 + (rng() % 4 == 0 ? rng() % 3 : 0));
            for (std::int32_t& o : outs) o = 1 + rng() % 50;
            trace.requests.push_back(request(0.1 * (rng() % 40), 0, outs, prompt));
        }
        LabConfig c = config(300 + rng() % 300, 128);
        c.max_num_seqs = 4 + rng() % 12;
        c.max_num_batched_tokens = 16 + rng() % 100;
        c.enable_chunked_prefill = round % 3 != 0;
        for (const AllocatorSpec& spec : default_allocators()) {
            SCOPED_TRACE(spec.name());
            const LabRun run = replay(trace, c, spec);
            std::int64_t expected_tokens = 0;
            std::vector<bool> refused(trace.requests.size(), false);
            for (const RefusedRequest& r : run.refused) refused[static_cast<std::size_t>(r.index)] = true;
            for (std::size_t i = 0; i < trace.requests.size(); ++i) {
                if (refused[i]) continue;
                for (const std::int32_t o : trace.requests[i].output_lens) {
                    expected_tokens += std::min(o, c.max_model_len - trace.requests[i].prompt_len);
                }
            }
            EXPECT_EQ(run.totals.num_finished + run.totals.num_refused, 40);
            EXPECT_EQ(run.totals.num_generated_tokens, expected_tokens);
            for (const LabStep& s : run.steps) {
                const MemoryUse& m = s.memory;
                ASSERT_EQ(m.used() + m.cached + m.free, run.capacity);
                ASSERT_GE(m.token, 0);
                ASSERT_GE(m.reserved, 0);
                ASSERT_GE(m.internal, 0);
                ASSERT_GE(m.external, 0);
                // Seats of an admitted n > 1 request's samples are held until they fork.
                ASSERT_LE(s.num_running, c.max_num_seqs);
                ASSERT_LE(s.num_batched_tokens, c.max_num_batched_tokens);
            }
            if (!spec.is_paged()) {
                EXPECT_EQ(run.totals.num_preemptions, 0);
            }
        }
    }
}

TEST(LabReplay, BadConfigurationsAreConfigErrors) {
    const Trace trace{{}, {request(0, 4, {2})}};
    EXPECT_THROW(replay(trace, config(0, 64), kOracle), ConfigError);
    EXPECT_THROW(replay(trace, config(4, 64), paged(8)), ConfigError);  // no whole block
    EXPECT_THROW(replay(trace, config(100, 64), paged(12)), ConfigError);
    EXPECT_THROW(parse_allocators("max,best-fit", {16}), ConfigError);
    EXPECT_EQ(parse_allocators("orca-max,paged+prefix,paged-8", {16, 32}).size(), 4u);
    EXPECT_EQ(default_allocators().size(), 9u);
}

}  // namespace lab_replay_test
}  // namespace kvscope::lab
