// Faults inside the engine on the embedded model: KV memory running out (preemption, then a
// clear refusal of what can never fit, the engine serving on) and an abort at every stage of a
// request's life (waiting, mid-way through a chunked prefill, decoding, preempted, after n > 1
// forked, after finishing). After each: the aborted request is reported once with
// FinishReason::abort, every block is free again, and the others' greedy tokens are the same as
// when they run alone.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/error.h"
#include "tests/support/nan_model.h"

namespace kvscope {
namespace engine_faults_test {

std::shared_ptr<const Model> embedded() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

Request greedy(const std::string& prompt, std::int32_t max_tokens) {
    Request r;
    r.prompt = prompt;
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    return r;
}

struct Outcome {
    std::vector<std::int32_t> tokens;  // sample 0
    FinishReason finish = FinishReason::none;
    int num_finished_reports = 0;
};

void collect(const std::vector<RequestOutput>& outs, std::map<RequestId, Outcome>& results) {
    for (const RequestOutput& out : outs) {
        Outcome& o = results[out.id];
        for (const SequenceOutput& s : out.samples) {
            if (s.index != 0) continue;
            o.tokens.insert(o.tokens.end(), s.new_token_ids.begin(), s.new_token_ids.end());
            if (s.finished()) o.finish = s.finish_reason;
        }
        if (out.finished) ++o.num_finished_reports;
    }
}

std::map<RequestId, Outcome> run_to_end(Engine& engine, std::map<RequestId, Outcome> results = {}) {
    for (int guard = 0; engine.has_work() && guard < 10000; ++guard) collect(engine.step(), results);
    EXPECT_FALSE(engine.has_work());
    return results;
}

std::vector<std::int32_t> alone(const std::string& prompt, std::int32_t max_tokens) {
    Engine engine(embedded(), EngineConfig{});
    const RequestId id = engine.add_request(greedy(prompt, max_tokens));
    return run_to_end(engine)[id].tokens;
}

void expect_all_free(const Engine& engine) {
    const EngineSnapshot snap = engine.snapshot();
    EXPECT_EQ(snap.kv.stats.num_used_blocks, 0);
    EXPECT_TRUE(engine.request_ids().empty());
}

// A copy: the snapshot is usually a temporary.
std::optional<SequenceSnapshot> find_seq(const EngineSnapshot& snap, RequestId id) {
    for (const SequenceSnapshot& s : snap.sequences) {
        if (s.request_id == id) return s;
    }
    return std::nullopt;
}

TEST(EngineFaults, KvExhaustionPreemptsThenRefusesWhatCanNeverFitAndServesOn) {
    EngineConfig config;
    config.block_size = 8;
    config.num_kv_blocks = 12;  // 96 slots; each request below needs up to 6 blocks alone
    Engine engine(embedded(), config);
    const std::vector<std::string> prompts = {"Once upon a time", "Lily and Ben", "The cat sat", "A big red dog"};
    std::map<RequestId, std::string> ids;
    for (const std::string& p : prompts) ids[engine.add_request(greedy(p, 40))] = p;

    // One that could never fit: refused at once, with the numbers and what to do.
    try {
        engine.add_request(greedy("Once upon a time there was a little girl", 200));
        FAIL() << "a request larger than the whole cache was accepted";
    } catch (const ConfigError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("KV blocks"), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }

    const auto results = run_to_end(engine);
    EXPECT_GT(engine.snapshot().metrics.num_preemptions, 0) << "the cache was meant to run out";
    for (const auto& [id, prompt] : ids) {
        EXPECT_EQ(results.at(id).finish, FinishReason::length) << prompt;
        EXPECT_EQ(results.at(id).tokens, alone(prompt, 40)) << prompt;
    }
    expect_all_free(engine);
}

TEST(EngineFaults, AbortWhileWaiting) {
    EngineConfig config;
    config.max_num_seqs = 1;
    Engine engine(embedded(), config);
    const RequestId running = engine.add_request(greedy("Once upon a time", 10));
    const RequestId waiting = engine.add_request(greedy("Lily", 10));
    auto results = std::map<RequestId, Outcome>{};
    collect(engine.step(), results);
    ASSERT_EQ(find_seq(engine.snapshot(), waiting)->status, SequenceStatus::Waiting);
    EXPECT_TRUE(engine.abort(waiting));
    results = run_to_end(engine, results);
    EXPECT_EQ(results[waiting].finish, FinishReason::abort);
    EXPECT_TRUE(results[waiting].tokens.empty());
    EXPECT_EQ(results[waiting].num_finished_reports, 1);
    EXPECT_EQ(results[running].tokens, alone("Once upon a time", 10));
    expect_all_free(engine);
}

TEST(EngineFaults, AbortInTheMiddleOfAChunkedPrefill) {
    EngineConfig config;
    config.block_size = 8;
    config.max_num_batched_tokens = 8;  // a prompt of ~50 tokens takes several steps
    Engine engine(embedded(), config);
    const std::string long_prompt =
        "Once upon a time there was a little girl named Lily who loved to play in the park with her big red "
        "ball and her friend Ben who had a small dog";
    const RequestId id = engine.add_request(greedy(long_prompt, 5));
    std::map<RequestId, Outcome> results;
    collect(engine.step(), results);
    collect(engine.step(), results);
    const std::optional<SequenceSnapshot> s = find_seq(engine.snapshot(), id);
    ASSERT_TRUE(s.has_value());
    ASSERT_GT(s->num_computed_tokens, 0);
    ASSERT_LT(s->num_computed_tokens, s->num_prompt_tokens) << "the prefill should still be going on";
    EXPECT_GT(engine.snapshot().kv.stats.num_used_blocks, 0);
    EXPECT_TRUE(engine.abort(id));
    results = run_to_end(engine, results);
    EXPECT_EQ(results[id].finish, FinishReason::abort);
    EXPECT_TRUE(results[id].tokens.empty());
    expect_all_free(engine);
    // The engine still serves, with the abandoned prefix blocks reusable.
    const RequestId next = engine.add_request(greedy("Once upon a time", 10));
    EXPECT_EQ(run_to_end(engine)[next].tokens, alone("Once upon a time", 10));
    expect_all_free(engine);
}

TEST(EngineFaults, AbortWhileDecodingAndWhilePreempted) {
    EngineConfig config;
    config.block_size = 8;
    config.num_kv_blocks = 8;
    Engine engine(embedded(), config);
    const RequestId a = engine.add_request(greedy("Once upon a time", 50));
    const RequestId b = engine.add_request(greedy("Lily and Ben", 50));
    std::map<RequestId, Outcome> results;
    // Decode until one of them is preempted (two requests of up to 7 blocks in 8).
    RequestId preempted = 0;
    for (int i = 0; i < 200 && preempted == 0 && engine.has_work(); ++i) {
        collect(engine.step(), results);
        for (const SequenceSnapshot& s : engine.snapshot().sequences) {
            if (s.num_preemptions > 0 && s.status != SequenceStatus::Running) preempted = s.request_id;
        }
    }
    ASSERT_NE(preempted, 0) << "no request was preempted";
    const RequestId decoding = preempted == a ? b : a;
    ASSERT_EQ(find_seq(engine.snapshot(), decoding)->status, SequenceStatus::Running);
    ASSERT_FALSE(results[decoding].tokens.empty());
    EXPECT_TRUE(engine.abort(preempted));
    collect(engine.step(), results);
    EXPECT_TRUE(engine.abort(decoding));
    results = run_to_end(engine, results);
    EXPECT_EQ(results[a].finish, FinishReason::abort);
    EXPECT_EQ(results[b].finish, FinishReason::abort);
    EXPECT_EQ(results[a].num_finished_reports, 1);
    EXPECT_EQ(results[b].num_finished_reports, 1);
    expect_all_free(engine);
}

TEST(EngineFaults, AbortAfterForkingSamplesAndAfterFinishing) {
    Engine engine(embedded(), EngineConfig{});
    Request r = greedy("Once upon a time", 30);
    r.params.n = 3;
    r.params.temperature = 1.0;
    r.params.seed = 5;
    const RequestId forked = engine.add_request(r);
    const RequestId done = engine.add_request(greedy("Lily", 2));
    std::map<RequestId, Outcome> results;
    for (int i = 0; i < 4; ++i) collect(engine.step(), results);
    ASSERT_EQ(results[done].finish, FinishReason::length);
    EXPECT_FALSE(engine.abort(done)) << "a finished request cannot be aborted";
    int samples = 0;
    for (const SequenceSnapshot& s : engine.snapshot().sequences) samples += s.request_id == forked;
    ASSERT_EQ(samples, 3);
    EXPECT_TRUE(engine.abort(forked));
    results = run_to_end(engine, results);
    EXPECT_EQ(results[forked].finish, FinishReason::abort);
    EXPECT_EQ(results[done].num_finished_reports, 1);
    expect_all_free(engine);
    EXPECT_FALSE(engine.abort(forked));
    EXPECT_FALSE(engine.abort(12345));
}

}  // namespace engine_faults_test
}  // namespace kvscope

