// The engine end to end on the embedded model: the known-good greedy output, batch invariance
// (alone = in any batch, with chunked prefill and preemption), n > 1 sharing, prefix caching,
// aborts, rejections, and a randomised workload with the KV invariants checked after every step.

#include "engine/engine.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>

#include "engine/error.h"
#include "tests/support/reference_model.h"

namespace kvscope {
namespace engine_test {

const std::vector<std::int32_t> kKnownGood = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                              426, 338, 401, 396, 267, 337, 410, 408, 419, 292};

std::shared_ptr<const Model> embedded() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

struct Result {
    std::vector<std::vector<std::int32_t>> tokens;  // per sample
    std::vector<std::string> text;
    std::vector<FinishReason> finish;
    RequestTimings timings;
};

// Runs the engine until idle, collecting every request's outputs.
std::map<RequestId, Result> run_all(Engine& engine, const std::function<void(Engine&)>& after_step = {}) {
    std::map<RequestId, Result> results;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            Result& r = results[out.id];
            for (const SequenceOutput& s : out.samples) {
                if (r.tokens.size() <= std::size_t(s.index)) {
                    r.tokens.resize(std::size_t(s.index) + 1);
                    r.text.resize(std::size_t(s.index) + 1);
                    r.finish.resize(std::size_t(s.index) + 1, FinishReason::none);
                }
                auto& t = r.tokens[std::size_t(s.index)];
                t.insert(t.end(), s.new_token_ids.begin(), s.new_token_ids.end());
                r.text[std::size_t(s.index)] += s.text_delta;
                if (s.finished()) r.finish[std::size_t(s.index)] = s.finish_reason;
            }
            if (out.finished) r.timings = out.timings;
        }
        if (after_step) after_step(engine);
    }
    return results;
}

Request greedy(const std::string& prompt, std::int32_t max_tokens) {
    Request r;
    r.prompt = prompt;
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    return r;
}

TEST(Engine, ReproducesTheKnownGoodGreedyOutput) {
    Engine engine(embedded(), EngineConfig{});
    Request r = greedy("Once upon a time", 20);
    r.params.ignore_eos = false;
    const RequestId id = engine.add_request(r);
    auto results = run_all(engine);
    EXPECT_EQ(results[id].tokens[0], kKnownGood);
    EXPECT_EQ(results[id].finish[0], FinishReason::length);
    EXPECT_EQ(results[id].text[0], ", there was a little girl named Lily. She loved to play outsid");
    EXPECT_EQ(results[id].timings.num_prompt_tokens, 5);
}

// Checks the KV cache's bookkeeping from the engine's snapshot alone (an independent recount).
void expect_snapshot_invariants(const EngineSnapshot& snap) {
    const KvSnapshot& kv = snap.kv;
    std::vector<std::int32_t> refs(kv.blocks.size(), 0);
    for (const KvSequenceInfo& s : kv.sequences) {
        for (std::int32_t b : kv.block_table(s)) ++refs[std::size_t(b)];
        ASSERT_GE(s.num_blocks * kv.stats.block_size, s.num_computed_tokens);
    }
    std::int32_t used = 0, cached = 0, free = 0;
    for (const KvBlockInfo& b : kv.blocks) {
        ASSERT_EQ(b.ref_count, refs[std::size_t(b.id)]) << "block " << b.id;
        switch (b.state) {
            case BlockState::Active:
                ASSERT_GT(b.ref_count, 0);
                ++used;
                break;
            case BlockState::Cached:
                ASSERT_EQ(b.ref_count, 0);
                ASSERT_TRUE(b.hash.has_value());
                ++cached;
                break;
            case BlockState::Free:
                ASSERT_EQ(b.ref_count, 0);
                ASSERT_FALSE(b.hash.has_value());
                ++free;
                break;
        }
    }
    ASSERT_EQ(used, kv.stats.num_used_blocks);
    ASSERT_EQ(cached, kv.stats.num_cached_free_blocks);
    ASSERT_EQ(free, kv.stats.num_free_blocks);
    ASSERT_EQ(used + cached + free, kv.stats.num_blocks);
    // Running sequences hold blocks; waiting ones hold none.
    std::set<SeqId> in_kv;
    for (const KvSequenceInfo& s : kv.sequences) in_kv.insert(s.id);
    for (const SequenceSnapshot& s : snap.sequences) {
        ASSERT_EQ(in_kv.count(s.id), s.status == SequenceStatus::Running ? 1u : 0u) << "sequence " << s.id;
    }
}

