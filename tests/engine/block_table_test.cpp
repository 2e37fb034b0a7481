#include "engine/block_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvscope {
namespace block_table_test {

using Ids = std::vector<std::int32_t>;

Ids ids_of(const BlockTable& table) {
    return Ids(table.block_ids().begin(), table.block_ids().end());
}

TEST(BlockTable, SlotIsBlockIdTimesBlockSizePlusOffset) {
    BlockTable table(4);
    table.append(7);
    table.append(2);
    table.append(5);
    EXPECT_EQ(table.num_slots(), 12);
    EXPECT_EQ(table.slot(0), 28);
    EXPECT_EQ(table.slot(3), 31);
    EXPECT_EQ(table.slot(4), 8);
    EXPECT_EQ(table.slot(9), 21);
    EXPECT_EQ(table.slot(11), 23);
    EXPECT_EQ(table.block_id(1), 2);
}

TEST(BlockTable, SlotsOfLargeIdsDoNotOverflow) {
    BlockTable table(32);
    table.append(100000000);  // 3.2e9 slots in: beyond int32
    EXPECT_EQ(table.slot(31), 3200000031LL);
}

TEST(BlockTable, EnsureWritableOnAnExclusiveBlockChangesNothing) {
    BlockPool pool(4, 4);
    BlockTable table(4);
    table.append(pool.allocate());
    pool.set_num_tokens(0, 2);
    EXPECT_FALSE(table.ensure_writable(0, pool).has_value());
    EXPECT_EQ(ids_of(table), (Ids{0}));
    EXPECT_EQ(pool.num_free_blocks(), 3);
    EXPECT_EQ(pool.block(0).ref_count, 1);
}

TEST(BlockTable, EnsureWritableCopiesASharedPartialBlock) {
    BlockPool pool(6, 4);
    BlockTable parent(4);
    parent.append(pool.allocate());  // 0, full
    parent.append(pool.allocate());  // 1, 3 tokens
    pool.set_num_tokens(0, 4);
    pool.set_num_tokens(1, 3);
    BlockTable child = parent.share(pool);
    EXPECT_EQ(pool.block(0).ref_count, 2);
    EXPECT_EQ(pool.block(1).ref_count, 2);

    const std::optional<BlockCopy> copy = child.ensure_writable(1, pool);
    ASSERT_TRUE(copy.has_value());
    EXPECT_EQ(*copy, (BlockCopy{1, 2}));  // block 2 is the front of the free queue
    EXPECT_EQ(ids_of(child), (Ids{0, 2}));
    EXPECT_EQ(ids_of(parent), (Ids{0, 1}));  // the parent keeps its block
    EXPECT_EQ(pool.block(1).ref_count, 1);
    EXPECT_EQ(pool.block(2).ref_count, 1);
    EXPECT_EQ(pool.block(2).num_tokens, 3);  // the copy holds what the shared block held
    EXPECT_EQ(pool.block(0).ref_count, 2);   // the full block stays shared

    // Now exclusive on both sides: no more copies.
    EXPECT_FALSE(child.ensure_writable(1, pool).has_value());
    EXPECT_FALSE(parent.ensure_writable(1, pool).has_value());
    EXPECT_EQ(pool.num_free_blocks(), 3);
}

TEST(BlockTable, EnsureWritableOnASharedEmptyBlockAllocatesWithoutACopy) {
    BlockPool pool(4, 4);
    BlockTable a(4);
    a.append(pool.allocate());  // 0, nothing written yet
    BlockTable b = a.share(pool);
    EXPECT_FALSE(b.ensure_writable(0, pool).has_value());
    EXPECT_EQ(ids_of(b), (Ids{1}));
    EXPECT_EQ(ids_of(a), (Ids{0}));
    EXPECT_EQ(pool.block(0).ref_count, 1);
    EXPECT_EQ(pool.block(1).ref_count, 1);
}

TEST(BlockTable, ReleaseAllGoesLastBlockFirst) {
    // Unhashed blocks are pushed to the front one by one, last block first: the head ends first.
    BlockPool pool(5, 4);
    BlockTable table(4);
    for (int i = 0; i < 3; ++i) table.append(pool.allocate());
    table.release_all(pool);
    EXPECT_EQ(table.num_blocks(), 0);
    EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2, 3, 4}));

    // Hashed blocks are appended to the back, last block first: the tail is evicted first.
    BlockPool cached(5, 4);
    BlockTable hashed(4);
    for (std::uint64_t i = 0; i < 3; ++i) {
        const std::int32_t id = cached.allocate();
        cached.set_num_tokens(id, 4);
        ASSERT_TRUE(cached.cache(id, BlockHash{i, i}));
        hashed.append(id);
    }
    hashed.release_all(cached);
    EXPECT_EQ(cached.free_queue(), (Ids{3, 4, 2, 1, 0}));
}

TEST(BlockTable, ShareTakesOneReferencePerBlock) {
    BlockPool pool(4, 4);
    BlockTable a(4);
    a.append(pool.allocate());
    a.append(pool.allocate());
    BlockTable b = a.share(pool);
    BlockTable c = b.share(pool);
    EXPECT_EQ(ids_of(c), (Ids{0, 1}));
    EXPECT_EQ(pool.block(0).ref_count, 3);
    EXPECT_EQ(pool.num_sharing_refs(), 4);
    b.release_all(pool);
    c.release_all(pool);
    EXPECT_EQ(pool.block(0).ref_count, 1);
    EXPECT_EQ(pool.num_shared_blocks(), 0);
}

}  // namespace block_table_test
}  // namespace kvscope
