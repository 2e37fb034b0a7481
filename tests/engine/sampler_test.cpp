// Sampler against naive references written here: a full-sort implementation of the filters,
// log-softmax in double, hand-computed penalties, chi-square tests of the draws, and a count of
// heap allocations.

#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <vector>

// Counts heap allocations while g_counting is on, to show that sample() allocates nothing. The
// replaced operator new uses malloc, so the replaced deletes use free (GCC cannot see they pair).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_num_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    if (g_counting.load(std::memory_order_relaxed)) g_num_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace kvscope {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<float> random_logits(size_t vocab_size, double spread, uint64_t seed) {
    SequenceRandom random(seed, 99);
    std::vector<float> logits(vocab_size);
    // A sum of three uniforms: bell-shaped, portable.
    for (auto& l : logits) {
        l = static_cast<float>(spread * (random.uniform01() + random.uniform01() + random.uniform01() - 1.5));
    }
    return logits;
}

std::vector<double> naive_log_softmax(const std::vector<float>& logits, double temperature = 1.0) {
    double max_value = -kInf;
    for (const float l : logits) max_value = std::max(max_value, l / temperature);
    double total = 0.0;
    for (const float l : logits) total += std::exp(l / temperature - max_value);
    std::vector<double> out;
    for (const float l : logits) out.push_back(l / temperature - max_value - std::log(total));
    return out;
}

// The filters spelled out with full sorts: min-p on the probabilities at temperature T, top-k by
// the k-th largest logit (ties kept), top-p by cumulative mass in (logit desc, id asc) order.
// Returns survivor -> renormalised probability.
std::map<int32_t, double> naive_survivors(const std::vector<float>& logits, const SamplingParams& params) {
    const double temperature = params.effective_temperature();
    const std::vector<double> logprobs = naive_log_softmax(logits, temperature);
    std::vector<int32_t> kept;
    for (size_t i = 0; i < logits.size(); ++i) kept.push_back(static_cast<int32_t>(i));

    if (params.min_p > 0.0) {
        double p_max = 0.0;
        for (const double lp : logprobs) p_max = std::max(p_max, std::exp(lp));
        std::vector<int32_t> next;
        for (const int32_t t : kept) {
            if (!(std::exp(logprobs[t]) < params.min_p * p_max)) next.push_back(t);
        }
        kept = next;
    }
    if (params.top_k >= 1 && static_cast<size_t>(params.top_k) < kept.size()) {
        std::vector<float> values;
        for (const int32_t t : kept) values.push_back(logits[t]);
        std::sort(values.begin(), values.end(), std::greater<float>());
        const float kth = values[params.top_k - 1];
        std::vector<int32_t> next;
        for (const int32_t t : kept) {
            if (logits[t] >= kth) next.push_back(t);
        }
        kept = next;
    }
    if (params.top_p < 1.0) {
        std::sort(kept.begin(), kept.end(),
                  [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
        double mass = 0.0;
        for (const int32_t t : kept) mass += std::exp(logprobs[t]);
        double before = 0.0;
        size_t count = 0;
        while (count < kept.size() && before < params.top_p * mass) before += std::exp(logprobs[kept[count++]]);
        kept.resize(count);
    }
    double mass = 0.0;
    for (const int32_t t : kept) mass += std::exp(logprobs[t]);
    std::map<int32_t, double> out;
    for (const int32_t t : kept) out[t] = std::exp(logprobs[t]) / mass;
    return out;
}

SamplingParams make_params(double temperature, int32_t top_k, double top_p, double min_p) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return p;
}

void expect_survivors(Sampler& sampler, const std::vector<float>& logits, const SamplingParams& p,
                      const std::string& where) {
    const std::map<int32_t, double> expected = naive_survivors(logits, p);
    std::vector<TokenProb> got;
    sampler.surviving_tokens(logits, p, got);
    ASSERT_EQ(got.size(), expected.size()) << where;
    for (size_t i = 0; i < got.size(); ++i) {
        const auto it = expected.find(got[i].token);
        ASSERT_NE(it, expected.end()) << where << " token " << got[i].token << " should be filtered";
        EXPECT_NEAR(got[i].prob, it->second, 1e-6) << where;
        if (i > 0) {
            EXPECT_GE(got[i - 1].prob, got[i].prob) << where;
        }
    }
}

// ---- greedy ----

TEST(Sampler, GreedyIsTheArgmaxWithTiesToTheLowestId) {
    Sampler sampler;
    SamplingParams p;
    p.temperature = 0.0;
    SequenceRandom random(1, 0);
    for (uint64_t seed = 0; seed < 20; ++seed) {
        std::vector<float> logits = random_logits(500, 10.0, seed);
        const auto naive = std::max_element(logits.begin(), logits.end()) - logits.begin();
        EXPECT_EQ(sampler.sample(logits, p, random, {}, {}).token, naive);
    }
    std::vector<float> tied = {0.0f, 1.0f, 3.0f, -1.0f, 3.0f, 3.0f};
    EXPECT_EQ(sampler.sample(tied, p, random, {}, {}).token, 2);
    std::vector<float> flat(50, 0.25f);
    EXPECT_EQ(sampler.sample(flat, p, random, {}, {}).token, 0);
    // Greedy draws nothing from the generator.
    EXPECT_EQ(random.state(), SequenceRandom(1, 0).state());
}

TEST(Sampler, GreedyIgnoresTheFilters) {
    Sampler sampler;
    std::vector<float> logits = {0.0f, 5.0f, 4.9f, -3.0f};
    std::vector<TokenProb> got;
    sampler.surviving_tokens(logits, make_params(0.0, 3, 0.2, 0.5), got);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].token, 1);
    EXPECT_EQ(got[0].prob, 1.0);
}