const std::vector<std::string> kPrompts = {
    "Once upon a time",
    "The cat sat on the mat and looked at the big red ball. It wanted to play",
    "Lily",
    "One day, Tom went to the park with his mom. They saw a big tree with many birds",
    "The sun was hot",
    "Sara had a little doll. She loved her doll very much and took it everywhere she went, even to bed at night",
};

TEST(Engine, GreedyOutputIsTheSameAloneAndInsideTightBatches) {
    std::vector<std::vector<std::int32_t>> alone;
    for (const std::string& p : kPrompts) {
        Engine engine(embedded(), EngineConfig{});
        const RequestId id = engine.add_request(greedy(p, 24));
        alone.push_back(run_all(engine)[id].tokens[0]);
    }
    // The independent oracle agrees on two of them.
    test::ReferenceModel ref(embedded()->gguf());
    for (std::size_t i : {0u, 3u}) {
        const auto prompt = embedded()->tokenizer().encode(kPrompts[i], true, false);
        EXPECT_EQ(ref.greedy(prompt, 24), alone[i]) << kPrompts[i];
    }
    for (std::int32_t block_size : {8, 16, 32}) {
        for (bool chunked : {true, false}) {
            EngineConfig config;
            config.block_size = block_size;
            config.num_kv_blocks = 96 / block_size * 2;  // about 190 slots for 6 x ~50 tokens: preemption
            config.max_num_batched_tokens = chunked ? 16 : 80;  // whole: up to ~70 tokens
            config.enable_chunked_prefill = chunked;
            config.max_num_seqs = 5;
            Engine engine(embedded(), config);
            std::vector<RequestId> ids;
            for (const std::string& p : kPrompts) ids.push_back(engine.add_request(greedy(p, 24)));
            auto results = run_all(engine, [](Engine& e) { expect_snapshot_invariants(e.snapshot()); });
            for (std::size_t i = 0; i < ids.size(); ++i) {
                EXPECT_EQ(results[ids[i]].tokens[0], alone[i])
                    << "prompt " << i << ", block size " << block_size << ", chunked " << chunked;
            }
            if (block_size == 8) {
                EXPECT_GT(engine.metrics().num_preemptions, 0);
            }
        }
    }
}

TEST(Engine, SamplesOfOneRequestShareThePromptBlocksAndCopyOnWrite) {
    EngineConfig config;
    config.block_size = 8;
    Engine engine(embedded(), config);
    Request r = greedy("The cat sat on the mat and looked at the big red ball", 10);  // 14 tokens: 2 blocks
    r.params.n = 4;
    const RequestId id = engine.add_request(r);
    const std::int32_t prompt_blocks =
        (std::int32_t(embedded()->tokenizer().encode(r.prompt, true, false).size()) + 7) / 8;
    bool checked = false;
    auto results = run_all(engine, [&](Engine& e) {
        if (checked) return;
        checked = true;  // after the first step: prefill, then the fork
        const EngineSnapshot snap = e.snapshot();
        EXPECT_EQ(snap.sequences.size(), 4u);
        EXPECT_EQ(snap.kv.stats.num_shared_blocks, prompt_blocks);  // each prompt block, the partial last too
        EXPECT_EQ(snap.kv.stats.num_saved_blocks, prompt_blocks * 3);
        EXPECT_EQ(snap.kv.stats.num_used_blocks, prompt_blocks);
    });
    ASSERT_EQ(results[id].tokens.size(), 4u);
    Engine single(embedded(), config);
    const RequestId one = single.add_request(greedy("The cat sat on the mat and looked at the big red ball", 10));
    const auto expected = run_all(single)[one].tokens[0];
    for (const auto& t : results[id].tokens) EXPECT_EQ(t, expected);
}

