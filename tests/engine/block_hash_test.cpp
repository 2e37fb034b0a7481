#include "engine/block_hash.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <unordered_set>
#include <vector>

namespace kvscope {
namespace block_hash_test {

TEST(BlockHash, SameInputsSameHash) {
    const std::vector<std::int32_t> tokens = {1, 2, 3, 4};
    const BlockHash parent{5, 6};
    EXPECT_EQ(hash_block(std::nullopt, tokens, 0), hash_block(std::nullopt, tokens, 0));
    EXPECT_EQ(hash_block(parent, tokens, 9), hash_block(parent, tokens, 9));
}

TEST(BlockHash, EveryInputChangesTheHash) {
    const std::vector<std::int32_t> tokens = {1, 2, 3, 4};
    const BlockHash base = hash_block(std::nullopt, tokens, 0);
    EXPECT_NE(base, hash_block(std::nullopt, std::vector<std::int32_t>{1, 2, 3, 5}, 0));  // a token
    EXPECT_NE(base, hash_block(std::nullopt, std::vector<std::int32_t>{2, 1, 3, 4}, 0));  // the order
    EXPECT_NE(base, hash_block(std::nullopt, tokens, 1));                                 // the extra key
    EXPECT_NE(base, hash_block(BlockHash{0, 0}, tokens, 0));  // an all-zero parent is still a parent
    EXPECT_NE(hash_block(BlockHash{1, 2}, tokens, 0), hash_block(BlockHash{2, 1}, tokens, 0));
    // Zero padding of an odd count must not collide with a real trailing zero token.
    EXPECT_NE(hash_block(std::nullopt, std::vector<std::int32_t>{7, 8, 9}, 0),
              hash_block(std::nullopt, std::vector<std::int32_t>{7, 8, 9, 0}, 0));
    // Negative ids (never produced by a tokenizer, but still) are distinct from their bit patterns' neighbours.
    EXPECT_NE(hash_block(std::nullopt, std::vector<std::int32_t>{-1, 0}, 0),
              hash_block(std::nullopt, std::vector<std::int32_t>{0, -1}, 0));
}

TEST(BlockHash, FullBlocksChainAndPartialBlocksAreNotHashed) {
    std::vector<std::int32_t> tokens(11);
    for (int i = 0; i < 11; ++i) tokens[i] = 100 + i;
    std::vector<BlockHash> hashes;
    hash_full_blocks(tokens, 4, 7, 100, hashes);
    ASSERT_EQ(hashes.size(), 2u);  // 11 tokens: two full blocks of 4, three tokens left unhashed
    const BlockHash h0 = hash_block(std::nullopt, std::span(tokens).subspan(0, 4), 7);
    const BlockHash h1 = hash_block(h0, std::span(tokens).subspan(4, 4), 7);
    EXPECT_EQ(hashes[0], h0);
    EXPECT_EQ(hashes[1], h1);

    // The same second block after a different first block hashes differently (the chain).
    std::vector<std::int32_t> other = tokens;
    other[0] = 999;
    std::vector<BlockHash> other_hashes;
    hash_full_blocks(other, 4, 7, 100, other_hashes);
    EXPECT_NE(other_hashes[1], hashes[1]);

    std::vector<BlockHash> limited;
    hash_full_blocks(tokens, 4, 7, 1, limited);
    ASSERT_EQ(limited.size(), 1u);
    EXPECT_EQ(limited[0], h0);
}

// Accidental collisions: 200k distinct random blocks give 200k distinct values in each 64-bit
// half (a collision in either half has probability ~1e-9 for a well-mixed hash).
TEST(BlockHash, NoCollisionsAmongManyRandomBlocks) {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<std::int32_t> token(0, 31999);
    std::unordered_set<std::uint64_t> his, los;
    std::vector<std::int32_t> block(16);
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        for (auto& t : block) t = token(rng);
        block[0] = i;  // distinct inputs for sure
        const BlockHash h = hash_block(std::nullopt, block, 0);
        his.insert(h.hi);
        los.insert(h.lo);
    }
    EXPECT_EQ(his.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(los.size(), static_cast<std::size_t>(n));
}

// Avalanche: flipping one input bit flips about half of the 128 output bits, in every position.
TEST(BlockHash, OneBitFlipChangesAboutHalfTheBits) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::int32_t> token(0, 1 << 30);
    std::vector<std::int32_t> block(16);
    double total = 0;
    int trials = 0;
    int min_bits = 128;
    for (int trial = 0; trial < 2000; ++trial) {
        for (auto& t : block) t = token(rng);
        const std::uint64_t key = rng();
        const BlockHash a = hash_block(std::nullopt, block, key);
        const int word = trial % 16;
        const int bit = (trial / 16) % 31;
        block[word] ^= (1 << bit);
        const BlockHash b = hash_block(std::nullopt, block, key);
        const int flipped = std::popcount(a.hi ^ b.hi) + std::popcount(a.lo ^ b.lo);
        total += flipped;
        min_bits = std::min(min_bits, flipped);
        ++trials;
    }
    const double mean = total / trials;
    EXPECT_GT(mean, 62.0);
    EXPECT_LT(mean, 66.0);
    EXPECT_GT(min_bits, 30);
}

}  // namespace block_hash_test
}  // namespace kvscope
