// Preemption by swap: the KV cache manager's bookkeeping (swap blocks, copies, fill levels,
// prefix-cache entries, pending copy-on-write), the scheduler's order (swapped sequences resume
// before admissions, never in a step that swaps out), and the engine end to end: greedy outputs
// with swapping equal those without any preemption, on every backend.

#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "engine/engine.h"
#include "engine/error.h"
#include "engine/kv_cache_manager.h"
#include "engine/scheduler.h"
#include "tests/support/backends.h"
#include "tests/support/kv_cache_invariants.h"

namespace kvscope {
namespace swap_test {

std::vector<std::int32_t> tokens(int n, int first = 100) {
    std::vector<std::int32_t> t(static_cast<std::size_t>(n));
    std::iota(t.begin(), t.end(), first);
    return t;
}

TEST(KvSwap, SwapOutCopiesTheComputedBlocksAndFreesThemThenSwapInRestoresThem) {
    KvCacheManager kv(KvCacheConfig{8, 8, true, 4});
    const auto a = tokens(20);
    ASSERT_TRUE(kv.allocate_slots(1, 20));
    kv.commit(1, a, 20);
    const std::vector<std::int32_t> held(kv.block_table(1).block_ids().begin(), kv.block_table(1).block_ids().end());
    ASSERT_EQ(held.size(), 3u);

    const auto out = kv.swap_out(1);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, (std::vector<BlockCopy>{{held[0], 0}, {held[1], 1}, {held[2], 2}}));
    EXPECT_TRUE(kv.is_swapped(1));
    EXPECT_EQ(kv.block_table(1).num_blocks(), 0);
    EXPECT_EQ(kv.num_computed_tokens(1), 20);
    EXPECT_EQ(kv.num_free_blocks(), 8);
    EXPECT_EQ(kv.num_free_swap_blocks(), 1);
    const std::vector<SeqId> live{1};
    EXPECT_TRUE(test::kv_cache_invariants_hold(kv, live));

    // Another sequence fills some blocks meanwhile; a second swap-out that does not fit changes nothing.
    ASSERT_TRUE(kv.allocate_slots(2, 16));
    kv.commit(2, tokens(16, 500), 16);
    EXPECT_FALSE(kv.swap_out(2));
    EXPECT_FALSE(kv.is_swapped(2));
    EXPECT_EQ(kv.block_table(2).num_blocks(), 2);

    const auto in = kv.swap_in(1);
    ASSERT_TRUE(in);
    ASSERT_EQ(in->size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*in)[i].src, static_cast<std::int32_t>(i));
        EXPECT_EQ((*in)[i].dst, kv.block_table(1).block_id(static_cast<std::int32_t>(i)));
    }
    EXPECT_EQ(kv.pool().block(kv.block_table(1).block_id(0)).num_tokens, 8);
    EXPECT_EQ(kv.pool().block(kv.block_table(1).block_id(2)).num_tokens, 4);
    EXPECT_EQ(kv.num_free_swap_blocks(), 4);
    EXPECT_FALSE(kv.is_swapped(1));
    // It decodes on as if nothing happened.
    ASSERT_TRUE(kv.allocate_slots(1, 1));
    kv.commit(1, tokens(21), 21);
    const std::vector<SeqId> both{1, 2};
    EXPECT_TRUE(test::kv_cache_invariants_hold(kv, both));
}

TEST(KvSwap, FullBlocksAreHitsOfThePrefixCacheAgainAfterSwapIn) {
    KvCacheManager kv(KvCacheConfig{8, 8, true, 4});
    ASSERT_TRUE(kv.allocate_slots(1, 17));
    kv.commit(1, tokens(17), 17);
    ASSERT_TRUE(kv.swap_out(1));
    EXPECT_EQ(kv.find_cached_prefix(tokens(17), 0).num_cached_tokens, 16);  // cached-free, still there
    // A new sequence takes every block, evicting them.
    ASSERT_TRUE(kv.allocate_slots(2, 64));
    EXPECT_EQ(kv.find_cached_prefix(tokens(17), 0).num_cached_tokens, 0);
    kv.free(2);
    ASSERT_TRUE(kv.swap_in(1));
    EXPECT_EQ(kv.find_cached_prefix(tokens(17), 0).num_cached_tokens, 16);
}

