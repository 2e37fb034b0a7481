// Long-tailed (lognormal) lengths, as chat traffic has: the text form, the mean the spec names,
// a median below it, and bad sigmas.

#include <gtest/gtest.h>

#include <algorithm>

#include "engine/error.h"
#include "engine/workload.h"

namespace kvscope {
namespace workload_lognormal_test {

TEST(WorkloadLogNormal, ParsesAndPrints) {
    const auto d = LengthDistribution::parse("lognormal:161,1", "x");
    EXPECT_EQ(d.kind, LengthDistribution::Kind::LogNormal);
    EXPECT_EQ(d.mean(), 161);
    EXPECT_EQ(d.to_string(), "lognormal:161,1");
    for (const char* bad : {"lognormal:161", "lognormal:0,1", "lognormal:100,9", "lognormal:,1"}) {
        EXPECT_THROW(LengthDistribution::parse(bad, "--output-len"), ConfigError) << bad;
    }
}

TEST(WorkloadLogNormal, DrawsHaveTheMeanAndALongTail) {
    WorkloadSpec spec;
    spec.num_requests = 20000;
    spec.prompt_len = LengthDistribution::parse("lognormal:161,1.0", "p");
    spec.output_len = LengthDistribution::parse("lognormal:338,0.5", "o");
    spec.seed = 3;
    const auto reqs = generate_workload(spec, 1000, 3, -1);
    std::vector<double> prompts;
    double prompt_sum = 0, output_sum = 0;
    for (const WorkloadRequest& r : reqs) {
        prompts.push_back(static_cast<double>(r.prompt_token_ids.size()));
        prompt_sum += prompts.back();
        output_sum += r.max_tokens;
    }
    EXPECT_NEAR(prompt_sum / 20000, 161, 161 * 0.04);
    EXPECT_NEAR(output_sum / 20000, 338, 338 * 0.02);
    // Median exp(mu) = 161 / e^(1/2) ~ 97.6 for the prompts.
    std::nth_element(prompts.begin(), prompts.begin() + 10000, prompts.end());
    EXPECT_NEAR(prompts[10000], 97.6, 4);
}

}  // namespace workload_lognormal_test
}  // namespace kvscope
