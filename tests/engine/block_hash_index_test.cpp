#include "engine/block_hash_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>
#include <vector>

namespace kvscope {
namespace block_hash_index_test {

TEST(BlockHashIndex, InsertFindErase) {
    BlockHashIndex index(4);
    const BlockHash a{1, 10}, b{2, 20};
    EXPECT_FALSE(index.find(a).has_value());
    EXPECT_TRUE(index.insert(a, 3));
    EXPECT_FALSE(index.insert(a, 4));  // already present: unchanged
    EXPECT_EQ(index.find(a), 3);
    EXPECT_TRUE(index.insert(b, 0));
    EXPECT_EQ(index.size(), 2);
    EXPECT_TRUE(index.erase(a));
    EXPECT_FALSE(index.erase(a));
    EXPECT_FALSE(index.find(a).has_value());
    EXPECT_EQ(index.find(b), 0);
    index.clear();
    EXPECT_EQ(index.size(), 0);
    EXPECT_FALSE(index.find(b).has_value());
}

// Against std::map, with hashes crowded onto a few home slots near the end of the table so that
// probe runs are long and wrap around: backward-shift deletion must keep every key reachable.
TEST(BlockHashIndex, MatchesAReferenceMapUnderCrowdedChurn) {
    for (const std::uint32_t seed : {1u, 2u, 3u}) {
        const int max_entries = 12;  // capacity 32
        BlockHashIndex index(max_entries);
        std::map<std::pair<std::uint64_t, std::uint64_t>, std::int32_t> reference;
        std::mt19937 rng(seed);
        auto random_hash = [&] {
            // lo's low bits pick home 29, 30, 31 or 0; hi tells keys apart.
            const std::uint64_t home = (29 + rng() % 4) % 32;
            return BlockHash{rng() % 40, (static_cast<std::uint64_t>(rng()) << 8) | home};
        };
        std::vector<BlockHash> known;
        for (int op = 0; op < 20000; ++op) {
            const bool use_known = !known.empty() && rng() % 2 == 0;
            const BlockHash h = use_known ? known[rng() % known.size()] : random_hash();
            if (!use_known) known.push_back(h);
            if (known.size() > 64) known.erase(known.begin());
            const auto key = std::make_pair(h.hi, h.lo);
            if (rng() % 2 == 0 && static_cast<int>(reference.size()) < max_entries) {
                const std::int32_t value = static_cast<std::int32_t>(rng() % 1000);
                const bool inserted = reference.emplace(key, value).second;
                ASSERT_EQ(index.insert(h, value), inserted);
            } else {
                ASSERT_EQ(index.erase(h), reference.erase(key) == 1);
            }
            ASSERT_EQ(index.size(), static_cast<std::int32_t>(reference.size()));
            for (const auto& [k, v] : reference) ASSERT_EQ(index.find(BlockHash{k.first, k.second}), v);
        }
    }
}

}  // namespace block_hash_index_test
}  // namespace kvscope
