// Scheduler: exact batches for scripted workloads (budgets, chunked prefill, admission limits,
// preemption order, priorities, prefix hits), checked against hand-worked expectations.

#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include "engine/kv_cache_manager.h"

#include <numeric>

namespace kvscope {
namespace scheduler_test {

struct Harness {
    KvCacheManager kv;
    Scheduler scheduler;
    SeqId next_id = 1;
    std::int64_t next_arrival = 0;

    Harness(std::int32_t num_blocks, std::int32_t block_size, SchedulerConfig config, bool prefix_caching = true)
        : kv(KvCacheConfig{num_blocks, block_size, prefix_caching}), scheduler(config, kv) {}

    SeqId add(std::int32_t num_prompt, std::int32_t priority = 0, std::int32_t first_token = 100) {
        Sequence s;
        s.id = next_id++;
        s.request_id = s.id;
        s.arrival = next_arrival++;
        s.priority = priority;
        s.token_ids.resize(static_cast<std::size_t>(num_prompt));
        std::iota(s.token_ids.begin(), s.token_ids.end(), first_token);
        s.num_prompt_tokens = num_prompt;
        scheduler.add_waiting(s);
        return s.id;
    }

    // Schedules, "runs" the step and appends a token to every sequence that samples.
    ScheduledBatch step() {
        ScheduledBatch batch = scheduler.schedule();
        scheduler.complete_step(batch);
        for (const ScheduledSequence& s : batch.seqs) {
            if (s.samples) scheduler.sequence(s.id).token_ids.push_back(7);
        }
        return batch;
    }
};

std::vector<std::pair<SeqId, std::int32_t>> plan(const ScheduledBatch& b) {
    std::vector<std::pair<SeqId, std::int32_t>> out;
    for (const ScheduledSequence& s : b.seqs) out.emplace_back(s.id, s.num_new_tokens);
    return out;
}

using Plan = std::vector<std::pair<SeqId, std::int32_t>>;

TEST(Scheduler, WholePromptThenOneTokenPerDecode) {
    Harness h(64, 16, {8, 2048, true});
    const SeqId a = h.add(40);
    ScheduledBatch b = h.step();
    EXPECT_EQ(plan(b), (Plan{{a, 40}}));
    EXPECT_TRUE(b.seqs[0].samples);
    EXPECT_EQ(b.seqs[0].num_computed_tokens, 0);
    b = h.step();
    EXPECT_EQ(plan(b), (Plan{{a, 1}}));
    EXPECT_EQ(b.seqs[0].num_computed_tokens, 40);
    EXPECT_EQ(h.scheduler.sequence(a).num_computed_tokens, 41);
    EXPECT_EQ(h.kv.block_table(a).num_blocks(), 3);
}

TEST(Scheduler, ChunkedPrefillSplitsAPromptByTheTokenBudgetAndSamplesOnlyAtItsEnd) {
    Harness h(64, 16, {8, 16, true});
    const SeqId a = h.add(40);
    ScheduledBatch b1 = h.step(), b2 = h.step(), b3 = h.step(), b4 = h.step();
    EXPECT_EQ(plan(b1), (Plan{{a, 16}}));
    EXPECT_EQ(plan(b2), (Plan{{a, 16}}));
    EXPECT_EQ(plan(b3), (Plan{{a, 8}}));
    EXPECT_EQ(plan(b4), (Plan{{a, 1}}));
    EXPECT_FALSE(b1.seqs[0].samples);
    EXPECT_FALSE(b2.seqs[0].samples);
    EXPECT_TRUE(b3.seqs[0].samples);
    EXPECT_EQ(b3.seqs[0].num_computed_tokens, 32);
}

TEST(Scheduler, RunningDecodesComeFirstAndANewPromptTakesTheRestOfTheBudget) {
    Harness h(64, 16, {8, 20, true});
    const SeqId a = h.add(5), b = h.add(6);
    EXPECT_EQ(plan(h.step()), (Plan{{a, 5}, {b, 6}}));
    const SeqId c = h.add(30);
    EXPECT_EQ(plan(h.step()), (Plan{{a, 1}, {b, 1}, {c, 18}}));
    EXPECT_EQ(plan(h.step()), (Plan{{a, 1}, {b, 1}, {c, 12}}));
}

TEST(Scheduler, WithoutChunkedPrefillAPromptWaitsForABudgetThatHoldsItWhole) {
    Harness h(64, 16, {8, 20, false});
    const SeqId a = h.add(5);
    EXPECT_EQ(plan(h.step()), (Plan{{a, 5}}));
    const SeqId big = h.add(25);  // never fits a 20-token step: FCFS holds the queue
    h.add(3);
    ScheduledBatch b = h.step();
    EXPECT_EQ(plan(b), (Plan{{a, 1}}));
    EXPECT_EQ(h.scheduler.num_waiting(), 2);
    (void)big;
}

TEST(Scheduler, AdmitsNoMoreThanMaxNumSeqs) {
    Harness h(64, 16, {2, 2048, true});
    const SeqId a = h.add(4), b = h.add(4);
    h.add(4);
    EXPECT_EQ(plan(h.step()), (Plan{{a, 4}, {b, 4}}));
    EXPECT_EQ(h.scheduler.num_running(), 2);
    EXPECT_EQ(h.scheduler.num_waiting(), 1);
}

TEST(Scheduler, ReservesSeatsForTheSamplesARequestWillFork) {
    Harness h(64, 16, {3, 2048, true});
    const SeqId a = h.add(4);
    Sequence n2;
    n2.id = h.next_id++;
    n2.arrival = h.next_arrival++;
    n2.num_samples = 3;  // needs 3 seats: 1 running + 3 > 3
    n2.token_ids = {1, 2, 3};
    n2.num_prompt_tokens = 3;
    h.scheduler.add_waiting(n2);
    EXPECT_EQ(plan(h.step()), (Plan{{a, 4}}));
    EXPECT_EQ(h.scheduler.num_waiting(), 1);
}

TEST(Scheduler, KeepsTheSeatsOfARunningPromptsSamplesUntilTheyFork) {
    // max 3 sequences: a 3-sample request is admitted; its 2 siblings-to-be hold seats, so a
    // request behind it waits although only one sequence runs yet.
    Harness h(64, 16, {3, 2048, true});
    Sequence parent;
    parent.id = h.next_id++;
    parent.arrival = h.next_arrival++;
    parent.num_samples = 3;
    parent.token_ids.assign(10, 5);
    parent.num_prompt_tokens = 10;
    h.scheduler.add_waiting(parent);
    const SeqId other = h.add(4);
    EXPECT_EQ(plan(h.step()), (Plan{{parent.id, 10}}));
    EXPECT_EQ(h.scheduler.num_waiting(), 1);
    EXPECT_EQ(h.scheduler.sequence(other).status, SequenceStatus::Waiting);
}

TEST(Scheduler, OutOfBlocksPreemptsTheNewestRunningSequence) {
    // 4 blocks of 8 slots: two 15-token prompts take 2 blocks each.
    Harness h(4, 8, {8, 2048, true}, /*prefix_caching=*/false);
    const SeqId a = h.add(15), b = h.add(15);
    EXPECT_EQ(plan(h.step()), (Plan{{a, 15}, {b, 15}}));
    // Position 15 still fits each sequence's second block.
    EXPECT_EQ(plan(h.step()), (Plan{{a, 1}, {b, 1}}));
    // Position 16 needs a third block each: b (newest) is preempted so that a can grow.
    ScheduledBatch batch = h.step();
    EXPECT_EQ(plan(batch), (Plan{{a, 1}}));
    EXPECT_EQ(batch.preempted, std::vector<SeqId>{b});
    const Sequence& sb = h.scheduler.sequence(b);
    EXPECT_EQ(sb.status, SequenceStatus::Waiting);
    EXPECT_EQ(sb.num_computed_tokens, 0);
    EXPECT_EQ(sb.num_preemptions, 1);
    EXPECT_EQ(sb.num_tokens(), 17);  // its prompt and both generated tokens are kept for recompute
    EXPECT_FALSE(h.kv.contains(b));
    EXPECT_EQ(h.scheduler.num_preemptions(), 1);
}

TEST(Scheduler, APreemptedSequenceRecomputesPromptAndOutputAndThenSamples) {
    Harness h(4, 8, {8, 2048, true}, false);
    const SeqId a = h.add(15), b = h.add(15);
    h.step();
    h.step();
    h.step();  // b preempted; a holds 3 blocks
    // a finishes: its blocks return and b is admitted with all 17 tokens to recompute.
    h.scheduler.remove(a);
    ScheduledBatch batch = h.step();
    EXPECT_EQ(plan(batch), (Plan{{b, 17}}));
    EXPECT_TRUE(batch.seqs[0].samples);
    EXPECT_EQ(h.scheduler.sequence(b).num_tokens(), 18);
}

TEST(Scheduler, NoAdmissionInAStepThatPreempted) {
    Harness h(4, 8, {8, 2048, true}, false);
    const SeqId a = h.add(15);
    h.add(15);
    h.step();
    h.step();
    h.add(1);  // would fit a free slot count, but the step preempts
    ScheduledBatch batch = h.step();
    EXPECT_EQ(plan(batch), (Plan{{a, 1}}));
    EXPECT_EQ(h.scheduler.num_waiting(), 2);
}

TEST(Scheduler, PriorityDecidesAdmissionOrderAndTheVictim) {
    Harness h(4, 8, {8, 2048, true}, false);
    const SeqId low = h.add(15, /*priority=*/5);
    const SeqId high = h.add(15, /*priority=*/0);
    // high is admitted first despite arriving later.
    EXPECT_EQ(plan(h.step()), (Plan{{high, 15}, {low, 15}}));
    h.step();
    // Both need a block; low (priority 5) is preempted, although it is the older one.
    ScheduledBatch batch = h.step();
    EXPECT_EQ(plan(batch), (Plan{{high, 1}}));
    EXPECT_EQ(batch.preempted, std::vector<SeqId>{low});
}

TEST(Scheduler, AVictimAlreadyScheduledThisStepIsTakenOutOfTheBatch) {
    // 4 blocks of 8. low (priority 5) runs first; high fills the cache; when high needs a block,
    // low, already scheduled in this step, is the victim: it leaves the batch and the budget.
    Harness h(4, 8, {8, 2048, true}, false);
    const SeqId low = h.add(12, 5);
    EXPECT_EQ(plan(h.step()), (Plan{{low, 12}}));
    const SeqId high = h.add(16, 0);
    EXPECT_EQ(plan(h.step()), (Plan{{low, 1}, {high, 16}}));  // 2 + 2 blocks: the cache is full
    ScheduledBatch batch = h.scheduler.schedule();            // low fits its block; high needs a third
    EXPECT_EQ(plan(batch), (Plan{{high, 1}}));
    EXPECT_EQ(batch.preempted, std::vector<SeqId>{low});
    EXPECT_EQ(batch.num_tokens, 1);
    EXPECT_FALSE(h.kv.contains(low));
    EXPECT_EQ(h.kv.block_table(high).num_blocks(), 3);
}

TEST(Scheduler, APrefixHitComputesOnlyTheNewTokens) {
    Harness h(64, 16, {8, 2048, true});
    const SeqId a = h.add(33, 0, 500);
    h.step();
    const SeqId b = h.add(33, 0, 500);  // the same 33 tokens: 2 full blocks are cached
    ScheduledBatch batch = h.step();
    EXPECT_EQ(plan(batch), (Plan{{a, 1}, {b, 1}}));
    EXPECT_EQ(batch.seqs[1].num_computed_tokens, 32);
    EXPECT_EQ(h.scheduler.sequence(b).num_cached_tokens, 32);
    EXPECT_EQ(h.kv.block_table(a).block_ids()[0], h.kv.block_table(b).block_ids()[0]);
    EXPECT_EQ(h.kv.block_table(a).block_ids()[1], h.kv.block_table(b).block_ids()[1]);
}

TEST(Scheduler, RemoveFreesBlocksOfRunningAndForgetsWaiting) {
    Harness h(64, 16, {1, 2048, true});
    const SeqId a = h.add(20), b = h.add(20);
    h.step();
    EXPECT_TRUE(h.kv.contains(a));
    h.scheduler.remove(a);
    h.scheduler.remove(b);
    EXPECT_FALSE(h.scheduler.has_work());
    EXPECT_EQ(h.kv.num_free_blocks(), 64);
}

}  // namespace scheduler_test
}  // namespace kvscope