// ---- filters against the naive reference ----

TEST(Sampler, FiltersMatchNaiveReferenceOnRandomLogits) {
    Sampler sampler;
    const std::vector<float> logits = random_logits(1000, 12.0, 5);
    for (const double temperature : {0.05, 0.5, 1.0, 2.0}) {
        for (const int32_t top_k : {0, -1, 1, 5, 50, 999, 1000, 5000}) {
            for (const double top_p : {1.0, 0.95, 0.5, 0.1, 1e-6}) {
                for (const double min_p : {0.0, 0.01, 0.2, 1.0}) {
                    const SamplingParams p = make_params(temperature, top_k, top_p, min_p);
                    expect_survivors(sampler, logits, p,
                                     "T=" + std::to_string(temperature) + " k=" + std::to_string(top_k) +
                                         " p=" + std::to_string(top_p) + " min_p=" + std::to_string(min_p));
                }
            }
        }
    }
}

TEST(Sampler, TopPOverLargeNucleiMatchesNaiveReference) {
    // Flat logits give nuclei of thousands of tokens (several selection rounds before the sort).
    Sampler sampler;
    for (const double spread : {0.5, 3.0, 8.0}) {
        const std::vector<float> logits = random_logits(50000, spread, 11);
        for (const double top_p : {0.9, 0.3}) {
            expect_survivors(sampler, logits, make_params(1.0, 0, top_p, 0.0),
                             "spread=" + std::to_string(spread) + " p=" + std::to_string(top_p));
        }
        expect_survivors(sampler, logits, make_params(1.0, 3000, 0.8, 0.0), "top-k then top-p");
    }
}

TEST(Sampler, FilterTiesFollowVllm) {
    Sampler sampler;
    std::vector<TokenProb> got;
    // top-k keeps every token tied with the k-th logit (vLLM masks logits < k-th value).
    const std::vector<float> logits = {1.0f, 5.0f, 5.0f, 2.0f, 5.0f, 0.0f};
    sampler.surviving_tokens(logits, make_params(1.0, 2, 1.0, 0.0), got);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].token, 1);
    EXPECT_EQ(got[1].token, 2);
    EXPECT_EQ(got[2].token, 4);
    EXPECT_NEAR(got[0].prob, 1.0 / 3.0, 1e-12);
    // top-p among equals: the smallest set reaching the mass, lower ids first.
    const std::vector<float> flat(4, 0.0f);
    sampler.surviving_tokens(flat, make_params(1.0, 0, 0.5, 0.0), got);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].token, 0);
    EXPECT_EQ(got[1].token, 1);
    sampler.surviving_tokens(flat, make_params(1.0, 0, 0.51, 0.0), got);
    EXPECT_EQ(got.size(), 3u);
    // min_p = 1 keeps exactly the tokens at the maximum.
    sampler.surviving_tokens(logits, make_params(1.0, 0, 1.0, 1.0), got);
    EXPECT_EQ(got.size(), 3u);
    // min-p before top-p (vLLM v1): p = {0.5, 0.3, 0.2} -> min-p 0.5 drops the third, top-p 0.6
    // then keeps only the first (0.5 / 0.8 >= 0.6). Top-p first would have kept two.
    const std::vector<float> three = {static_cast<float>(std::log(0.5)), static_cast<float>(std::log(0.3)),
                                      static_cast<float>(std::log(0.2))};
    sampler.surviving_tokens(three, make_params(1.0, 0, 0.6, 0.5), got);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].token, 0);
}

