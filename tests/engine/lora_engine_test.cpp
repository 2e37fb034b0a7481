// LoRA through the engine: requests of different adapters in one batch generate what each does
// alone; prefix caching keeps adapters apart (same prompt under two adapters shares no block,
// hits within one adapter, and the base model keeps today's hashes); unloading frees the name
// and never lets a later adapter hit the old one's blocks; adapter files that do not fit the
// base model are refused with a message that names the problem.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>

#include "engine/block_hash.h"
#include "engine/engine.h"
#include "engine/error.h"
#include "engine/gguf_writer.h"
#include "engine/synthetic_lora.h"
#include "engine/synthetic_model.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace lora_engine_test {

struct Fixture {
    std::filesystem::path dir = test::temp_dir();
    std::shared_ptr<const Model> model;
    std::shared_ptr<const LoraAdapter> a, b;

    Fixture() {
        SyntheticModelSpec spec;
        spec.seed = 9;
        write_synthetic_model(spec, (dir / "base.gguf").string());
        model = Model::load((dir / "base.gguf").string());
        a = make(21, {LoraTarget::Q, LoraTarget::V, LoraTarget::Down});
        b = make(22, {LoraTarget::K, LoraTarget::O, LoraTarget::Gate, LoraTarget::Up});
    }
    std::shared_ptr<const LoraAdapter> make(std::uint64_t seed, std::vector<LoraTarget> targets) {
        SyntheticLoraSpec spec;
        spec.rank = 8;
        spec.seed = seed;
        spec.targets = std::move(targets);
        const std::string path = (dir / ("lora" + std::to_string(seed) + ".gguf")).string();
        write_synthetic_lora(spec, model->gguf(), path);
        return LoraAdapter::load(path, *model);
    }
    std::unique_ptr<Engine> engine() const {
        auto e = std::make_unique<Engine>(model, EngineConfig{});
        e->add_lora("alpha", a);
        e->add_lora("beta", b);
        return e;
    }
};

std::vector<std::int32_t> prompt_tokens(std::int32_t n, std::int32_t first) {
    std::vector<std::int32_t> t;
    for (std::int32_t i = 0; i < n; ++i) t.push_back(3 + (first + 37 * i) % 500);
    return t;
}

Request greedy(std::vector<std::int32_t> prompt, const std::string& lora, std::int32_t max_tokens = 12) {
    Request r;
    r.prompt_token_ids = std::move(prompt);
    r.lora = lora;
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    return r;
}

struct Result {
    std::vector<std::int32_t> tokens;
    RequestTimings timings;
};

std::map<RequestId, Result> run_all(Engine& engine) {
    std::map<RequestId, Result> results;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            for (const SequenceOutput& s : out.samples) {
                results[out.id].tokens.insert(results[out.id].tokens.end(), s.new_token_ids.begin(),
                                              s.new_token_ids.end());
            }
            if (out.finished) results[out.id].timings = out.timings;
        }
    }
    return results;
}

TEST(LoraEngine, MixedAdapterBatchEqualsEachRequestAlone) {
    const Fixture f;
    const std::vector<std::string> loras = {"", "alpha", "beta", "alpha", ""};
    std::vector<std::vector<std::int32_t>> alone;
    for (std::size_t i = 0; i < loras.size(); ++i) {
        auto engine = f.engine();
        const RequestId id = engine->add_request(greedy(prompt_tokens(20 + std::int32_t(i) * 7, int(i)), loras[i]));
        alone.push_back(run_all(*engine)[id].tokens);
        ASSERT_EQ(alone.back().size(), 12u);
    }
    auto engine = f.engine();
    std::vector<RequestId> ids;
    for (std::size_t i = 0; i < loras.size(); ++i) {
        ids.push_back(engine->add_request(greedy(prompt_tokens(20 + std::int32_t(i) * 7, int(i)), loras[i])));
    }
    auto together = run_all(*engine);
    for (std::size_t i = 0; i < loras.size(); ++i) EXPECT_EQ(together[ids[i]].tokens, alone[i]) << "request " << i;

    // Each adapter changes what the model generates for the same prompt.
    std::map<std::string, std::vector<std::int32_t>> by_lora;
    auto e2 = f.engine();
    std::map<RequestId, std::string> names;
    for (const char* name : {"", "alpha", "beta"}) names[e2->add_request(greedy(prompt_tokens(30, 1), name))] = name;
    for (const auto& [id, r] : run_all(*e2)) by_lora[names[id]] = r.tokens;
    EXPECT_NE(by_lora[""], by_lora["alpha"]);
    EXPECT_NE(by_lora[""], by_lora["beta"]);
    EXPECT_NE(by_lora["alpha"], by_lora["beta"]);
}