TEST(Engine, SeededSamplesAreReproducibleWhateverElseRuns) {
    auto sample_run = [](bool with_others) {
        Engine engine(embedded(), EngineConfig{});
        if (with_others) engine.add_request(greedy("Lily", 30));
        Request r;
        r.prompt = "Once upon a time";
        r.params.temperature = 0.9;
        r.params.seed = 1234;
        r.params.n = 3;
        r.params.max_tokens = 20;
        const RequestId id = engine.add_request(r);
        if (with_others) engine.add_request(greedy("The sun was hot", 30));
        return run_all(engine)[id].tokens;
    };
    const auto a = sample_run(false), b = sample_run(true);
    EXPECT_EQ(a, b);
    EXPECT_NE(a[0], a[1]);  // different streams per sample
}

TEST(Engine, PrefixCacheHitsComputeOnlyNewTokensAndChangeNothing) {
    const std::string prefix =
        "Sara had a little doll. She loved her doll very much and took it everywhere she went, even to bed";
    auto run = [&](bool caching) {
        EngineConfig config;
        config.enable_prefix_caching = caching;
        Engine engine(embedded(), config);
        const RequestId first = engine.add_request(greedy(prefix + " at night.", 8));
        auto r1 = run_all(engine);
        const RequestId second = engine.add_request(greedy(prefix + " in the car.", 8));
        auto r2 = run_all(engine);
        return std::make_tuple(r1[first], r2[second], engine.metrics());
    };
    const auto [a1, a2, with] = run(true);
    const auto [b1, b2, without] = run(false);
    EXPECT_EQ(a1.tokens, b1.tokens);
    EXPECT_EQ(a2.tokens, b2.tokens);
    const std::int32_t prompt_len = a2.timings.num_prompt_tokens;
    EXPECT_EQ(a2.timings.num_cached_tokens, (prompt_len - 4) / 16 * 16) << "prompt " << prompt_len;
    EXPECT_GT(a2.timings.num_cached_tokens, 0);
    EXPECT_EQ(b2.timings.num_cached_tokens, 0);
    EXPECT_EQ(with.prefix_cache_hits, a2.timings.num_cached_tokens);
    EXPECT_EQ(with.prompt_tokens + with.prefix_cache_hits, without.prompt_tokens);
}

TEST(Engine, AbortFreesEverythingAndReportsAbort) {
    Engine engine(embedded(), EngineConfig{});
    const RequestId a = engine.add_request(greedy("Once upon a time", 100));
    const RequestId b = engine.add_request(greedy("Lily", 5));
    engine.step();
    engine.step();
    EXPECT_TRUE(engine.abort(a));
    EXPECT_FALSE(engine.abort(a));
    auto results = run_all(engine);
    EXPECT_EQ(results[a].finish[0], FinishReason::abort);
    EXPECT_EQ(results[b].finish[0], FinishReason::length);
    const EngineSnapshot snap = engine.snapshot();
    EXPECT_EQ(snap.kv.stats.num_used_blocks, 0);
    EXPECT_TRUE(engine.request_ids().empty());
}

