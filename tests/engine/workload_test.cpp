// Synthetic workloads: lengths within their distributions, the shared prefix, Poisson arrivals
// (mean gap 1/rate), determinism per seed, and parse errors.

#include "engine/workload.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"

namespace kvscope {
namespace workload_test {

TEST(Workload, ParsesTheThreeDistributionForms) {
    EXPECT_EQ(LengthDistribution::parse("128", "x").to_string(), "128");
    const auto u = LengthDistribution::parse("uniform:32-512", "x");
    EXPECT_EQ(u.kind, LengthDistribution::Kind::Uniform);
    EXPECT_EQ(u.mean(), 272);
    EXPECT_EQ(LengthDistribution::parse("normal:256,64", "x").to_string(), "normal:256,64");
    for (const char* bad : {"", "abc", "uniform:9", "uniform:10-5", "normal:5", "-3", "0", "12x"}) {
        EXPECT_THROW(LengthDistribution::parse(bad, "--prompt-len"), ConfigError) << bad;
    }
    try {
        LengthDistribution::parse("uniform:x-1", "--prompt-len");
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("--prompt-len: cannot read 'uniform:x-1'"), std::string::npos);
    }
}

TEST(Workload, LengthsPrefixAndTokensFollowTheSpec) {
    WorkloadSpec spec;
    spec.num_requests = 400;
    spec.prompt_len = LengthDistribution::parse("uniform:20-60", "p");
    spec.output_len = LengthDistribution::parse("normal:100,10", "o");
    spec.shared_prefix_fraction = 0.5;
    spec.seed = 9;
    const auto reqs = generate_workload(spec, 1000, 3, 1);
    ASSERT_EQ(reqs.size(), 400u);
    double out_sum = 0;
    for (const auto& r : reqs) {
        ASSERT_GE(r.prompt_token_ids.size(), 20u);  // 20..60, the BOS included
        ASSERT_LE(r.prompt_token_ids.size(), 60u);
        EXPECT_EQ(r.prompt_token_ids[0], 1);
        // the shared prefix: half of the shortest prompt's 19 tokens after its BOS -> 9 tokens
        for (int j = 1; j <= 9; ++j)
            EXPECT_EQ(r.prompt_token_ids[std::size_t(j)], reqs[0].prompt_token_ids[std::size_t(j)]);
        for (std::size_t j = 1; j < r.prompt_token_ids.size(); ++j) {
            EXPECT_GE(r.prompt_token_ids[j], 3);
            EXPECT_LT(r.prompt_token_ids[j], 1000);
        }
        out_sum += r.max_tokens;
        EXPECT_EQ(r.arrival_s, 0.0);
    }
    EXPECT_NEAR(out_sum / 400, 100, 2.5);  // 4 standard errors of the mean
    // Prompts differ after the prefix.
    EXPECT_NE(reqs[0].prompt_token_ids[10], reqs[1].prompt_token_ids[10]);
    EXPECT_EQ(generate_workload(spec, 1000, 3, 1)[7].prompt_token_ids, reqs[7].prompt_token_ids);
}

TEST(Workload, PromptDrawsAreCutToTheLongestPromptAsked) {
    WorkloadSpec spec;
    spec.num_requests = 50;
    spec.prompt_len = LengthDistribution::parse("999999999", "p");  // a draw is at most 1e7 tokens
    spec.max_prompt_len = 64;
    for (const WorkloadRequest& r : generate_workload(spec, 1000, 3, 1)) EXPECT_EQ(r.prompt_token_ids.size(), 64u);
    spec.prompt_len = LengthDistribution::parse("lognormal:40,1.5", "p");
    std::size_t cut = 0;
    for (const WorkloadRequest& r : generate_workload(spec, 1000, 3, 1)) {
        EXPECT_LE(r.prompt_token_ids.size(), 64u);
        cut += r.prompt_token_ids.size() == 64u;
    }
    EXPECT_GT(cut, 0u) << "sigma 1.5 around 40 reaches past 64 in some of 50 draws";
    spec.max_prompt_len = 0;
    EXPECT_THROW(generate_workload(spec, 1000, 3, 1), ConfigError);
}

TEST(Workload, PoissonArrivalsHaveMeanGapOneOverTheRate) {
    WorkloadSpec spec;
    spec.num_requests = 4001;
    spec.request_rate = 20;
    spec.prompt_len = LengthDistribution::parse("4", "p");
    const auto reqs = generate_workload(spec, 100, 3, -1);
    EXPECT_EQ(reqs[0].arrival_s, 0.0);
    for (std::size_t i = 1; i < reqs.size(); ++i) ASSERT_GE(reqs[i].arrival_s, reqs[i - 1].arrival_s);
    const double mean_gap = reqs.back().arrival_s / 4000;
    EXPECT_NEAR(mean_gap, 0.05, 0.05 * 4 / std::sqrt(4000.0));  // exponential gaps: sd = mean
    EXPECT_EQ(reqs[0].prompt_token_ids.size(), 4u);             // no BOS
}

}  // namespace workload_test
}  // namespace kvscope
