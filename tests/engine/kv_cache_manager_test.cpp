#include "engine/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "tests/support/kv_cache_invariants.h"

namespace kvscope {
namespace kv_cache_manager_test {

using Ids = std::vector<std::int32_t>;
using Tokens = std::vector<std::int32_t>;

// Block size 8 (the smallest valid one): token counts below are written as multiples of kB.
constexpr std::int32_t kB = 8;

KvCacheConfig config_of(std::int32_t num_blocks, std::int32_t block_size = kB, bool caching = true) {
    return KvCacheConfig{num_blocks, block_size, caching};
}

// Tokens first, first + 1, ...
Tokens iota(std::int32_t first, std::int32_t count) {
    Tokens t(static_cast<std::size_t>(count));
    std::iota(t.begin(), t.end(), first);
    return t;
}

Tokens concat(Tokens a, const Tokens& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Tokens head(const Tokens& t, std::size_t n) {
    return Tokens(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n));
}

Ids table_of(const KvCacheManager& m, SeqId seq) {
    const auto ids = m.block_table(seq).block_ids();
    return Ids(ids.begin(), ids.end());
}

Ids refs_of(const KvCacheManager& m, const Ids& ids) {
    Ids refs;
    for (const std::int32_t id : ids) refs.push_back(m.pool().block(id).ref_count);
    return refs;
}

// Everything observable about the cache, as text (for "nothing changed" checks).
std::string describe(const KvCacheManager& m) {
    const KvSnapshot s = m.snapshot();
    std::ostringstream out;
    for (const KvBlockInfo& b : s.blocks) {
        out << b.id << ':' << static_cast<int>(b.state) << ',' << b.ref_count << ',' << b.num_tokens << ','
            << (b.hash ? b.hash->lo : 0) << ',' << b.last_used_step << ';';
    }
    out << "|queue:";
    for (const std::int32_t id : s.free_queue) out << id << ',';
    out << "|seqs:";
    for (const KvSequenceInfo& seq : s.sequences) {
        out << seq.id << '(' << seq.num_computed_tokens << "):";
        for (const std::int32_t id : s.block_table(seq)) out << id << ',';
    }
    out << "|stats:" << s.stats.num_prefix_requests << ',' << s.stats.num_prefix_query_tokens << ','
        << s.stats.num_prefix_hit_tokens;
    return out.str();
}

// Admits a sequence the way the scheduler does: look up, allocate the rest of the prompt.
std::optional<AllocResult> admit(KvCacheManager& m, SeqId seq, const Tokens& prompt, std::uint64_t extra_key = 0) {
    const PrefixMatch match = m.find_cached_prefix(prompt, extra_key);
    return m.allocate_slots(seq, static_cast<std::int32_t>(prompt.size()) - match.num_cached_tokens, &match);
}

// ---- prefix hits ----

TEST(KvCacheManager, SecondRequestWithTheSamePrefixSharesItsFullBlocks) {
    KvCacheManager m(config_of(10));
    const Tokens a = iota(1, 2 * kB + 2);

    const PrefixMatch miss = m.find_cached_prefix(a, 0);
    EXPECT_TRUE(miss.block_ids.empty());
    EXPECT_EQ(miss.num_query_tokens, 18);
    EXPECT_EQ(miss.num_cached_tokens, 0);
    const std::optional<AllocResult> r1 = m.allocate_slots(1, 2 * kB + 2, &miss);
    ASSERT_TRUE(r1.has_value());
    EXPECT_EQ(r1->num_computed_tokens, 0);
    EXPECT_EQ(r1->num_new_blocks, 3);
    EXPECT_TRUE(r1->copies.empty());
    EXPECT_EQ(table_of(m, 1), (Ids{0, 1, 2}));
    EXPECT_EQ(m.num_free_blocks(), 7);

    m.commit(1, a, 2 * kB + 2);
    const BlockHash h0 = hash_block(std::nullopt, iota(1, kB), 0);
    const BlockHash h1 = hash_block(h0, iota(kB + 1, kB), 0);
    EXPECT_EQ(m.pool().block(0).hash, h0);
    EXPECT_EQ(m.pool().block(1).hash, h1);
    EXPECT_FALSE(m.pool().block(2).hash.has_value());  // partial: never hashed
    EXPECT_EQ(m.pool().block(2).num_tokens, 2);

    const Tokens b = concat(head(a, 2 * kB), {99, 98, 97});
    const PrefixMatch hit = m.find_cached_prefix(b, 0);
    EXPECT_EQ(hit.block_ids, (Ids{0, 1}));
    EXPECT_EQ(hit.num_cached_tokens, 16);
    EXPECT_EQ(hit.num_query_tokens, 19);
    const std::optional<AllocResult> r2 = m.allocate_slots(2, 3, &hit);
    ASSERT_TRUE(r2.has_value());
    EXPECT_EQ(r2->num_computed_tokens, 16);
    EXPECT_EQ(r2->num_cached_tokens, 16);
    EXPECT_EQ(r2->num_new_blocks, 1);
    EXPECT_EQ(table_of(m, 2), (Ids{0, 1, 3}));
    EXPECT_EQ(refs_of(m, {0, 1, 2, 3}), (Ids{2, 2, 1, 1}));
    EXPECT_EQ(m.num_computed_tokens(2), 16);
    EXPECT_EQ(m.num_free_blocks(), 6);

    const KvCacheStats s = m.stats();
    EXPECT_EQ(s.num_prefix_requests, 2);
    EXPECT_EQ(s.num_prefix_query_tokens, 37);  // 18 + 19
    EXPECT_EQ(s.num_prefix_hit_tokens, 16);
    EXPECT_EQ(s.num_shared_blocks, 2);
    EXPECT_EQ(s.num_saved_blocks, 2);
    const SeqId live[] = {1, 2};
    EXPECT_TRUE(test::kv_cache_invariants_hold(m, live));
}

TEST(KvCacheManager, TheLastPromptTokenIsNeverACacheHit) {
    KvCacheManager m(config_of(10));
    const Tokens a = iota(1, 3 * kB);
    ASSERT_TRUE(admit(m, 1, a));
    m.commit(1, a, 3 * kB);  // three full blocks cached

    // A prompt of exactly the cached 8 tokens: the hit stops before its last token's block.
    EXPECT_EQ(m.find_cached_prefix(head(a, 2 * kB), 0).block_ids, (Ids{0}));
    EXPECT_EQ(m.find_cached_prefix(head(a, 2 * kB + 1), 0).block_ids, (Ids{0, 1}));
    EXPECT_EQ(m.find_cached_prefix(a, 0).block_ids, (Ids{0, 1}));
    EXPECT_EQ(m.find_cached_prefix(concat(a, {5}), 0).block_ids, (Ids{0, 1, 2}));
    EXPECT_TRUE(m.find_cached_prefix(head(a, kB), 0).block_ids.empty());
    EXPECT_TRUE(m.find_cached_prefix(Tokens{}, 0).block_ids.empty());
}

TEST(KvCacheManager, TheExtraKeyIsolatesPrefixes) {
    KvCacheManager m(config_of(10));
    const Tokens a = iota(1, 2 * kB + 1);
    ASSERT_TRUE(admit(m, 1, a, /*extra_key=*/7));
    m.commit(1, a, 2 * kB + 1);
    EXPECT_EQ(m.find_cached_prefix(a, 7).block_ids, (Ids{0, 1}));
    EXPECT_TRUE(m.find_cached_prefix(a, 0).block_ids.empty());
    EXPECT_TRUE(m.find_cached_prefix(a, 8).block_ids.empty());

    // A sequence admitted without a match hashes with extra key 0.
    ASSERT_TRUE(m.allocate_slots(2, 2 * kB + 1));
    m.commit(2, a, 2 * kB + 1);
    EXPECT_EQ(m.find_cached_prefix(a, 0).block_ids, (Ids{3, 4}));
    EXPECT_EQ(m.find_cached_prefix(a, 7).block_ids, (Ids{0, 1}));
}

TEST(KvCacheManager, AMismatchEndsTheHitAndLaterBlocksDoNotCount) {
    KvCacheManager m(config_of(10));
    const Tokens a = iota(1, 3 * kB + 1);
    ASSERT_TRUE(admit(m, 1, a));
    m.commit(1, a, 3 * kB + 1);
    Tokens b = a;
    b[kB + 1] = 555;  // inside block 1: blocks 1 and 2 differ through the chain
    EXPECT_EQ(m.find_cached_prefix(b, 0).block_ids, (Ids{0}));
}

TEST(KvCacheManager, GeneratedTokensAreCachedWhenTheyFillABlock) {
    KvCacheManager m(config_of(10));
    Tokens t = iota(1, kB + 1);
    ASSERT_TRUE(admit(m, 1, t));
    m.commit(1, t, kB + 1);
    for (std::int32_t next = 50; next < 50 + kB - 1; ++next) {  // decode one token a step up to 2 * kB
        t.push_back(next);
        ASSERT_TRUE(m.allocate_slots(1, 1));
        m.commit(1, t, static_cast<std::int32_t>(t.size()));
    }
    EXPECT_EQ(table_of(m, 1), (Ids{0, 1}));
    EXPECT_EQ(m.pool().block(1).num_tokens, kB);
    EXPECT_TRUE(m.pool().block(1).hash.has_value());
    EXPECT_EQ(m.find_cached_prefix(concat(t, {42}), 0).block_ids, (Ids{0, 1}));
}

// ---- free order and eviction ----

TEST(KvCacheManager, FreeReleasesTailFirstAndEvictionIsLruNeverHashedFirst) {
    KvCacheManager m(config_of(10));
    const Tokens a = iota(1, 2 * kB + 2);
    const Tokens b = concat(head(a, 2 * kB), {99, 98, 97});
    ASSERT_TRUE(admit(m, 1, a));
    m.commit(1, a, 2 * kB + 2);
    ASSERT_TRUE(admit(m, 2, b));
    m.commit(2, b, 2 * kB + 3);
    EXPECT_EQ(m.pool().free_queue(), (Ids{4, 5, 6, 7, 8, 9}));

    EXPECT_TRUE(m.free(1));  // block 2 (never hashed) to the front; 1 and 0 still held by seq 2
    EXPECT_EQ(m.pool().free_queue(), (Ids{2, 4, 5, 6, 7, 8, 9}));
    EXPECT_TRUE(m.free(2));  // 3 to the front; then 1, then 0 to the back: the tail goes first
    EXPECT_EQ(m.pool().free_queue(), (Ids{3, 2, 4, 5, 6, 7, 8, 9, 1, 0}));
    EXPECT_FALSE(m.free(2));
    EXPECT_EQ(m.stats().num_cached_free_blocks, 2);
    EXPECT_EQ(m.stats().num_free_blocks, 8);
    EXPECT_EQ(m.num_free_blocks(), 10);

    // Eight blocks come from the never-hashed ones; the cached prefix survives.
    ASSERT_TRUE(m.allocate_slots(3, 8 * kB));
    EXPECT_EQ(table_of(m, 3), (Ids{3, 2, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(m.find_cached_prefix(a, 0).block_ids, (Ids{0, 1}));
    // The next allocation evicts block 1 (released before 0): the prefix shrinks to block 0.
    ASSERT_TRUE(m.allocate_slots(4, 1));
    EXPECT_EQ(table_of(m, 4), (Ids{1}));
    EXPECT_FALSE(m.pool().block(1).hash.has_value());
    EXPECT_EQ(m.find_cached_prefix(a, 0).block_ids, (Ids{0}));
    ASSERT_TRUE(m.allocate_slots(5, 1));
    EXPECT_EQ(table_of(m, 5), (Ids{0}));
    EXPECT_TRUE(m.find_cached_prefix(a, 0).block_ids.empty());
    EXPECT_FALSE(m.allocate_slots(6, 1).has_value());
    const SeqId live[] = {3, 4, 5};
    EXPECT_TRUE(test::kv_cache_invariants_hold(m, live));
}

TEST(KvCacheManager, DuplicateContentKeepsOneCanonicalBlock) {
    KvCacheManager m(config_of(10));
    const Tokens p = iota(1, 2 * kB + 1);
    ASSERT_TRUE(admit(m, 1, p));  // both miss: neither has committed yet
    ASSERT_TRUE(admit(m, 2, p));
    EXPECT_EQ(table_of(m, 2), (Ids{3, 4, 5}));
    m.commit(1, p, 2 * kB + 1);
    m.commit(2, p, 2 * kB + 1);
    EXPECT_TRUE(m.pool().block(0).hash.has_value());
    EXPECT_TRUE(m.pool().block(1).hash.has_value());
    EXPECT_FALSE(m.pool().block(3).hash.has_value());  // same content as block 0: not registered
    EXPECT_FALSE(m.pool().block(4).hash.has_value());
    EXPECT_EQ(m.pool().num_hashed_blocks(), 2);
    EXPECT_EQ(table_of(m, 2), (Ids{3, 4, 5}));  // its table is unchanged (append-only)
    EXPECT_EQ(m.find_cached_prefix(p, 0).block_ids, (Ids{0, 1}));

    m.free(2);  // all unhashed: to the front
    EXPECT_EQ(m.pool().free_queue(), (Ids{3, 4, 5, 6, 7, 8, 9}));
    m.free(1);
    EXPECT_EQ(m.pool().free_queue(), (Ids{2, 3, 4, 5, 6, 7, 8, 9, 1, 0}));
}

TEST(KvCacheManager, APreemptedSequenceResumesFromItsOwnCachedBlocks) {
    KvCacheManager m(config_of(10));
    const Tokens t = iota(1, 2 * kB + 1);
    ASSERT_TRUE(admit(m, 1, t));
    m.commit(1, t, 2 * kB + 1);
    m.free(1);  // preempted
    const std::optional<AllocResult> r = admit(m, 1, t);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->num_computed_tokens, 2 * kB);
    EXPECT_EQ(table_of(m, 1), (Ids{0, 1, 2}));  // 2 was freed to the front
}

// ---- running out ----

TEST(KvCacheManager, OutOfBlocksReturnsNulloptAndChangesNothing) {
    KvCacheManager m(config_of(4));
    const Tokens p = iota(1, 2 * kB + 1);
    ASSERT_TRUE(admit(m, 1, p));
    m.commit(1, p, 2 * kB + 1);
    m.free(1);
    EXPECT_EQ(m.pool().free_queue(), (Ids{2, 3, 1, 0}));

    // 4 * kB + 1 tokens hit 2 cached blocks and need 3 more, but taking the hit leaves only 2 free.
    const Tokens q17 = concat(head(p, 2 * kB), iota(50, 2 * kB + 1));
    const PrefixMatch match17 = m.find_cached_prefix(q17, 0);
    EXPECT_EQ(match17.block_ids, (Ids{0, 1}));
    const std::string before = describe(m);
    EXPECT_FALSE(m.allocate_slots(2, 2 * kB + 1, &match17).has_value());
    EXPECT_EQ(describe(m), before);
    EXPECT_FALSE(m.contains(2));

    // 4 * kB tokens need 2 more: exactly what is left.
    const Tokens q16 = concat(head(p, 2 * kB), iota(50, 2 * kB));
    const PrefixMatch match16 = m.find_cached_prefix(q16, 0);
    const std::optional<AllocResult> r = m.allocate_slots(3, 2 * kB, &match16);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(table_of(m, 3), (Ids{0, 1, 2, 3}));
    EXPECT_EQ(m.num_free_blocks(), 0);

    // A running sequence that needs one more block: nothing changes either.
    m.commit(3, q16, 4 * kB);
    const std::string full = describe(m);
    EXPECT_FALSE(m.allocate_slots(3, 1).has_value());
    EXPECT_EQ(describe(m), full);
    EXPECT_TRUE(m.allocate_slots(3, 0).has_value());  // nothing new needed
    const SeqId live[] = {3};
    EXPECT_TRUE(test::kv_cache_invariants_hold(m, live));
}

TEST(KvCacheManager, ACopyOnWriteNeedsAFreeBlockToo) {
    KvCacheManager m(config_of(2));
    const Tokens p = iota(1, 3);
    ASSERT_TRUE(admit(m, 1, p));
    m.commit(1, p, 3);
    m.fork(1, 2);
    ASSERT_TRUE(m.allocate_slots(3, 4));  // takes the last free block
    const std::string before = describe(m);
    EXPECT_FALSE(m.allocate_slots(2, 1).has_value());  // would write into the shared block
    EXPECT_EQ(describe(m), before);
}

// ---- fork and copy-on-write ----

TEST(KvCacheManager, ForkSharesAllBlocksAndTheFirstWriterCopiesTheLastOne) {
    KvCacheManager m(config_of(10));
    const Tokens p = iota(1, kB + 2);
    ASSERT_TRUE(admit(m, 1, p));
    m.commit(1, p, kB + 2);  // block 0 full and hashed, block 1 holds 2 tokens
    m.fork(1, 2);
    EXPECT_EQ(table_of(m, 2), (Ids{0, 1}));
    EXPECT_EQ(refs_of(m, {0, 1}), (Ids{2, 2}));
    EXPECT_EQ(m.num_computed_tokens(2), kB + 2);
    EXPECT_EQ(m.stats().num_shared_blocks, 2);
    EXPECT_EQ(m.stats().num_saved_blocks, 2);

    // The child writes first: it gets a copy, the parent keeps its block.
    const std::optional<AllocResult> child = m.allocate_slots(2, 1);
    ASSERT_TRUE(child.has_value());
    EXPECT_EQ(child->copies, (std::vector<BlockCopy>{{1, 2}}));
    EXPECT_EQ(child->num_new_blocks, 0);
    EXPECT_EQ(table_of(m, 2), (Ids{0, 2}));
    EXPECT_EQ(table_of(m, 1), (Ids{0, 1}));
    EXPECT_EQ(refs_of(m, {0, 1, 2}), (Ids{2, 1, 1}));
    EXPECT_EQ(m.pool().block(2).num_tokens, 2);
    const std::optional<AllocResult> parent = m.allocate_slots(1, 1);
    ASSERT_TRUE(parent.has_value());
    EXPECT_TRUE(parent->copies.empty());  // no longer shared
    EXPECT_EQ(table_of(m, 1), (Ids{0, 1}));

    // Both fill their blocks with different tokens: both are cached, under different hashes.
    const Tokens tail1 = concat({kB + 1, kB + 2}, iota(100, kB - 2));  // block 1 of each, once full
    const Tokens tail2 = concat({kB + 1, kB + 2}, iota(200, kB - 2));
    const Tokens t1 = concat(iota(1, kB), tail1);
    const Tokens t2 = concat(iota(1, kB), tail2);
    m.commit(1, t1, kB + 3);
    m.commit(2, t2, kB + 3);
    ASSERT_TRUE(m.allocate_slots(1, kB - 3));
    ASSERT_TRUE(m.allocate_slots(2, kB - 3));
    m.commit(1, t1, 2 * kB);
    m.commit(2, t2, 2 * kB);
    const BlockHash h0 = hash_block(std::nullopt, iota(1, kB), 0);
    EXPECT_EQ(m.pool().block(1).hash, hash_block(h0, tail1, 0));
    EXPECT_EQ(m.pool().block(2).hash, hash_block(h0, tail2, 0));

    const KvSnapshot s = m.snapshot();
    EXPECT_EQ(std::vector<SeqId>(s.owners(0).begin(), s.owners(0).end()), (std::vector<SeqId>{1, 2}));
    EXPECT_EQ(std::vector<SeqId>(s.owners(1).begin(), s.owners(1).end()), (std::vector<SeqId>{1}));
    EXPECT_EQ(std::vector<SeqId>(s.owners(2).begin(), s.owners(2).end()), (std::vector<SeqId>{2}));
    EXPECT_TRUE(s.owners(3).empty());
    const SeqId live[] = {1, 2};
    EXPECT_TRUE(test::kv_cache_invariants_hold(m, live));
}

TEST(KvCacheManager, WhenTheParentWritesFirstTheChildKeepsTheOriginal) {
    KvCacheManager m(config_of(10));
    const Tokens p = iota(1, kB + 2);
    ASSERT_TRUE(admit(m, 1, p));
    m.commit(1, p, kB + 2);
    m.fork(1, 2);
    const std::optional<AllocResult> parent = m.allocate_slots(1, 1);
    ASSERT_TRUE(parent.has_value());
    EXPECT_EQ(parent->copies, (std::vector<BlockCopy>{{1, 2}}));
    EXPECT_EQ(table_of(m, 1), (Ids{0, 2}));
    EXPECT_EQ(table_of(m, 2), (Ids{0, 1}));
    const std::optional<AllocResult> child = m.allocate_slots(2, 1);
    ASSERT_TRUE(child.has_value());
    EXPECT_TRUE(child->copies.empty());
    EXPECT_EQ(refs_of(m, {0, 1, 2}), (Ids{2, 1, 1}));
}

TEST(KvCacheManager, ForkAtABlockBoundaryCopiesNothing) {
    KvCacheManager m(config_of(10));
    const Tokens p = iota(1, 2 * kB);
    ASSERT_TRUE(m.allocate_slots(1, 2 * kB));
    m.commit(1, p, 2 * kB);
    m.fork(1, 2);
    const std::optional<AllocResult> r = m.allocate_slots(2, 1);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->copies.empty());
    EXPECT_EQ(r->num_new_blocks, 1);
    EXPECT_EQ(table_of(m, 2), (Ids{0, 1, 2}));
    EXPECT_EQ(refs_of(m, {0, 1, 2}), (Ids{2, 2, 1}));
}

TEST(KvCacheManager, AForkedChildOutlivesItsParent) {
    KvCacheManager m(config_of(10));
    const Tokens p = iota(1, kB + 2);
    ASSERT_TRUE(admit(m, 1, p));
    m.commit(1, p, kB + 2);
    m.fork(1, 2);
    m.free(1);
    EXPECT_EQ(refs_of(m, {0, 1}), (Ids{1, 1}));
    EXPECT_EQ(m.pool().free_queue(), (Ids{2, 3, 4, 5, 6, 7, 8, 9}));
    const std::optional<AllocResult> r = m.allocate_slots(2, 1);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->copies.empty());  // sole holder now: writes in place
    m.free(2);
    EXPECT_EQ(m.pool().free_queue(), (Ids{1, 2, 3, 4, 5, 6, 7, 8, 9, 0}));
}

// ---- reset, steps, snapshots, config ----

TEST(KvCacheManager, ResetPrefixCacheOnlyWhenNoBlockIsHeld) {
    KvCacheManager m(config_of(10));
    const Tokens p = iota(1, 2 * kB + 1);
    ASSERT_TRUE(admit(m, 1, p));
    m.commit(1, p, 2 * kB + 1);
    EXPECT_FALSE(m.reset_prefix_cache());
    m.free(1);
    EXPECT_EQ(m.find_cached_prefix(p, 0).block_ids, (Ids{0, 1}));
    EXPECT_TRUE(m.reset_prefix_cache());
    EXPECT_TRUE(m.find_cached_prefix(p, 0).block_ids.empty());
    EXPECT_EQ(m.stats().num_cached_free_blocks, 0);
}

TEST(KvCacheManager, PrefixCachingOff) {
    KvCacheManager m(config_of(10, kB, false));
    const Tokens p = iota(1, 2 * kB + 1);
    const PrefixMatch match = m.find_cached_prefix(p, 0);
    EXPECT_TRUE(match.block_ids.empty());
    EXPECT_EQ(match.num_query_tokens, 0);
    ASSERT_TRUE(m.allocate_slots(1, 2 * kB + 1, &match));
    m.commit(1, p, 2 * kB + 1);
    for (const KvBlock& b : m.pool().blocks()) EXPECT_FALSE(b.hash.has_value());
    EXPECT_TRUE(m.find_cached_prefix(p, 0).block_ids.empty());
    m.free(1);
    EXPECT_EQ(m.pool().free_queue(), (Ids{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(m.stats().num_prefix_query_tokens, 0);
}

TEST(KvCacheManager, BlocksRememberTheStepTheyWereLastUsed) {
    KvCacheManager m(config_of(10));
    m.advance_step();
    EXPECT_EQ(m.step(), 1);
    ASSERT_TRUE(m.allocate_slots(1, kB + 1));
    m.advance_step();
    m.advance_step();
    m.commit(1, iota(1, kB + 1), kB + 1);
    m.advance_step();
    ASSERT_TRUE(m.allocate_slots(2, 1));
    EXPECT_EQ(m.pool().block(0).last_used_step, 3);
    EXPECT_EQ(m.pool().block(1).last_used_step, 3);
    EXPECT_EQ(m.pool().block(2).last_used_step, 4);
    EXPECT_EQ(m.pool().block(3).last_used_step, 0);
    EXPECT_EQ(m.stats().step, 4);
}

TEST(KvCacheManager, SnapshotIsAValueWithCountersOwnersAndTables) {
    KvCacheManager m(config_of(10));
    const Tokens a = iota(1, 2 * kB + 2);
    const Tokens b = concat(head(a, 2 * kB), {99, 98, 97});
    ASSERT_TRUE(admit(m, 1, a));
    m.commit(1, a, 2 * kB + 2);
    ASSERT_TRUE(admit(m, 2, b));
    m.commit(2, b, 2 * kB + 3);

    const KvSnapshot s = m.snapshot();
    // Held: blocks 0, 1 (8 tokens each, shared), 2 (2 tokens), 3 (3 tokens): 32 slots, 21 filled.
    EXPECT_EQ(s.stats.num_blocks, 10);
    EXPECT_EQ(s.stats.num_used_blocks, 4);
    EXPECT_EQ(s.stats.num_free_blocks, 6);
    EXPECT_EQ(s.stats.num_cached_free_blocks, 0);
    EXPECT_EQ(s.stats.num_filled_slots, 21);
    EXPECT_DOUBLE_EQ(s.stats.fragmentation(), 11.0 / 32.0);
    EXPECT_DOUBLE_EQ(s.stats.usage(), 0.4);
    EXPECT_EQ(s.stats.num_saved_blocks, 2);
    EXPECT_DOUBLE_EQ(s.stats.prefix_hit_rate(), 16.0 / 37.0);
    ASSERT_EQ(s.sequences.size(), 2u);
    EXPECT_EQ(s.sequences[0].id, 1);
    EXPECT_EQ(s.sequences[1].num_computed_tokens, 19);
    const auto t2 = s.block_table(*s.find_sequence(2));
    EXPECT_EQ(Ids(t2.begin(), t2.end()), (Ids{0, 1, 3}));
    EXPECT_EQ(s.find_sequence(3), nullptr);
    EXPECT_EQ(s.blocks[0].state, BlockState::Active);
    EXPECT_EQ(s.blocks[0].ref_count, 2);
    EXPECT_EQ(s.blocks[3].num_tokens, 3);
    EXPECT_EQ(s.free_queue, (Ids{4, 5, 6, 7, 8, 9}));

    // A copy, unaffected by later changes.
    KvSnapshot later = s;
    m.free(1);
    m.free(2);
    m.snapshot_into(later);
    EXPECT_EQ(s.stats.num_used_blocks, 4);
    EXPECT_EQ(later.stats.num_used_blocks, 0);
    EXPECT_EQ(later.blocks[0].state, BlockState::Cached);
    EXPECT_EQ(later.blocks[3].state, BlockState::Free);
    EXPECT_TRUE(later.sequences.empty());
    for (const KvBlockInfo& b : later.blocks) EXPECT_TRUE(later.owners(b.id).empty()) << b.id;
    EXPECT_DOUBLE_EQ(later.stats.fragmentation(), 0.0);
}

std::vector<SeqId> owners_of(const KvSnapshot& s, std::int32_t block) {
    const auto owners = s.owners(block);
    return std::vector<SeqId>(owners.begin(), owners.end());
}

// Three chunks of blocks (KvBlockList::kBlocksPerChunk each, the last one short).
TEST(KvCacheManager, ASnapshotSharesTheChunksInWhichNothingChanged) {
    constexpr std::int32_t kChunk = KvBlockList::kBlocksPerChunk;
    KvCacheManager m(config_of(2 * kChunk + 100, 8));
    ASSERT_TRUE(m.allocate_slots(1, 8 * 10));  // blocks 0..9: chunk 0
    const KvSnapshot a = m.snapshot();
    ASSERT_EQ(a.blocks.chunks().size(), 3u);

    // Nothing changed: every chunk is shared.
    KvSnapshot b;
    m.snapshot_into(b, &a);
    for (std::size_t c = 0; c < 3; ++c) EXPECT_EQ(b.blocks.chunks()[c], a.blocks.chunks()[c]) << c;

    // Sequence 2 takes blocks 10 .. 2 * kChunk + 9 and fills all but its last: all three chunks change.
    const std::int32_t n = 2 * kChunk;
    ASSERT_TRUE(m.allocate_slots(2, 8 * n));
    const Ids tokens(std::size_t(8 * n), 5);
    m.commit(2, tokens, 8 * (n - 1));
    KvSnapshot c;
    m.snapshot_into(c, &b);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_NE(c.blocks.chunks()[i], b.blocks.chunks()[i]) << i;
    EXPECT_EQ(owners_of(c, 2 * kChunk + 9), (std::vector<SeqId>{2}));

    // Its last block fills (chunk 2 only); then sequence 1 ends (chunk 0 only).
    m.commit(2, tokens, 8 * n - 1);
    KvSnapshot d;
    m.snapshot_into(d, &c);
    EXPECT_EQ(d.blocks.chunks()[0], c.blocks.chunks()[0]);
    EXPECT_EQ(d.blocks.chunks()[1], c.blocks.chunks()[1]);
    EXPECT_NE(d.blocks.chunks()[2], c.blocks.chunks()[2]);
    EXPECT_EQ(d.blocks[2 * kChunk + 9].num_tokens, 7);
    m.free(1);
    KvSnapshot e;
    m.snapshot_into(e, &d);
    EXPECT_NE(e.blocks.chunks()[0], d.blocks.chunks()[0]);
    EXPECT_EQ(e.blocks.chunks()[2], d.blocks.chunks()[2]);
    EXPECT_TRUE(e.owners(0).empty());
    EXPECT_EQ(e.blocks[0].state, BlockState::Free);

    // Each equals a snapshot from scratch; the earlier ones are unchanged values.
    EXPECT_TRUE(e.blocks == m.snapshot().blocks);
    EXPECT_EQ(a.blocks[0].state, BlockState::Active);
    EXPECT_EQ(owners_of(a, 0), (std::vector<SeqId>{1}));
    EXPECT_EQ(c.blocks[2 * kChunk + 9].num_tokens, 0);

    // Another cache's snapshot, even of the same shape, shares nothing.
    KvCacheManager other(config_of(2 * kChunk + 100, 8));
    KvSnapshot f;
    other.snapshot_into(f, &e);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_NE(f.blocks.chunks()[i], e.blocks.chunks()[i]) << i;
    EXPECT_EQ(f.blocks[0].state, BlockState::Free);
}

TEST(KvCacheConfig, ValidateNamesEachProblem) {
    EXPECT_TRUE(config_of(16, 16).validate().empty());
    const std::vector<std::string> bad_size = config_of(16, 12).validate();
    ASSERT_EQ(bad_size.size(), 1u);
    EXPECT_NE(bad_size[0].find("block_size is 12"), std::string::npos);
    EXPECT_NE(bad_size[0].find("8, 16 or 32"), std::string::npos);
    const std::vector<std::string> both = config_of(0, 5).validate();
    ASSERT_EQ(both.size(), 2u);
    EXPECT_NE(both[1].find("num_blocks is 0"), std::string::npos);
    EXPECT_EQ(config_of(100000000, 32).validate().size(), 1u);  // 3.2e9 slots
    EXPECT_THROW(KvCacheManager(config_of(0, 16)), ConfigError);
}

TEST(KvCacheManagerDeathTest, AStaleMatchFailsAKvCheck) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            KvCacheManager m(config_of(3));
            const Tokens p = iota(1, 2 * kB + 1);
            admit(m, 1, p);
            m.commit(1, p, 2 * kB + 1);
            m.free(1);
            const PrefixMatch match = m.find_cached_prefix(p, 0);  // blocks 0, 1
            m.allocate_slots(2, 3 * kB);                           // evicts both
            m.allocate_slots(3, 1, &match);
        },
        "stale PrefixMatch");
}

}  // namespace kv_cache_manager_test
}  // namespace kvscope