TEST(Sampler, MaskedLogitsNeverSurvive) {
    Sampler sampler;
    std::vector<float> base = random_logits(64, 4.0, 30);
    for (size_t i = 0; i < base.size(); i += 3) base[i] = -std::numeric_limits<float>::infinity();
    std::vector<TokenProb> got;
    sampler.surviving_tokens(base, make_params(1.0, 0, 1.0, 0.0), got);
    EXPECT_EQ(got.size(), 64u - 22u);
    for (const TokenProb& t : got) EXPECT_NE(t.token % 3, 0);
    SamplingParams p = make_params(3.0, 0, 1.0, 0.0);
    p.logprobs = 20;
    SequenceRandom random(4, 0);
    for (int i = 0; i < 500; ++i) {
        std::vector<float> logits = base;
        const SampleResult r = sampler.sample(logits, p, random, {}, {});
        ASSERT_NE(r.token % 3, 0);
        EXPECT_TRUE(std::isfinite(r.logprob));
    }
}

TEST(Sampler, DrawsOnlySurvivors) {
    Sampler sampler;
    const std::vector<float> base = random_logits(300, 6.0, 21);
    const std::vector<SamplingParams> cases = {make_params(1.0, 7, 1.0, 0.0), make_params(0.8, 0, 0.6, 0.0),
                                               make_params(1.5, 0, 1.0, 0.3), make_params(1.0, 40, 0.9, 0.05)};
    for (const SamplingParams& p : cases) {
        const std::map<int32_t, double> expected = naive_survivors(base, p);
        SequenceRandom random(3, 0);
        std::map<int32_t, int> seen;
        for (int i = 0; i < 3000; ++i) {
            std::vector<float> logits = base;
            const int32_t token = sampler.sample(logits, p, random, {}, {}).token;
            ASSERT_TRUE(expected.count(token)) << "token " << token << " was filtered out";
            ++seen[token];
        }
        // Every survivor with at least 1% mass turns up.
        for (const auto& [token, prob] : expected) {
            if (prob > 0.01) {
                EXPECT_GT(seen[token], 0) << token;
            }
        }
    }
}

// ---- the draw: frequencies against the probabilities ----

double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& probs, int64_t num_draws) {
    double chi = 0.0;
    for (size_t i = 0; i < counts.size(); ++i) {
        const double expected = probs[i] * static_cast<double>(num_draws);
        if (expected == 0.0) {
            EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
            continue;
        }
        chi += (counts[i] - expected) * (counts[i] - expected) / expected;
    }
    return chi;
}

std::vector<int64_t> count_draws(const std::vector<float>& base, const SamplingParams& p, int64_t num_draws) {
    Sampler sampler;
    SequenceRandom random(12345, 0);
    std::vector<int64_t> counts(base.size(), 0);
    std::vector<float> logits = base;
    for (int64_t i = 0; i < num_draws; ++i) ++counts[sampler.sample(logits, p, random, {}, {}).token];
    return counts;
}