TEST(KvSwap, APendingCopyOnWriteIsReadFromItsSource) {
    KvCacheManager kv(KvCacheConfig{8, 8, true, 4});
    ASSERT_TRUE(kv.allocate_slots(1, 12));
    kv.commit(1, tokens(12), 12);
    kv.fork(1, 2);
    const auto alloc = kv.allocate_slots(2, 1);  // writes into the shared, partly filled block
    ASSERT_TRUE(alloc);
    ASSERT_EQ(alloc->copies.size(), 1u);
    const BlockCopy cow = alloc->copies[0];
    const auto out = kv.swap_out(2, alloc->copies);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, (std::vector<BlockCopy>{{kv.block_table(1).block_id(0), 0}, {cow.src, 1}}));
}

TEST(KvSwap, FreeingASwappedSequenceReturnsItsSwapBlocks) {
    KvCacheManager kv(KvCacheConfig{8, 8, true, 2});
    ASSERT_TRUE(kv.allocate_slots(1, 10));
    kv.commit(1, tokens(10), 10);
    ASSERT_TRUE(kv.swap_out(1));
    EXPECT_EQ(kv.num_free_swap_blocks(), 0);
    EXPECT_TRUE(kv.free(1));
    EXPECT_EQ(kv.num_free_swap_blocks(), 2);
}

TEST(SchedulerSwap, PreemptedSequencesSwapOutAndResumeBeforeNewAdmissions) {
    KvCacheManager kv(KvCacheConfig{6, 8, true, 8});
    Scheduler scheduler(SchedulerConfig{8, 64, true, true}, kv);
    for (SeqId id : {1, 2, 3}) {
        Sequence s;
        s.id = id;
        s.request_id = id;
        s.arrival = id;
        s.token_ids = tokens(14, 100 * static_cast<int>(id));
        s.num_prompt_tokens = 14;
        if (id == 3) s.arrival = 100;  // arrives later
        if (id != 3) scheduler.add_waiting(s);
    }
    auto run = [&](const ScheduledBatch& b) {
        scheduler.complete_step(b);
        for (const ScheduledSequence& s : b.seqs) {
            if (s.samples) scheduler.sequence(s.id).token_ids.push_back(9);
        }
    };
    ScheduledBatch b = scheduler.schedule();  // both prompts: 2 blocks each, 2 blocks left
    ASSERT_EQ(b.seqs.size(), 2u);
    run(b);
    Sequence late;
    late.id = 3;
    late.request_id = 3;
    late.arrival = 100;
    late.token_ids = tokens(6, 900);
    late.num_prompt_tokens = 6;
    // Decodes until the blocks run out: the newest running sequence (2) is swapped out.
    bool swapped = false;
    for (int step = 0; step < 24 && !swapped; ++step) {
        b = scheduler.schedule();
        if (!b.swap_out.empty()) {
            swapped = true;
            EXPECT_EQ(b.preempted, std::vector<SeqId>{2});
            EXPECT_TRUE(b.swap_in.empty());
            EXPECT_EQ(scheduler.sequence(2).status, SequenceStatus::Swapped);
            EXPECT_EQ(scheduler.num_swapped(), 1);
            EXPECT_GT(scheduler.sequence(2).num_computed_tokens, 14);  // kept: no recompute
        }
        run(b);
    }
    ASSERT_TRUE(swapped);
    scheduler.add_waiting(late);
    // While it is swapped out, the late arrival is not admitted; once 1 finishes, 2 resumes first.
    b = scheduler.schedule();
    for (const ScheduledSequence& s : b.seqs) EXPECT_NE(s.id, 3);
    run(b);
    scheduler.remove(1);
    b = scheduler.schedule();
    ASSERT_FALSE(b.swap_in.empty());
    EXPECT_EQ(b.seqs.front().id, 2);
    EXPECT_EQ(b.seqs.front().num_new_tokens, 1);
    EXPECT_EQ(scheduler.sequence(2).status, SequenceStatus::Running);
    EXPECT_TRUE(b.swap_out.empty());
    const std::vector<SeqId> live{2, 3};
    run(b);
    EXPECT_TRUE(test::kv_cache_invariants_hold(kv, live));
    for (SeqId id : live) {
        if (kv.contains(id)) {
            EXPECT_FALSE(kv.is_swapped(id));
        }
    }
}

