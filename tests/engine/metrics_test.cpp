// Histograms count as Prometheus does (an observation equal to a bound falls in that bucket),
// and the engine's histograms carry vLLM's bucket bounds.

#include "engine/metrics.h"

#include <gtest/gtest.h>

namespace kvscope {
namespace metrics_test {

TEST(Histogram, CountsEachObservationInTheFirstBucketWhoseBoundHoldsIt) {
    Histogram h({0.1, 1.0, 10.0});
    for (double v : {0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 11.0, 1e9}) h.observe(v);
    EXPECT_EQ(h.counts(), (std::vector<std::uint64_t>{2, 2, 2, 2}));
    EXPECT_EQ(h.count(), 8u);
    EXPECT_DOUBLE_EQ(h.sum(), 0.05 + 0.1 + 0.5 + 1.0 + 3.0 + 10.0 + 11.0 + 1e9);
    EXPECT_DOUBLE_EQ(h.mean(), h.sum() / 8);
}

TEST(EngineMetrics, UsesVllmsBuckets) {
    const EngineMetrics m;
    EXPECT_EQ(m.time_to_first_token_seconds.bounds().front(), 0.001);
    EXPECT_EQ(m.time_to_first_token_seconds.bounds().back(), 2560.0);
    EXPECT_EQ(m.inter_token_latency_seconds.bounds().size(), 19u);
    EXPECT_EQ(m.e2e_request_latency_seconds.bounds().back(), 7680.0);
    // 1-2-5 series up to 2^20 for token counts
    const auto& b = m.request_prompt_tokens.bounds();
    EXPECT_EQ((std::vector<double>(b.begin(), b.begin() + 6)), (std::vector<double>{1, 2, 5, 10, 20, 50}));
    EXPECT_LE(b.back(), double(1 << 20));
    EXPECT_EQ(m.prefix_cache_hit_rate(), 0.0);
}

}  // namespace metrics_test
}  // namespace kvscope
