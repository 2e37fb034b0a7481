// Engine::block_tokens, the inspector's view of what a KV block holds, checked after every step
// against each sequence's own token list (prompt ids from the tokenizer + the tokens streamed
// out): every logical block of every live sequence holds exactly its slice of that list, through
// prefix hits, n > 1 forks and copy-on-write. Cached blocks keep their tokens; free ones have none.

#include <gtest/gtest.h>

#include <map>

#include "engine/engine.h"

namespace kvscope {
namespace block_tokens_test {

using Key = std::pair<RequestId, std::int32_t>;  // (request, sample index)

struct Tracked {
    std::map<RequestId, std::vector<std::int32_t>> prompts;
    std::map<Key, std::vector<std::int32_t>> generated;
};

// Every block of every sequence in the KV cache holds its slice of the sequence's tokens.
void expect_blocks_hold_their_tokens(const Engine& engine, const Tracked& run) {
    const EngineSnapshot snap = engine.snapshot();
    const std::int32_t bs = snap.kv.stats.block_size;
    for (const SequenceSnapshot& s : snap.sequences) {
        const KvSequenceInfo* info = snap.kv.find_sequence(s.id);
        if (info == nullptr) continue;  // waiting: holds no block
        std::vector<std::int32_t> tokens = run.prompts.at(s.request_id);
        const auto it = run.generated.find({s.request_id, s.sample_index});
        if (it != run.generated.end()) tokens.insert(tokens.end(), it->second.begin(), it->second.end());
        const auto table = snap.kv.block_table(*info);
        for (std::size_t i = 0; i < table.size(); ++i) {
            const std::int32_t begin = std::int32_t(i) * bs;
            const std::int32_t end = std::min(begin + bs, info->num_computed_tokens);
            const std::vector<std::int32_t> want(tokens.begin() + begin, tokens.begin() + std::max(begin, end));
            ASSERT_EQ(engine.block_tokens(table[i]), want)
                << "sequence " << s.id << " logical block " << i << " (physical " << table[i] << ")";
        }
    }
}

void run_checked(Engine& engine, Tracked& run) {
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            for (const SequenceOutput& s : out.samples) {
                auto& g = run.generated[{out.id, s.index}];
                g.insert(g.end(), s.new_token_ids.begin(), s.new_token_ids.end());
            }
        }
        expect_blocks_hold_their_tokens(engine, run);
        if (testing::Test::HasFatalFailure()) return;
    }
}

Request make_request(const std::string& prompt, std::int32_t n, std::int32_t max_tokens) {
    Request r;
    r.prompt = prompt;
    r.params.n = n;
    r.params.max_tokens = max_tokens;
    r.params.temperature = n > 1 ? 1.0 : 0.0;
    r.params.seed = 7;
    r.params.ignore_eos = true;
    return r;
}

TEST(BlockTokens, EveryBlockHoldsItsSliceOfItsSequenceThroughHitsForksAndCopies) {
    auto model = Model::load("");
    EngineConfig config;
    config.block_size = 8;
    config.num_kv_blocks = 64;
    Engine engine(model, config);
    Tracked run;
    const std::string story = "Once upon a time, there was a little girl named Lily. She";
    for (const auto& [prompt, n] : std::vector<std::pair<std::string, int>>{{story, 1}, {story + " loved", 3}}) {
        const RequestId id = engine.add_request(make_request(prompt, n, 13));
        run.prompts[id] = model->tokenizer().encode(prompt, true, false);
    }
    run_checked(engine, run);
    // A later request hits the first one's cached blocks: they still hold the same tokens.
    const RequestId id = engine.add_request(make_request(story, 2, 5));
    run.prompts[id] = model->tokenizer().encode(story, true, false);
    run_checked(engine, run);
    EXPECT_GT(engine.metrics().prefix_cache_hits, 0);
}

TEST(BlockTokens, BlocksSwappedBackInHoldTheirTokens) {
    auto model = Model::load("");
    EngineConfig config;
    config.block_size = 8;
    config.num_kv_blocks = 16;  // 128 slots for 4 sequences of ~55 tokens: preemption by swap
    config.preemption_mode = PreemptionMode::Swap;
    config.swap_space_bytes = 1 << 20;
    Engine engine(model, config);
    Tracked run;
    for (const char* prompt : {"Once upon a time", "The cat sat", "Lily and Ben went to the park", "One day, a bird"}) {
        const RequestId id = engine.add_request(make_request(prompt, 1, 48));
        run.prompts[id] = model->tokenizer().encode(prompt, true, false);
    }
    std::int32_t max_swapped = 0;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            for (const SequenceOutput& s : out.samples) {
                auto& g = run.generated[{out.id, s.index}];
                g.insert(g.end(), s.new_token_ids.begin(), s.new_token_ids.end());
            }
        }
        max_swapped = std::max(max_swapped, engine.metrics().num_requests_swapped);
        expect_blocks_hold_their_tokens(engine, run);
        if (HasFatalFailure()) return;
    }
    EXPECT_GT(max_swapped, 0);
}

TEST(BlockTokens, CachedBlocksKeepTheirTokensAndFreeBlocksHaveNone) {
    auto model = Model::load("");
    EngineConfig config;
    config.block_size = 8;
    config.num_kv_blocks = 16;
    Engine engine(model, config);
    const std::string prompt = "Once upon a time, there was a little girl named Lily. She";
    const std::vector<std::int32_t> ids = model->tokenizer().encode(prompt, true, false);
    ASSERT_GE(ids.size(), 16u);
    engine.add_request(make_request(prompt, 1, 1));
    while (engine.has_work()) engine.step();
    const EngineSnapshot snap = engine.snapshot();
    ASSERT_EQ(snap.kv.stats.num_used_blocks, 0);
    std::vector<std::vector<std::int32_t>> cached;
    for (const KvBlockInfo& b : snap.kv.blocks) {
        if (b.state == BlockState::Cached) cached.push_back(engine.block_tokens(b.id));
        if (b.state == BlockState::Free) {
            EXPECT_TRUE(engine.block_tokens(b.id).empty()) << "block " << b.id;
        }
    }
    // The prompt's full blocks, in some physical order.
    ASSERT_EQ(cached.size(), ids.size() / 8);
    for (std::size_t i = 0; i < cached.size(); ++i) {
        const std::vector<std::int32_t> slice(ids.begin() + std::ptrdiff_t(i * 8),
                                              ids.begin() + std::ptrdiff_t(i * 8 + 8));
        EXPECT_NE(std::find(cached.begin(), cached.end(), slice), cached.end()) << "block " << i << " of the prompt";
    }
    ASSERT_TRUE(engine.reset_prefix_cache());
    for (std::int32_t b = 0; b < 16; ++b) EXPECT_TRUE(engine.block_tokens(b).empty());
    EXPECT_TRUE(engine.block_tokens(-1).empty());
    EXPECT_TRUE(engine.block_tokens(16).empty());
}

}  // namespace block_tokens_test
}  // namespace kvscope