TEST(Sampler, TemperatureDrawsMatchSoftmaxChiSquare) {
    // 16 tokens, 200k draws. With 15 degrees of freedom, P(chi2 > 50) ~ 1.2e-5.
    std::vector<float> logits(16);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.3f * static_cast<float>(i) - 2.0f;
    const int64_t num_draws = 200000;
    const SamplingParams p = make_params(0.7, 0, 1.0, 0.0);
    const std::vector<int64_t> counts = count_draws(logits, p, num_draws);

    std::vector<double> probs;
    for (const double lp : naive_log_softmax(logits, 0.7)) probs.push_back(std::exp(lp));
    EXPECT_LT(chi_square(counts, probs, num_draws), 50.0);
    // The same counts are far from the temperature-1 distribution: the test can tell them apart.
    std::vector<double> probs_t1;
    for (const double lp : naive_log_softmax(logits, 1.0)) probs_t1.push_back(std::exp(lp));
    EXPECT_GT(chi_square(counts, probs_t1, num_draws), 1000.0);
}

TEST(Sampler, FilteredDrawsMatchRenormalisedProbabilities) {
    std::vector<float> logits(16);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.25f * static_cast<float>((i * 7) % 16);
    const int64_t num_draws = 200000;
    const SamplingParams p = make_params(1.3, 10, 0.9, 0.0);
    const std::vector<int64_t> counts = count_draws(logits, p, num_draws);
    const std::map<int32_t, double> survivors = naive_survivors(logits, p);
    std::vector<double> probs(logits.size(), 0.0);
    for (const auto& [token, prob] : survivors) probs[token] = prob;
    ASSERT_GE(survivors.size(), 5u);
    // Degrees of freedom = survivors - 1 <= 9: P(chi2 > 45) < 1e-6.
    EXPECT_LT(chi_square(counts, probs, num_draws), 45.0);
}

// ---- penalties ----

TEST(Sampler, PenaltiesMatchHandComputedLogits) {
    Sampler sampler;
    const std::vector<float> base = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f};
    const std::vector<int32_t> prompt = {0, 1, 1};
    const std::vector<int32_t> output = {1, 3, 3, 5};

    SamplingParams p;
    p.repetition_penalty = 2.0;
    p.frequency_penalty = 0.5;
    p.presence_penalty = 0.25;
    std::vector<float> logits = base;
    sampler.apply_penalties(logits, p, prompt, output);
    // 0: prompt only, 2 / 2. 1: prompt + output x1, -1 * 2 - 0.5 - 0.25. 3: output x2, 3 / 2 - 1 - 0.25.
    // 5: output x1, 0 * 2 - 0.5 - 0.25. 2, 4, 6: untouched.
    const std::vector<float> expected = {1.0f, -2.75f, 0.5f, 0.25f, -2.0f, -0.75f, 1.0f};
    for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(logits[i], expected[i]) << i;

    // Each alone.
    SamplingParams rep_only;
    rep_only.repetition_penalty = 0.5;  // < 1 encourages repeats: positive x2, negative / 2
    logits = base;
    sampler.apply_penalties(logits, rep_only, prompt, output);
    const std::vector<float> rep_expected = {4.0f, -0.5f, 0.5f, 6.0f, -2.0f, 0.0f, 1.0f};
    for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(logits[i], rep_expected[i]) << i;

    SamplingParams freq_only;
    freq_only.frequency_penalty = -1.5;  // prompt tokens are not counted
    logits = base;
    sampler.apply_penalties(logits, freq_only, prompt, output);
    const std::vector<float> freq_expected = {2.0f, 0.5f, 0.5f, 6.0f, -2.0f, 1.5f, 1.0f};
    for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(logits[i], freq_expected[i]) << i;

    SamplingParams presence_only;
    presence_only.presence_penalty = 1.0;
    logits = base;
    sampler.apply_penalties(logits, presence_only, prompt, output);
    const std::vector<float> presence_expected = {2.0f, -2.0f, 0.5f, 2.0f, -2.0f, -1.0f, 1.0f};
    for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(logits[i], presence_expected[i]) << i;

    // The scratch counts were cleared: no tokens, no change.
    logits = base;
    sampler.apply_penalties(logits, p, {}, {});
    EXPECT_EQ(logits, base);
}