TEST(Engine, ACountersOnlySnapshotHasTheFullOnesCountersAndNoBlockArrays) {
    Engine engine(embedded(), EngineConfig{});
    engine.add_request(greedy("Once upon a time", 30));
    for (int i = 0; i < 5; ++i) engine.step();
    const EngineSnapshot full = engine.snapshot();
    const EngineSnapshot light = engine.snapshot(SnapshotDetail::CountersOnly);
    EXPECT_EQ(full.detail, SnapshotDetail::Full);
    EXPECT_EQ(light.detail, SnapshotDetail::CountersOnly);
    EXPECT_EQ(full.kv.blocks.size(), std::size_t(full.kv.stats.num_blocks));
    EXPECT_TRUE(full.block_loras.empty());  // no adapter: every block is the base model's
    EXPECT_TRUE(light.kv.blocks.empty() && light.kv.sequences.empty() && light.kv.table_block_ids.empty() &&
                light.kv.free_queue.empty());
    EXPECT_EQ(light.kv.stats.num_used_blocks, full.kv.stats.num_used_blocks);
    EXPECT_EQ(light.kv.stats.num_filled_slots, full.kv.stats.num_filled_slots);
    EXPECT_GT(light.kv.stats.num_used_blocks, 0);
    EXPECT_EQ(light.metrics.generation_tokens, full.metrics.generation_tokens);
    ASSERT_EQ(light.sequences.size(), 1u);
    EXPECT_EQ(light.sequences[0].num_tokens, full.sequences[0].num_tokens);
}

// A workbench-sized cache of three chunks of blocks (KvBlockList): each step's snapshot, taken
// with the one before, equals one from scratch and shares the chunks the step did not touch.
TEST(Engine, ASnapshotWithThePreviousOneEqualsOneFromScratch) {
    EngineConfig config;
    config.num_kv_blocks = 3 * KvBlockList::kBlocksPerChunk;
    Engine engine(embedded(), config);
    for (int i = 0; i < 4; ++i) engine.add_request(greedy("Once upon a time", 40));
    EngineSnapshot previous = engine.snapshot();
    int steps = 0, shared = 0;
    while (engine.has_work()) {
        engine.step();
        ++steps;
        EngineSnapshot snap = engine.snapshot(SnapshotDetail::Full, &previous);
        const EngineSnapshot scratch = engine.snapshot();
        ASSERT_TRUE(snap.kv.blocks == scratch.kv.blocks) << "step " << steps;
        ASSERT_EQ(snap.kv.table_block_ids, scratch.kv.table_block_ids);
        ASSERT_EQ(snap.kv.free_queue, scratch.kv.free_queue);
        for (std::size_t c = 1; c < 3; ++c) shared += snap.kv.blocks.chunks()[c] == previous.kv.blocks.chunks()[c];
        previous = std::move(snap);
    }
    EXPECT_GT(steps, 10);
    EXPECT_EQ(shared, 2 * steps);  // the requests' blocks are all in chunk 0
    // A counters-only or another engine's snapshot as `previous` shares nothing.
    Engine other(embedded(), config);
    const EngineSnapshot fresh = other.snapshot(SnapshotDetail::Full, &previous);
    for (std::size_t c = 0; c < 3; ++c) EXPECT_NE(fresh.kv.blocks.chunks()[c], previous.kv.blocks.chunks()[c]);
    const EngineSnapshot light = engine.snapshot(SnapshotDetail::CountersOnly);
    EXPECT_TRUE(engine.snapshot(SnapshotDetail::Full, &light).kv.blocks == previous.kv.blocks);
}

TEST(Engine, StopStringsEndTheTextBeforeThem) {
    Engine engine(embedded(), EngineConfig{});
    Request r = greedy("Once upon a time", 40);
    r.params.stop = {"little"};
    const RequestId id = engine.add_request(r);
    auto results = run_all(engine);
    EXPECT_EQ(results[id].text[0], ", there was a ");
    EXPECT_EQ(results[id].finish[0], FinishReason::stop);
}