TEST(LoraEngine, PrefixCacheNeverSharesBlocksAcrossAdapters) {
    const Fixture f;
    auto engine = f.engine();
    const std::vector<std::int32_t> prompt = prompt_tokens(50, 5);  // 3 full blocks of 16
    auto run_one = [&](const std::string& lora) {
        const RequestId id = engine->add_request(greedy(prompt, lora, 4));
        return run_all(*engine)[id].timings.num_cached_tokens;
    };
    EXPECT_EQ(run_one("alpha"), 0);
    EXPECT_EQ(run_one("beta"), 0);    // same tokens, other adapter: no hit
    EXPECT_EQ(run_one(""), 0);        // nor for the base model
    EXPECT_EQ(run_one("alpha"), 48);  // within one adapter: every full prompt block hits
    EXPECT_EQ(run_one("beta"), 48);
    EXPECT_EQ(run_one(""), 48);

    // The cached blocks of the three carry three different first-block hashes, and the base
    // model's is the hash without any extra key (as before adapters existed).
    const EngineSnapshot snap = engine->snapshot();
    std::vector<BlockHash> first;
    hash_full_blocks(prompt, 16, 0, 1, first);
    int base_hits = 0, cached_blocks = 0;
    for (const KvBlockInfo& block : snap.kv.blocks) {
        if (!block.hash) continue;
        ++cached_blocks;
        base_hits += *block.hash == first[0] ? 1 : 0;
    }
    EXPECT_EQ(cached_blocks, 9);  // 3 prompt blocks x (base, alpha, beta)
    EXPECT_EQ(base_hits, 1);
}

// The snapshot says which adapter each sequence runs and whose KV each block holds: two
// requests under different adapters and one on the base model, all with the same prompt, hold
// pairwise distinct blocks, each labelled with its sequence's adapter; once finished, the cached
// blocks keep their labels.
TEST(LoraEngine, SnapshotNamesEachSequencesAndBlocksAdapter) {
    const Fixture f;
    auto engine = f.engine();
    const std::vector<std::int32_t> prompt = prompt_tokens(40, 3);  // 2 full blocks of 16 and a partial one
    std::map<RequestId, std::int32_t> want;                         // request -> adapter index (-1: base)
    want[engine->add_request(greedy(prompt, "beta", 8))] = 1;
    want[engine->add_request(greedy(prompt, "", 8))] = -1;
    want[engine->add_request(greedy(prompt, "alpha", 8))] = 0;
    engine->step();  // the three prompts are in the cache, every block held

    const EngineSnapshot snap = engine->snapshot();
    EXPECT_EQ(snap.loras, (std::vector<std::string>{"alpha", "beta"}));
    ASSERT_EQ(snap.block_loras.size(), snap.kv.blocks.size());
    ASSERT_EQ(snap.sequences.size(), 3u);
    std::map<std::int32_t, std::vector<std::int32_t>> blocks_of;  // adapter index -> its sequence's blocks
    for (const SequenceSnapshot& s : snap.sequences) {
        EXPECT_EQ(s.lora, want.at(s.request_id)) << "request " << s.request_id;
        const KvSequenceInfo* info = snap.kv.find_sequence(s.id);
        ASSERT_NE(info, nullptr);
        const auto table = snap.kv.block_table(*info);
        ASSERT_EQ(table.size(), 3u);
        for (const std::int32_t b : table) {
            EXPECT_EQ(snap.block_loras[std::size_t(b)], s.lora) << "block " << b;
            EXPECT_EQ(snap.kv.owners(b).size(), 1u) << "block " << b << " is shared across adapters";
        }
        blocks_of[s.lora].assign(table.begin(), table.end());
    }
    ASSERT_EQ(blocks_of.size(), 3u);
    for (const auto& [x, bx] : blocks_of) {
        for (const auto& [y, by] : blocks_of) {
            if (x == y) continue;
            for (const std::int32_t b : bx) EXPECT_EQ(std::count(by.begin(), by.end(), b), 0);
        }
    }
    for (const KvBlockInfo& b : snap.kv.blocks) {
        if (b.state == BlockState::Free) {
            EXPECT_EQ(snap.block_loras[std::size_t(b.id)], -1);
        }
    }

    run_all(*engine);
    const EngineSnapshot after = engine->snapshot();
    EXPECT_TRUE(after.sequences.empty());
    std::map<std::int32_t, int> cached;  // adapter index -> cached blocks
    for (const KvBlockInfo& b : after.kv.blocks) {
        if (b.state == BlockState::Cached) ++cached[after.block_loras[std::size_t(b.id)]];
    }
    // Per adapter: 47 tokens in the cache (40 + 8 generated, the last one never fed back) fill 2
    // blocks of 16, cached as they were written, under their adapter.
    EXPECT_EQ(cached, (std::map<std::int32_t, int>{{-1, 2}, {0, 2}, {1, 2}}));
}