TEST(Sampler, PenaltiesChangeTheChoiceAndAreUndone) {
    Sampler sampler;
    const std::vector<float> base = {3.0f, 2.9f, 0.0f};
    std::vector<float> logits = base;
    SamplingParams p;
    p.temperature = 0.0;
    SequenceRandom random(0, 0);
    const std::vector<int32_t> output = {0};
    EXPECT_EQ(sampler.sample(logits, p, random, {}, output).token, 0);
    p.repetition_penalty = 1.1;  // 3.0 / 1.1 < 2.9
    EXPECT_EQ(sampler.sample(logits, p, random, {}, output).token, 1);
    EXPECT_EQ(logits, base);
    p.repetition_penalty = 1.0;
    p.presence_penalty = 0.2;
    EXPECT_EQ(sampler.sample(logits, p, random, {}, output).token, 1);
    EXPECT_EQ(sampler.sample(logits, p, random, output, {}).token, 0);  // presence ignores the prompt
    EXPECT_EQ(logits, base);
}

// ---- logprobs ----

TEST(Sampler, RawLogprobsAreTheModelsLogSoftmax) {
    Sampler sampler;  // raw: before penalties and temperature
    const std::vector<float> base = random_logits(2000, 10.0, 8);
    const std::vector<double> naive = naive_log_softmax(base);
    std::vector<int32_t> order(base.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return naive[a] > naive[b]; });

    SamplingParams p = make_params(0.6, 50, 0.9, 0.0);
    p.logprobs = 7;
    p.repetition_penalty = 1.3;
    const std::vector<int32_t> output = {order[0], order[1], 17};
    SequenceRandom random(77, 0);
    for (int i = 0; i < 20; ++i) {
        std::vector<float> logits = base;
        const SampleResult r = sampler.sample(logits, p, random, {}, output);
        EXPECT_NEAR(r.logprob, naive[r.token], 1e-5);
        int32_t rank = 0;
        for (const double lp : naive) rank += lp >= naive[r.token] ? 1 : 0;
        EXPECT_EQ(r.rank, rank);
        ASSERT_EQ(r.top().size(), 7u);
        for (size_t j = 0; j < 7; ++j) {
            EXPECT_EQ(r.top()[j].token, order[j]);
            EXPECT_NEAR(r.top()[j].logprob, naive[order[j]], 1e-5);
        }
    }
    // logprobs = 0: the chosen token's logprob and rank, no alternatives.
    p.logprobs = 0;
    std::vector<float> logits = base;
    const SampleResult r = sampler.sample(logits, p, random, {}, output);
    EXPECT_NEAR(r.logprob, naive[r.token], 1e-5);
    EXPECT_GE(r.rank, 1);
    EXPECT_EQ(r.num_top_logprobs, 0);
    // Unset: none of them.
    p.logprobs.reset();
    const SampleResult none = sampler.sample(logits, p, random, {}, output);
    EXPECT_EQ(none.logprob, 0.0f);
    EXPECT_EQ(none.rank, 0);
    EXPECT_EQ(none.num_top_logprobs, 0);
}

TEST(Sampler, ProcessedLogprobsAreTheSampledDistribution) {
    Sampler sampler(LogprobsMode::processed);
    const std::vector<float> base = random_logits(400, 8.0, 9);
    SamplingParams p = make_params(0.8, 10, 1.0, 0.0);
    p.logprobs = 12;
    const std::map<int32_t, double> survivors = naive_survivors(base, p);
    ASSERT_EQ(survivors.size(), 10u);
    SequenceRandom random(5, 0);
    std::vector<float> logits = base;
    const SampleResult r = sampler.sample(logits, p, random, {}, {});
    EXPECT_NEAR(r.logprob, std::log(survivors.at(r.token)), 1e-5);
    ASSERT_EQ(r.top().size(), 12u);
    for (size_t j = 0; j < 10; ++j) EXPECT_NEAR(r.top()[j].logprob, std::log(survivors.at(r.top()[j].token)), 1e-5);
    EXPECT_EQ(r.top()[10].logprob, -std::numeric_limits<float>::infinity());
    EXPECT_EQ(r.top()[11].logprob, -std::numeric_limits<float>::infinity());
    int32_t rank = 0;
    for (const auto& [token, prob] : survivors) rank += prob >= survivors.at(r.token) ? 1 : 0;
    EXPECT_EQ(r.rank, rank);

    // Greedy: the log-softmax of the penalised logits.
    SamplingParams greedy;
    greedy.temperature = 0.0;
    greedy.frequency_penalty = 2.0;
    greedy.logprobs = 0;
    const std::vector<int32_t> output = {r.top()[0].token, r.top()[0].token};
    std::vector<float> penalised = base;
    penalised[output[0]] -= 4.0f;
    const std::vector<double> naive = naive_log_softmax(penalised);
    const SampleResult g = sampler.sample(logits, greedy, random, {}, output);
    EXPECT_EQ(g.token, std::max_element(penalised.begin(), penalised.end()) - penalised.begin());
    EXPECT_NEAR(g.logprob, naive[g.token], 1e-5);
    EXPECT_EQ(g.rank, 1);
}

