// The lab's contiguous address space: first fit takes the lowest hole that is large enough,
// releases merge with both neighbours, and a size can fail to fit although the free total
// would hold it.

#include "engine/lab/first_fit.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace kvscope::lab {
namespace lab_first_fit_test {

using Holes = std::map<std::int64_t, std::int64_t>;

TEST(FirstFit, AllocatesFromTheLowestHoleThatFits) {
    FirstFitSpace space(100);
    EXPECT_EQ(space.allocate(30), 0);
    EXPECT_EQ(space.allocate(20), 30);
    EXPECT_EQ(space.allocate(40), 50);
    EXPECT_EQ(space.holes(), (Holes{{90, 10}}));
    space.release(30);  // a 20-slot hole between two allocations
    EXPECT_EQ(space.holes(), (Holes{{30, 20}, {90, 10}}));
    EXPECT_EQ(space.allocate(15), 30);  // the first hole that fits, not the best
    EXPECT_EQ(space.allocate(8), 90);   // 5 left at 45 is too small
    EXPECT_EQ(space.holes(), (Holes{{45, 5}, {98, 2}}));
    EXPECT_EQ(space.free_total(), 7);
}

TEST(FirstFit, RefusesWhenNoHoleHoldsTheSizeThoughTheTotalWould) {
    FirstFitSpace space(100);
    ASSERT_EQ(space.allocate(25), 0);
    ASSERT_EQ(space.allocate(25), 25);
    ASSERT_EQ(space.allocate(25), 50);
    ASSERT_EQ(space.allocate(25), 75);
    space.release(0);
    space.release(50);
    EXPECT_EQ(space.free_total(), 50);
    EXPECT_EQ(space.largest_hole(), 25);
    EXPECT_EQ(space.allocate(30), std::nullopt);
}

TEST(FirstFit, ReleaseMergesWithBothNeighbours) {
    FirstFitSpace space(60);
    ASSERT_EQ(space.allocate(20), 0);
    ASSERT_EQ(space.allocate(20), 20);
    ASSERT_EQ(space.allocate(20), 40);
    space.release(0);
    space.release(40);
    EXPECT_EQ(space.holes(), (Holes{{0, 20}, {40, 20}}));
    space.release(20);
    EXPECT_EQ(space.holes(), (Holes{{0, 60}}));
    EXPECT_TRUE(space.allocations().empty());
    EXPECT_EQ(space.allocate(60), 0);
}

// Random allocate/release: holes and allocations tile the space, holes never touch.
TEST(FirstFit, RandomOperationsKeepTheSpaceTiled) {
    std::mt19937 rng(7);
    FirstFitSpace space(1000);
    std::vector<std::int64_t> live;
    for (int i = 0; i < 3000; ++i) {
        if (live.empty() || rng() % 3 != 0) {
            if (const auto offset = space.allocate(1 + rng() % 80)) live.push_back(*offset);
        } else {
            const std::size_t k = rng() % live.size();
            space.release(live[k]);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        }
        std::map<std::int64_t, std::pair<std::int64_t, bool>> all;  // offset -> (size, is hole)
        for (const auto& [o, s] : space.holes()) all[o] = {s, true};
        for (const auto& [o, s] : space.allocations()) all[o] = {s, false};
        std::int64_t at = 0, free = 0;
        bool last_hole = false;
        for (const auto& [o, entry] : all) {
            ASSERT_EQ(o, at);
            ASSERT_FALSE(last_hole && entry.second) << "two adjacent holes";
            at += entry.first;
            if (entry.second) free += entry.first;
            last_hole = entry.second;
        }
        ASSERT_EQ(at, 1000);
        ASSERT_EQ(free, space.free_total());
    }
}

}  // namespace lab_first_fit_test
}  // namespace kvscope::lab
