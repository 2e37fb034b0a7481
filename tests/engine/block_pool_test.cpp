#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvscope {
namespace block_pool_test {

using Ids = std::vector<std::int32_t>;

BlockHash hash_of(std::uint64_t n) {
    return BlockHash{n, n * 31 + 7};
}

// allocate + fill + hash: an active, cached-content block.
std::int32_t allocate_full_hashed(BlockPool& pool, std::uint64_t n) {
    const std::int32_t id = pool.allocate();
    pool.set_num_tokens(id, pool.block_size());
    EXPECT_TRUE(pool.cache(id, hash_of(n)));
    return id;
}

TEST(BlockPool, StartsAllFreeInIdOrder) {
    BlockPool pool(5, 4);
    EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2, 3, 4}));
    EXPECT_EQ(pool.free_head(), 0);
    EXPECT_EQ(pool.free_tail(), 4);
    EXPECT_EQ(pool.num_free_blocks(), 5);
    EXPECT_EQ(pool.num_active_blocks(), 0);
    for (const KvBlock& b : pool.blocks()) EXPECT_TRUE(is_free(b));
}

TEST(BlockPool, AllocatesFromTheFrontAndFreesNeverHashedBlocksToTheFront) {
    BlockPool pool(5, 4);
    EXPECT_EQ(pool.allocate(), 0);
    EXPECT_EQ(pool.allocate(), 1);
    EXPECT_EQ(pool.allocate(), 2);
    EXPECT_EQ(pool.free_queue(), (Ids{3, 4}));
    EXPECT_TRUE(is_active(pool.block(1)));
    EXPECT_EQ(pool.block(1).ref_count, 1);

    pool.set_num_tokens(1, 3);
    pool.release(1);  // never hashed: reused first
    EXPECT_EQ(pool.free_queue(), (Ids{1, 3, 4}));
    EXPECT_TRUE(is_free(pool.block(1)));
    EXPECT_EQ(pool.block(1).num_tokens, 0);  // garbage now
    pool.release(0);
    EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 3, 4}));
    EXPECT_EQ(pool.allocate(), 0);
    EXPECT_EQ(pool.allocate(), 1);
}

TEST(BlockPool, HashedBlocksGoToTheBackAndAreEvictedInLruOrder) {
    BlockPool pool(5, 4);
    const std::int32_t a = allocate_full_hashed(pool, 1);  // 0
    const std::int32_t b = allocate_full_hashed(pool, 2);  // 1
    const std::int32_t c = allocate_full_hashed(pool, 3);  // 2
    pool.release(b);
    pool.release(a);
    pool.release(c);
    EXPECT_EQ(pool.free_queue(), (Ids{3, 4, 1, 0, 2}));
    EXPECT_EQ(pool.num_cached_free_blocks(), 3);
    EXPECT_TRUE(is_cached(pool.block(a)));
    EXPECT_EQ(pool.block(a).num_tokens, 4);  // content kept

    EXPECT_EQ(pool.allocate(), 3);
    EXPECT_EQ(pool.allocate(), 4);
    // The next allocation evicts the least recently released cached block, b.
    EXPECT_EQ(pool.allocate(), b);
    EXPECT_FALSE(pool.find_cached(hash_of(2)).has_value());
    EXPECT_FALSE(pool.block(b).hash.has_value());
    EXPECT_EQ(pool.block(b).num_tokens, 0);
    EXPECT_EQ(pool.find_cached(hash_of(1)), a);
    EXPECT_EQ(pool.find_cached(hash_of(3)), c);
    EXPECT_EQ(pool.num_cached_free_blocks(), 2);
    EXPECT_EQ(pool.num_hashed_blocks(), 2);
}

TEST(BlockPool, AcquiringACachedBlockUnlinksItFromTheMiddleOfTheQueue) {
    BlockPool pool(4, 4);
    const std::int32_t a = allocate_full_hashed(pool, 1);
    const std::int32_t b = allocate_full_hashed(pool, 2);
    const std::int32_t c = allocate_full_hashed(pool, 3);
    pool.release(a);
    pool.release(b);
    pool.release(c);
    EXPECT_EQ(pool.free_queue(), (Ids{3, 0, 1, 2}));

    pool.acquire(b);  // a prefix hit on the middle cached block
    EXPECT_EQ(pool.free_queue(), (Ids{3, 0, 2}));
    EXPECT_EQ(pool.block(a).next_free, c);
    EXPECT_EQ(pool.block(c).prev_free, a);
    EXPECT_EQ(pool.block(b).prev_free, kNoBlock);
    EXPECT_EQ(pool.block(b).next_free, kNoBlock);
    EXPECT_EQ(pool.block(b).ref_count, 1);
    EXPECT_EQ(pool.block(b).hash, hash_of(2));  // still findable while active
    EXPECT_EQ(pool.find_cached(hash_of(2)), b);
    EXPECT_EQ(pool.num_filled_slots(), 4);

    pool.acquire(c);  // the tail
    pool.acquire(a);
    EXPECT_EQ(pool.free_queue(), (Ids{3}));
    EXPECT_EQ(pool.free_head(), 3);
    EXPECT_EQ(pool.free_tail(), 3);
    pool.release(b);  // hashed: back
    EXPECT_EQ(pool.free_queue(), (Ids{3, 1}));
}