// ---- seeds ----

std::vector<int32_t> generate(Sampler& sampler, const std::vector<float>& base, const SamplingParams& p,
                              SequenceRandom random, int count) {
    std::vector<int32_t> tokens;
    for (int i = 0; i < count; ++i) {
        std::vector<float> logits = base;
        tokens.push_back(sampler.sample(logits, p, random, {}, tokens).token);
    }
    return tokens;
}

TEST(Sampler, SameSeedSameTokensWhateverElseIsBatched) {
    const std::vector<float> base = random_logits(1000, 2.0, 4);
    SamplingParams p = make_params(1.0, 0, 0.95, 0.0);
    p.presence_penalty = 0.5;
    Sampler sampler;
    const std::vector<int32_t> alone = generate(sampler, base, p, SequenceRandom(2024, 0), 60);

    // The same request interleaved, token by token, with two others on the same Sampler.
    Sampler shared;
    SequenceRandom mine(2024, 0);
    SequenceRandom other_a(1, 0);
    SequenceRandom other_b(2, 7);
    const SamplingParams other_params = make_params(0.5, 3, 1.0, 0.1);
    std::vector<int32_t> batched;
    for (int i = 0; i < 60; ++i) {
        std::vector<float> other = random_logits(1000, 5.0, 100 + i);
        shared.sample(other, other_params, other_a, {}, {});
        std::vector<float> logits = base;
        batched.push_back(shared.sample(logits, p, mine, {}, batched).token);
        shared.sample(other, p, other_b, {}, {});
    }
    EXPECT_EQ(batched, alone);
}

TEST(Sampler, DifferentSeedsAndSampleIndicesDiffer) {
    const std::vector<float> base = random_logits(1000, 1.0, 4);
    const SamplingParams p;
    Sampler sampler;
    const auto s0 = generate(sampler, base, p, SequenceRandom(7, 0), 30);
    EXPECT_NE(s0, generate(sampler, base, p, SequenceRandom(8, 0), 30));
    EXPECT_NE(s0, generate(sampler, base, p, SequenceRandom(7, 1), 30));
    EXPECT_NE(generate(sampler, base, p, SequenceRandom(7, 1), 30),
              generate(sampler, base, p, SequenceRandom(7, 2), 30));
}

// ---- no allocation once warm ----

TEST(Sampler, SampleDoesNotAllocateOnceWarm) {
    const std::vector<float> base = random_logits(20000, 6.0, 3);
    std::vector<int32_t> prompt(300);
    std::vector<int32_t> output(200);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 37) % 20000);
    for (size_t i = 0; i < output.size(); ++i) output[i] = static_cast<int32_t>((i * 101) % 20000);
    std::vector<SamplingParams> cases = {make_params(0.0, 0, 1.0, 0.0), make_params(1.0, 0, 1.0, 0.0),
                                         make_params(0.7, 40, 0.9, 0.05), make_params(1.0, 0, 0.5, 0.0)};
    for (auto& p : cases) {
        p.repetition_penalty = 1.2;
        p.frequency_penalty = 0.3;
        p.logprobs = 20;
    }
    Sampler sampler;
    sampler.reserve(20000);
    SequenceRandom random(1, 0);
    std::vector<float> logits = base;
    g_num_allocations = 0;
    g_counting = true;
    for (const SamplingParams& p : cases) {
        for (int i = 0; i < 5; ++i) sampler.sample(logits, p, random, prompt, output);
    }
    g_counting = false;
    EXPECT_EQ(g_num_allocations.load(), 0);
}

}  // namespace
}  // namespace kvscope