TEST(Engine, RequestsThatCanNeverRunAreRejectedWithAReason) {
    EngineConfig config;
    config.num_kv_blocks = 4;
    config.block_size = 8;
    config.max_num_seqs = 2;
    Engine engine(embedded(), config);
    auto message = [&](Request r) {
        try {
            engine.add_request(r);
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_NE(message(greedy("Once upon a time", 40)).find("needs up to 6 KV blocks"), std::string::npos);
    Request n3 = greedy("Lily", 2);
    n3.params.n = 3;
    EXPECT_NE(message(n3).find("exceed max_num_seqs"), std::string::npos);
    EXPECT_EQ(message(greedy("Lily", 2)), "accepted");
    Request bad_id;
    bad_id.prompt_token_ids = {1, 99999};
    EXPECT_NE(message(bad_id).find("outside the vocabulary"), std::string::npos);
}

// Without chunked prefill a step computes a whole prompt (or a preempted sequence's recompute):
// one that can grow past the step budget is refused, rather than waiting in the queue forever.
TEST(Engine, WithoutChunkedPrefillARequestLongerThanTheStepBudgetIsRefused) {
    EngineConfig config;
    config.enable_chunked_prefill = false;
    config.max_num_batched_tokens = 8;
    Engine engine(embedded(), config);
    // 5 prompt tokens + 4 sampled: at most 8 computed at once (a recompute after preemption)
    EXPECT_NO_THROW(engine.add_request(greedy("Once upon a time", 4)));
    try {
        engine.add_request(greedy("Once upon a time", 5));
        FAIL() << "a request of up to 9 computed tokens was accepted with a step budget of 8";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("may need 9 tokens"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("enable chunked prefill"), std::string::npos) << e.what();
    }
    const auto results = run_all(engine);
    EXPECT_EQ(results.size(), 1u);
}

TEST(Engine, RandomisedWorkloadKeepsTheKvInvariantsAndEndsWithEveryBlockFree) {
    for (std::uint32_t seed : {1u, 2u, 3u}) {
        std::mt19937 rng(seed);
        EngineConfig config;
        config.block_size = 8 << (seed % 3);
        config.num_kv_blocks = 256 / config.block_size;
        config.max_num_seqs = 6;
        config.max_num_batched_tokens = 24;
        config.enable_prefix_caching = seed != 2;
        Engine engine(embedded(), config);
        std::vector<std::string> words = {"Once", "upon", "a", "time", "the", "cat", "dog", "ran", "big", "red"};
        std::set<RequestId> live;
        int steps = 0, finished = 0, aborted = 0;
        for (; steps < 700; ++steps) {
            if (std::uniform_int_distribution<int>(0, 3)(rng) == 0 && live.size() < 10) {
                Request r;
                const int len = std::uniform_int_distribution<int>(1, 25)(rng);
                for (int i = 0; i < len; ++i) r.prompt += words[rng() % words.size()] + " ";
                r.params.max_tokens = std::uniform_int_distribution<int>(1, 40)(rng);
                r.params.n = std::uniform_int_distribution<int>(1, 3)(rng);
                r.params.temperature = (rng() % 2) ? 0.0 : 1.0;
                r.params.seed = rng();
                r.priority = std::uniform_int_distribution<int>(0, 2)(rng);
                live.insert(engine.add_request(r));
            }
            if (!live.empty() && std::uniform_int_distribution<int>(0, 30)(rng) == 0) {
                auto it = live.begin();
                std::advance(it, rng() % live.size());
                ASSERT_TRUE(engine.abort(*it));
                live.erase(it);
                ++aborted;
            }
            for (const RequestOutput& out : engine.step()) {
                if (out.finished) {
                    live.erase(out.id);
                    ++finished;
                }
            }
            expect_snapshot_invariants(engine.snapshot());
            if (::testing::Test::HasFatalFailure()) return;
        }
        run_all(engine, [](Engine& e) { expect_snapshot_invariants(e.snapshot()); });
        const EngineSnapshot end = engine.snapshot();
        EXPECT_EQ(end.kv.stats.num_used_blocks, 0);
        EXPECT_EQ(end.kv.stats.num_cached_free_blocks + end.kv.stats.num_free_blocks, end.kv.stats.num_blocks);
        EXPECT_GT(finished, 20);
        EXPECT_GT(aborted, 0);
        EXPECT_GT(engine.metrics().num_preemptions, 0) << "seed " << seed;
    }
}

}  // namespace engine_test
}  // namespace kvscope