namespace kvscope::engine_faults_test {

// A model whose logits turn NaN fails that request with the reason; the others in the batch get
// exactly the tokens they get alone. (Sampling used to abort the process; greedy decoding picked
// token 0 again and again.)
TEST(EngineFaults, NanLogitsFailTheirRequestWithTheReasonAndTheOthersServeOn) {
    const std::vector<std::int32_t> lily = embedded()->tokenizer().encode("Lily", true, false);
    const std::int32_t poisoned = lily.back();
    const std::shared_ptr<const Model> model = test::model_with_a_nan_token(poisoned);
    for (const double temperature : {0.0, 0.8}) {
        Engine engine(model, EngineConfig{});
        Request bad = greedy("Lily", 8);
        bad.params.temperature = temperature;
        bad.params.seed = 1;
        const RequestId bad_id = engine.add_request(bad);
        // 8 tokens: ", there was a little girl named" (the 10th would be "Lily" itself)
        const RequestId good_id = engine.add_request(greedy("Once upon a time", 8));
        std::map<RequestId, Outcome> results;
        std::string error;
        for (int guard = 0; engine.has_work() && guard < 1000; ++guard) {
            const std::vector<RequestOutput> outs = engine.step();
            for (const RequestOutput& out : outs) {
                if (out.id == bad_id && !out.error.empty()) error = out.error;
                if (out.id == good_id) {
                    EXPECT_TRUE(out.error.empty()) << out.error;
                }
            }
            collect(outs, results);
        }
        EXPECT_EQ(results[bad_id].finish, FinishReason::abort) << temperature;
        EXPECT_EQ(results[bad_id].num_finished_reports, 1);
        EXPECT_TRUE(results[bad_id].tokens.empty()) << "no token drawn from NaN logits";
        EXPECT_NE(error.find("not finite (NaN or infinity)"), std::string::npos) << error;
        EXPECT_EQ(results[good_id].finish, FinishReason::length);
        EXPECT_EQ(results[good_id].tokens, alone("Once upon a time", 8)) << temperature;
        expect_all_free(engine);
    }
}

}  // namespace kvscope::engine_faults_test
