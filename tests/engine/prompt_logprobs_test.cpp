// Prompt logprobs (SamplingParams::prompt_logprobs) through the engine, against the naive
// reference forward pass: every prompt token's logprob, rank and top alternatives, over chunked
// prefills; the decode path's logprobs of the same tokens; prefix caching (read: never; written:
// yes); preemption by recompute (nothing scored twice); n > 1 (scored once); aborts.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/engine.h"
#include "engine/error.h"
#include "tests/support/backends.h"
#include "tests/support/reference_model.h"

namespace kvscope {
namespace prompt_logprobs_test {

std::shared_ptr<const Model> embedded() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

// The log-softmax of one row of logits, in double.
std::vector<double> log_softmax(const std::vector<float>& logits) {
    const double max = *std::max_element(logits.begin(), logits.end());
    double total = 0.0;
    for (const float l : logits) total += std::exp(l - max);
    std::vector<double> out(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - max - std::log(total);
    return out;
}

std::vector<std::int32_t> prompt_tokens(const std::string& text) {
    return embedded()->tokenizer().encode(text, /*add_special=*/true, false);
}

const std::string kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree and ran to get it.";

Request scored(const std::vector<std::int32_t>& prompt, std::int32_t num_top, std::int32_t max_tokens = 1) {
    Request r;
    r.prompt_token_ids = prompt;
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    r.params.prompt_logprobs = num_top;
    return r;
}

struct Collected {
    std::vector<SampleResult> prompt_logprobs;
    int outputs_with_prompt_logprobs = 0;
    std::vector<std::vector<std::int32_t>> tokens;  // per sample
    std::vector<std::vector<SampleResult>> logprobs;
    RequestTimings timings;
    bool finished = false;
};

std::map<RequestId, Collected> run_all(Engine& engine) {
    std::map<RequestId, Collected> results;
    while (engine.has_work()) {
        for (RequestOutput& out : engine.step()) {
            Collected& c = results[out.id];
            if (!out.prompt_logprobs.empty()) {
                ++c.outputs_with_prompt_logprobs;
                c.prompt_logprobs.insert(c.prompt_logprobs.end(), out.prompt_logprobs.begin(),
                                         out.prompt_logprobs.end());
            }
            for (const SequenceOutput& s : out.samples) {
                const auto index = static_cast<std::size_t>(s.index);
                if (c.tokens.size() <= index) {
                    c.tokens.resize(index + 1);
                    c.logprobs.resize(index + 1);
                }
                c.tokens[index].insert(c.tokens[index].end(), s.new_token_ids.begin(), s.new_token_ids.end());
                c.logprobs[index].insert(c.logprobs[index].end(), s.logprobs.begin(), s.logprobs.end());
            }
            if (out.finished) {
                c.finished = true;
                c.timings = out.timings;
            }
        }
    }
    return results;
}

void expect_same(const std::vector<SampleResult>& a, const std::vector<SampleResult>& b, double tolerance) {
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].token, b[i].token) << "entry " << i;
        EXPECT_NEAR(a[i].logprob, b[i].logprob, tolerance) << "entry " << i;
    }
}

// On every backend of tests/support/backends.h (the CUDA ones pick the rows out on the device).
class PromptLogprobsOn : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { KVSCOPE_SKIP_UNLESS_AVAILABLE(GetParam()); }

    std::unique_ptr<Engine> make_engine(const EngineConfig& config) {
        const CachePlan plan = plan_cache(config, embedded()->shape());
        auto backend = test::make_test_backend(GetParam(), embedded()->shape(), embedded()->weights(),
                                               KvCacheSpec{plan.num_blocks, config.block_size, config.cache_dtype});
        return std::make_unique<Engine>(embedded(), config, std::move(backend));
    }
};