TEST(LoraEngine, RequestsNameLoadedAdaptersOnly) {
    const Fixture f;
    auto engine = f.engine();
    EXPECT_EQ(engine->lora_names(), (std::vector<std::string>{"alpha", "beta"}));
    try {
        engine->add_request(greedy(prompt_tokens(5, 0), "gamma"));
        FAIL() << "an unknown adapter was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("no LoRA adapter named 'gamma'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(engine->add_lora("alpha", f.a), ConfigError);
    EXPECT_THROW(engine->add_lora("", f.a), ConfigError);
}

void expect_error(const std::string& message, const std::vector<std::string>& parts) {
    for (const std::string& p : parts) EXPECT_NE(message.find(p), std::string::npos) << message;
}

// Unloading: refused while a request uses the adapter; then requests cannot name it, the
// snapshot keeps its name for the blocks it wrote, and an adapter loaded later under the same
// name is a new one: it generates what that adapter does in a fresh engine, and never hits the
// prefixes cached under the old one.
TEST(LoraEngine, AnUnloadedAdapterIsGoneAndItsNameCanBeUsedAgain) {
    const Fixture f;
    auto engine = f.engine();
    const std::vector<std::int32_t> prompt = prompt_tokens(40, 9);
    const RequestId first = engine->add_request(greedy(prompt, "alpha"));
    const std::vector<std::int32_t> old_alpha = run_all(*engine)[first].tokens;

    const RequestId busy = engine->add_request(greedy(prompt, "beta", 30));
    engine->step();
    try {
        engine->remove_lora("beta");
        FAIL() << "an adapter in use was unloaded";
    } catch (const ConfigError& e) {
        expect_error(e.what(), {"'beta'", "in use by 1 unfinished request", "abort"});
    }
    EXPECT_TRUE(engine->has_lora("beta"));
    ASSERT_TRUE(engine->abort(busy));
    run_all(*engine);
    engine->remove_lora("beta");
    engine->remove_lora("alpha");
    EXPECT_FALSE(engine->has_lora("alpha"));
    EXPECT_FALSE(engine->has_lora("beta"));
    EXPECT_EQ(engine->lora_names(), (std::vector<std::string>{"alpha (unloaded)", "beta (unloaded)"}));
    EXPECT_THROW(engine->remove_lora("alpha"), ConfigError);
    try {
        engine->add_request(greedy(prompt, "alpha"));
        FAIL() << "a request named an unloaded adapter";
    } catch (const ConfigError& e) {
        expect_error(e.what(), {"no LoRA adapter named 'alpha'"});
    }
    // The blocks the old adapters wrote are still cached, under their old names.
    const EngineSnapshot snap = engine->snapshot();
    std::map<std::string, int> cached;
    for (const KvBlockInfo& b : snap.kv.blocks) {
        const std::int32_t lora = snap.block_loras[std::size_t(b.id)];
        if (b.state == BlockState::Cached && lora >= 0) ++cached[snap.loras[std::size_t(lora)]];
    }
    EXPECT_EQ(cached["alpha (unloaded)"], 3);  // 40 + 12 tokens, the last never fed back: 3 full blocks
    EXPECT_GE(cached["beta (unloaded)"], 2);

    // "alpha" again, now the second adapter's file.
    engine->add_lora("alpha", f.b);
    const RequestId again = engine->add_request(greedy(prompt, "alpha"));
    const Result got = run_all(*engine)[again];
    EXPECT_EQ(got.timings.num_cached_tokens, 0) << "hit blocks of the unloaded adapter";
    Engine fresh(f.model, EngineConfig{});
    fresh.add_lora("other", f.b);
    const RequestId want = fresh.add_request(greedy(prompt, "other"));
    EXPECT_EQ(got.tokens, run_all(fresh)[want].tokens);
    EXPECT_NE(got.tokens, old_alpha);
    EXPECT_EQ(engine->lora_names(), (std::vector<std::string>{"alpha (unloaded)", "beta (unloaded)", "alpha"}));
}

// An adapter file written by hand: `edit` changes the writer before it is written.
std::string load_error(const Fixture& f, const std::function<void(GgufWriter&)>& edit, bool pair = true) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.type", "adapter");
    w.set_string("adapter.type", "lora");
    w.set_f32("adapter.lora.alpha", 8.0f);
    if (pair) {
        const std::vector<float> a(4 * 64, 0.1f), b(64 * 4, 0.1f);  // q: in 64, out 64 (4 heads x 16)
        w.add_tensor("blk.0.attn_q.weight.lora_a", {64, 4}, TensorType::F32,
                     std::span(reinterpret_cast<const std::uint8_t*>(a.data()), a.size() * 4));
        w.add_tensor("blk.0.attn_q.weight.lora_b", {4, 64}, TensorType::F32,
                     std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size() * 4));
    }
    edit(w);
    const std::vector<std::uint8_t> bytes = w.to_bytes();
    try {
        LoraAdapter::load(GgufFile::from_memory(bytes, "adapter.gguf"), *f.model);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(LoraEngine, BadAdapterFilesAreRefusedWithClearErrors) {
    const Fixture f;
    EXPECT_EQ(load_error(f, [](GgufWriter&) {}), "");  // the well-formed file loads
    expect_error(load_error(f, [](GgufWriter& w) { w.set_string("general.architecture", "qwen2"); }),
                 {"adapter.gguf", "architecture 'qwen2'", "is 'llama'", "made for this base model"});
    expect_error(load_error(f, [](GgufWriter& w) { w.set_string("general.type", "model"); }),
                 {"general.type is 'model'", "not an adapter file"});
    expect_error(load_error(f, [](GgufWriter& w) { w.set_string("adapter.type", "control_vector"); }),
                 {"adapter.type is 'control_vector'"});
    {
        expect_error(load_error(
                         f,
                         [](GgufWriter& w) {
                             GgufWriter copy;
                             for (const auto& [k, v] : w.metadata()) {
                                 if (k != "adapter.lora.alpha") copy.set(k, v);
                             }
                             w = copy;
                         },
                         /*pair=*/false),
                     {"adapter.lora.alpha is missing"});
    }
    const std::vector<float> wrong(4 * 32, 0.1f);
    const auto wrong_bytes = std::span(reinterpret_cast<const std::uint8_t*>(wrong.data()), wrong.size() * 4);
    expect_error(load_error(f,
                            [&](GgufWriter& w) {
                                w.add_tensor("blk.1.attn_k.weight.lora_a", {32, 4}, TensorType::F32, wrong_bytes);
                                w.add_tensor("blk.1.attn_k.weight.lora_b", {4, 32}, TensorType::F32, wrong_bytes);
                            }),
                 {"'blk.1.attn_k.weight'", "lora_a is [32, 4]", "base weight is [64, 32]", "lora_a must be [64, rank]",
                  "another base model"});
    expect_error(load_error(f,
                            [&](GgufWriter& w) {
                                w.add_tensor("blk.1.attn_k.weight.lora_a", {32, 4}, TensorType::F32, wrong_bytes);
                            }),
                 {"'blk.1.attn_k.weight' has lora_a but no lora_b"});
    expect_error(load_error(f,
                            [&](GgufWriter& w) {
                                w.add_tensor("token_embd.weight.lora_a", {32, 4}, TensorType::F32, wrong_bytes);
                                w.add_tensor("token_embd.weight.lora_b", {4, 32}, TensorType::F32, wrong_bytes);
                            }),
                 {"'token_embd.weight'", "kvscope cannot adapt"});
    expect_error(load_error(f,
                            [&](GgufWriter& w) {
                                w.add_tensor("blk.7.attn_q.weight.lora_a", {32, 4}, TensorType::F32, wrong_bytes);
                                w.add_tensor("blk.7.attn_q.weight.lora_b", {4, 32}, TensorType::F32, wrong_bytes);
                            }),
                 {"'blk.7.attn_q.weight'", "base model does not have"});
}

}  // namespace lora_engine_test
}  // namespace kvscope