// ---- the engine end to end, on every backend ----

class EngineSwap : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { KVSCOPE_SKIP_UNLESS_AVAILABLE(GetParam()); }

    std::unique_ptr<Engine> make_engine(const EngineConfig& config) {
        static std::shared_ptr<const Model> model = Model::load("");
        const CachePlan plan = plan_cache(config, model->shape());
        auto backend = test::make_test_backend(
            GetParam(), model->shape(), model->weights(),
            KvCacheSpec{plan.num_blocks, config.block_size, config.cache_dtype, plan.num_swap_blocks});
        return std::make_unique<Engine>(model, config, std::move(backend));
    }
};

std::map<RequestId, std::vector<std::int32_t>> generate(Engine& engine, std::int32_t* max_swapped) {
    const char* prompts[] = {"Once upon a time", "The cat sat", "Lily and Ben went to the park",
                             "One day, a little bird"};
    for (const char* p : prompts) {
        Request r;
        r.prompt = p;
        r.params.max_tokens = 48;
        r.params.temperature = 0.0;
        r.params.ignore_eos = true;
        engine.add_request(r);
    }
    std::map<RequestId, std::vector<std::int32_t>> out;
    while (engine.has_work()) {
        for (const RequestOutput& o : engine.step()) {
            for (const SequenceOutput& s : o.samples) {
                out[o.id].insert(out[o.id].end(), s.new_token_ids.begin(), s.new_token_ids.end());
            }
        }
        if (max_swapped) *max_swapped = std::max(*max_swapped, engine.metrics().num_requests_swapped);
    }
    return out;
}

TEST_P(EngineSwap, GreedyOutputsWithSwappingEqualThoseWithoutPreemption) {
    EngineConfig roomy;
    roomy.block_size = 8;
    roomy.num_kv_blocks = 64;
    roomy.cache_dtype = TensorType::F16;
    auto reference = make_engine(roomy);
    const auto want = generate(*reference, nullptr);
    EXPECT_EQ(reference->metrics().num_preemptions, 0);

    EngineConfig tight = roomy;
    tight.num_kv_blocks = 16;  // 128 slots for 4 sequences of ~55 tokens
    tight.preemption_mode = PreemptionMode::Swap;
    tight.swap_space_bytes = 1 << 20;
    auto engine = make_engine(tight);
    std::int32_t max_swapped = 0;
    const auto got = generate(*engine, &max_swapped);
    EXPECT_GT(engine->metrics().num_preemptions, 0);
    EXPECT_GT(max_swapped, 0);
    EXPECT_EQ(got, want);

    // With a swap space too small for any sequence, preemption falls back to recompute.
    tight.swap_space_bytes = static_cast<std::int64_t>(plan_cache(tight, engine->model().shape()).block_bytes);
    auto fallback = make_engine(tight);
    max_swapped = 0;
    EXPECT_EQ(generate(*fallback, &max_swapped), want);
    EXPECT_GT(fallback->metrics().num_preemptions, 0);
}

TEST(EngineSwapConfig, ABackendWithoutSwapSpaceIsRejected) {
    auto model = Model::load("");
    EngineConfig config;
    config.num_kv_blocks = 16;
    config.preemption_mode = PreemptionMode::Swap;
    const CachePlan plan = plan_cache(config, model->shape());
    auto backend = make_cpu_backend(model->shape(), model->weights(), KvCacheSpec{plan.num_blocks, 16}, {});
    EXPECT_THROW(Engine(model, config, std::move(backend)), ConfigError);
    config.swap_space_bytes = 0;
    EXPECT_THROW(plan_cache(config, model->shape()), ConfigError);
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineSwap, ::testing::ValuesIn(test::backend_names()), test::param_name);

}  // namespace swap_test
}  // namespace kvscope