TEST_P(PromptLogprobsOn, MatchTheReferenceForwardOverChunkedPrefill) {
    const std::vector<std::int32_t> prompt = prompt_tokens(kStory);
    ASSERT_GT(prompt.size(), 40u);
    test::ReferenceModel reference(embedded()->gguf());
    const std::vector<std::vector<float>> logits = reference.forward(prompt);
    constexpr std::int32_t kTop = 5;

    for (const std::int32_t budget : {7, 16, 2048}) {  // chunks of 7 and 16 tokens, and one step
        SCOPED_TRACE("max_num_batched_tokens " + std::to_string(budget));
        EngineConfig config;
        config.max_num_batched_tokens = budget;
        const std::unique_ptr<Engine> engine = make_engine(config);
        const RequestId id = engine->add_request(scored(prompt, kTop));
        const Collected got = run_all(*engine)[id];
        ASSERT_EQ(got.prompt_logprobs.size(), prompt.size() - 1);
        EXPECT_EQ(got.outputs_with_prompt_logprobs, 1);
        for (std::size_t i = 0; i + 1 < prompt.size(); ++i) {
            const std::vector<double> expected = log_softmax(logits[i]);
            const SampleResult& r = got.prompt_logprobs[i];
            const std::int32_t token = prompt[i + 1];
            EXPECT_EQ(r.token, token);
            EXPECT_NEAR(r.logprob, expected[static_cast<std::size_t>(token)], 2e-3) << "position " << i;
            // Rank: the tokens at least as likely, unless a near-tie makes it ambiguous.
            int rank_low = 0, rank_high = 0;
            for (const double lp : expected) {
                rank_low += lp >= expected[static_cast<std::size_t>(token)] + 2e-3 ? 1 : 0;
                rank_high += lp >= expected[static_cast<std::size_t>(token)] - 2e-3 ? 1 : 0;
            }
            EXPECT_GE(r.rank, std::max(rank_low, 1));
            EXPECT_LE(r.rank, rank_high);
            // Alternatives: kTop of them, most likely first, each as likely as the reference says
            // and none less likely than the reference's kTop-th.
            ASSERT_EQ(r.num_top_logprobs, kTop);
            std::vector<double> sorted = expected;
            std::nth_element(sorted.begin(), sorted.begin() + (kTop - 1), sorted.end(), std::greater<double>());
            for (std::int32_t k = 0; k < kTop; ++k) {
                const TokenLogprob& alt = r.top()[static_cast<std::size_t>(k)];
                EXPECT_NEAR(alt.logprob, expected[static_cast<std::size_t>(alt.token)], 2e-3);
                EXPECT_GE(alt.logprob, sorted[kTop - 1] - 2e-3);
                if (k > 0) {
                    EXPECT_LE(alt.logprob, r.top()[static_cast<std::size_t>(k) - 1].logprob);
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, PromptLogprobsOn, ::testing::ValuesIn(test::backend_names()), test::param_name);

// The decode path (one token a step, scored as it is sampled) and the prefill path (the same
// tokens given as a prompt) find the same logprobs.
TEST(PromptLogprobs, AgreeWithTheLogprobsOfGeneratedTokens) {
    const std::vector<std::int32_t> prompt = prompt_tokens("Once upon a time");
    Engine engine(embedded(), EngineConfig{});
    Request generate = scored(prompt, 0, 24);
    generate.params.prompt_logprobs.reset();
    generate.params.logprobs = 0;
    const RequestId gen_id = engine.add_request(generate);
    const Collected generated = run_all(engine)[gen_id];
    ASSERT_EQ(generated.tokens.at(0).size(), 24u);

    std::vector<std::int32_t> whole = prompt;
    whole.insert(whole.end(), generated.tokens[0].begin(), generated.tokens[0].end());
    const RequestId id = engine.add_request(scored(whole, 0));
    const Collected rescored = run_all(engine)[id];
    ASSERT_EQ(rescored.prompt_logprobs.size(), whole.size() - 1);
    const std::vector<SampleResult> tail(rescored.prompt_logprobs.end() - 24, rescored.prompt_logprobs.end());
    expect_same(tail, generated.logprobs[0], 1e-3);
    for (const SampleResult& r : tail) EXPECT_EQ(r.rank, 1);  // greedy: each was the most likely
}

TEST(PromptLogprobs, NeverReadThePrefixCacheButFillIt) {
    const std::vector<std::int32_t> prompt = prompt_tokens(kStory);
    Engine engine(embedded(), EngineConfig{});
    const RequestId first = engine.add_request(scored(prompt, 2));
    const Collected a = run_all(engine)[first];
    const RequestId second = engine.add_request(scored(prompt, 2));
    const Collected b = run_all(engine)[second];
    EXPECT_EQ(b.timings.num_cached_tokens, 0);
    ASSERT_EQ(b.prompt_logprobs.size(), prompt.size() - 1);
    expect_same(a.prompt_logprobs, b.prompt_logprobs, 0.0);

    // A request without prompt logprobs hits the blocks they left in the cache.
    Request plain = scored(prompt, 0);
    plain.params.prompt_logprobs.reset();
    const RequestId third = engine.add_request(plain);
    const Collected c = run_all(engine)[third];
    EXPECT_EQ(c.timings.num_cached_tokens, static_cast<std::int32_t>((prompt.size() - 1) / 16 * 16));
    EXPECT_TRUE(c.prompt_logprobs.empty());
}

TEST(PromptLogprobs, ArriveOnceThroughPreemptionAndForks) {
    const std::vector<std::int32_t> prompt = prompt_tokens(kStory);
    // Alone first: the values each request must get whatever happens around it.
    Engine alone(embedded(), EngineConfig{});
    const RequestId solo = alone.add_request(scored(prompt, 1));
    const std::vector<SampleResult> expected = run_all(alone)[solo].prompt_logprobs;

    // A cache too small for all of them at once: requests are preempted (recompute) and rerun.
    EngineConfig config;
    config.num_kv_blocks = 24;
    config.max_num_batched_tokens = 32;
    Engine engine(embedded(), config);
    std::vector<RequestId> ids;
    for (int i = 0; i < 4; ++i) {
        Request r = scored(prompt, 1, 80);
        if (i == 1) {
            r.params.n = 3;
            r.params.temperature = 0.8;
            r.params.seed = 7;
        }
        ids.push_back(engine.add_request(r));
    }
    const auto results = run_all(engine);
    EXPECT_GT(engine.metrics().num_preemptions, 0);
    for (const RequestId id : ids) {
        const Collected& c = results.at(id);
        EXPECT_TRUE(c.finished);
        EXPECT_EQ(c.outputs_with_prompt_logprobs, 1);
        expect_same(c.prompt_logprobs, expected, 1e-3);
    }
}

TEST(PromptLogprobs, AnAbortBeforeTheFirstTokenReturnsThoseScored) {
    const std::vector<std::int32_t> prompt = prompt_tokens(kStory);
    EngineConfig config;
    config.max_num_batched_tokens = 16;
    Engine engine(embedded(), config);
    const RequestId id = engine.add_request(scored(prompt, 0));
    engine.step();  // the first 16 prompt tokens: 16 positions scored
    ASSERT_TRUE(engine.abort(id));
    const std::vector<RequestOutput> outputs = engine.step();
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(outputs[0].finished);
    EXPECT_EQ(outputs[0].prompt_logprobs.size(), 16u);
}

TEST(PromptLogprobs, AOneTokenPromptHasNone) {
    Engine engine(embedded(), EngineConfig{});
    const RequestId id = engine.add_request(scored({1}, 3));
    const Collected c = run_all(engine)[id];
    EXPECT_TRUE(c.prompt_logprobs.empty());
    EXPECT_EQ(c.tokens.at(0).size(), 1u);
}

TEST(PromptLogprobs, OutOfRangeIsRejected) {
    Engine engine(embedded(), EngineConfig{});
    Request r = scored({1, 2, 3}, kMaxLogprobs + 1);
    try {
        engine.add_request(r);
        FAIL() << "accepted prompt_logprobs = " << kMaxLogprobs + 1;
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("prompt_logprobs = 21"), std::string::npos) << e.what();
    }
}

}  // namespace prompt_logprobs_test
}  // namespace kvscope