TEST(BlockPool, SharingCountsReferences) {
    BlockPool pool(3, 4);
    const std::int32_t id = pool.allocate();
    pool.set_num_tokens(id, 2);
    pool.acquire(id);
    pool.acquire(id);
    EXPECT_EQ(pool.block(id).ref_count, 3);
    EXPECT_EQ(pool.num_shared_blocks(), 1);
    EXPECT_EQ(pool.num_sharing_refs(), 2);
    EXPECT_EQ(pool.num_filled_slots(), 2);  // one physical block, counted once
    pool.release(id);
    pool.release(id);
    EXPECT_EQ(pool.num_shared_blocks(), 0);
    EXPECT_EQ(pool.num_sharing_refs(), 0);
    EXPECT_TRUE(is_active(pool.block(id)));
    EXPECT_EQ(pool.free_queue(), (Ids{1, 2}));
    pool.release(id);
    EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2}));
    EXPECT_EQ(pool.num_filled_slots(), 0);
}

TEST(BlockPool, DuplicateHashKeepsTheFirstBlockCanonical) {
    BlockPool pool(3, 4);
    const std::int32_t first = allocate_full_hashed(pool, 9);
    const std::int32_t second = pool.allocate();
    pool.set_num_tokens(second, 4);
    EXPECT_FALSE(pool.cache(second, hash_of(9)));
    EXPECT_FALSE(pool.block(second).hash.has_value());
    EXPECT_EQ(pool.find_cached(hash_of(9)), first);
    pool.release(second);  // unhashed: front, reused first
    pool.release(first);   // hashed: back
    EXPECT_EQ(pool.free_queue(), (Ids{second, 2, first}));
}

TEST(BlockPool, StampsTheStepOfTheLastUse) {
    BlockPool pool(2, 4);
    pool.set_step(5);
    const std::int32_t id = pool.allocate();
    EXPECT_EQ(pool.block(id).last_used_step, 5);
    pool.set_step(8);
    pool.set_num_tokens(id, 1);
    EXPECT_EQ(pool.block(id).last_used_step, 8);
    pool.set_step(9);
    pool.release(id);
    EXPECT_EQ(pool.block(id).last_used_step, 9);
}

TEST(BlockPool, ResetPrefixCacheOnlyWhenNothingIsHeld) {
    BlockPool pool(3, 4);
    const std::int32_t a = allocate_full_hashed(pool, 1);
    const std::int32_t b = allocate_full_hashed(pool, 2);
    pool.release(a);
    EXPECT_FALSE(pool.reset_prefix_cache());  // b is held
    EXPECT_EQ(pool.find_cached(hash_of(1)), a);
    pool.release(b);
    EXPECT_EQ(pool.free_queue(), (Ids{2, a, b}));
    EXPECT_TRUE(pool.reset_prefix_cache());
    EXPECT_FALSE(pool.find_cached(hash_of(1)).has_value());
    EXPECT_FALSE(pool.find_cached(hash_of(2)).has_value());
    EXPECT_EQ(pool.num_hashed_blocks(), 0);
    EXPECT_EQ(pool.num_cached_free_blocks(), 0);
    EXPECT_EQ(pool.free_queue(), (Ids{2, a, b}));  // order kept
    for (const KvBlock& block : pool.blocks()) EXPECT_TRUE(is_free(block));
}

using BlockPoolDeathTest = ::testing::Test;

TEST(BlockPoolDeathTest, MisuseFailsAKvCheck) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            BlockPool pool(1, 4);
            pool.allocate();
            pool.allocate();
        },
        "exhausted");
    EXPECT_DEATH(
        {
            BlockPool pool(2, 4);
            pool.acquire(1);
        },
        "free block");
    EXPECT_DEATH(
        {
            BlockPool pool(2, 4);
            pool.release(0);
        },
        "no sequence holds");
    EXPECT_DEATH(
        {
            BlockPool pool(2, 4);
            const std::int32_t id = pool.allocate();
            pool.set_num_tokens(id, 3);
            pool.cache(id, hash_of(1));
        },
        "full");
}

}  // namespace block_pool_test
}  // namespace kvscope
