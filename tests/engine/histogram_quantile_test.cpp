// histogram_quantile against values worked out by hand with Prometheus's rule: find the bucket
// holding rank q * total, interpolate linearly inside it (the first bucket starts at 0), and
// answer the highest finite bound for a rank in the +Inf bucket.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/metrics.h"

namespace kvscope {
namespace histogram_quantile_test {

const std::vector<double> kBounds = {1.0, 2.0, 4.0};

TEST(HistogramQuantile, InterpolatesInsideTheBucketThatHoldsTheRank) {
    const std::vector<std::uint64_t> counts = {2, 2, 0, 0};            // two in (0,1], two in (1,2]
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.5), 1.0);   // rank 2: top of bucket 0
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.75), 1.5);  // rank 3: half into (1,2]
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 0.25), 0.5);  // rank 1: half into (0,1]
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, counts, 1.0), 2.0);
}

TEST(HistogramQuantile, SkipsEmptyBucketsAndCapsTheInfBucketAtTheLastBound) {
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, std::vector<std::uint64_t>{0, 0, 4, 0}, 0.5), 3.0);  // (2,4]
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, std::vector<std::uint64_t>{0, 0, 0, 5}, 0.99), 4.0);
    EXPECT_DOUBLE_EQ(histogram_quantile(kBounds, std::vector<std::uint64_t>{1, 0, 0, 9}, 0.05), 0.5);
}

TEST(HistogramQuantile, IsNanWithoutObservations) {
    EXPECT_TRUE(std::isnan(histogram_quantile(kBounds, std::vector<std::uint64_t>{0, 0, 0, 0}, 0.5)));
}

TEST(HistogramQuantile, TheMemberFunctionReadsTheObservedCounts) {
    Histogram h({0.01, 0.1, 1.0});
    for (double v : {0.005, 0.05, 0.06, 0.5}) h.observe(v);        // buckets: 1, 2, 1, 0
    EXPECT_DOUBLE_EQ(h.quantile(0.5), 0.01 + (0.1 - 0.01) * 0.5);  // rank 2: first of two in (0.01, 0.1]
}

}  // namespace histogram_quantile_test
}  // namespace kvscope
