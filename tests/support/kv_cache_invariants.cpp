#include "tests/support/kv_cache_invariants.h"

#include <string>
#include <vector>

namespace kvscope::test {

namespace {

::testing::AssertionResult fail(const std::string& what) {
    return ::testing::AssertionFailure() << what;
}

std::string at_block(const char* what, std::int32_t id) {
    return std::string(what) + " (block " + std::to_string(id) + ")";
}

}  // namespace

::testing::AssertionResult kv_cache_invariants_hold(const KvCacheManager& manager, std::span<const SeqId> live) {
    const BlockPool& pool = manager.pool();
    const std::int32_t n = pool.num_blocks();
    const std::int32_t block_size = manager.config().block_size;

    // References recounted from the block tables.
    if (manager.num_sequences() != static_cast<std::int32_t>(live.size())) return fail("sequence count differs");
    std::vector<std::int32_t> refs(static_cast<std::size_t>(n), 0);
    for (const SeqId seq : live) {
        if (!manager.contains(seq)) return fail("a live sequence is unknown to the manager: " + std::to_string(seq));
        const BlockTable& table = manager.block_table(seq);
        if (manager.is_swapped(seq)) {
            // swapped out: no KV block, one swap block per computed block
            if (table.num_blocks() != 0) return fail("a swapped-out sequence holds KV blocks");
            if (manager.num_swap_blocks(seq) * block_size < manager.num_computed_tokens(seq))
                return fail("swap blocks fewer than the computed tokens need");
            continue;
        }
        if (table.num_slots() < manager.num_computed_tokens(seq)) return fail("table shorter than its computed tokens");
        for (const std::int32_t id : table.block_ids()) {
            if (id < 0 || id >= n) return fail("table names a block out of range");
            ++refs[static_cast<std::size_t>(id)];
        }
    }

    std::int32_t used = 0, cached = 0, free = 0, shared = 0, hashed = 0;
    std::int64_t saved = 0, filled = 0;
    for (std::int32_t id = 0; id < n; ++id) {
        const KvBlock& b = pool.block(id);
        if (b.id != id) return fail(at_block("id differs from position", id));
        if (b.ref_count != refs[static_cast<std::size_t>(id)]) {
            return fail(at_block("ref_count differs from the tables", id) + ": " + std::to_string(b.ref_count) +
                        " vs " + std::to_string(refs[static_cast<std::size_t>(id)]));
        }
        const int num_states = int{is_free(b)} + int{is_cached(b)} + int{is_active(b)};
        if (num_states != 1) return fail(at_block("not in exactly one state", id));
        if (is_active(b)) {
            ++used;
            filled += b.num_tokens;
            if (b.ref_count > 1) ++shared;
            saved += b.ref_count - 1;
        }
        if (is_cached(b)) ++cached;
        if (is_free(b)) {
            ++free;
            if (b.num_tokens != 0) return fail(at_block("a free block has filled slots", id));
        }
        if (b.num_tokens < 0 || b.num_tokens > block_size) return fail(at_block("fill out of range", id));
        if (b.hash) {
            ++hashed;
            if (b.num_tokens != block_size) return fail(at_block("a hashed block is not full", id));
            const std::optional<std::int32_t> found = pool.find_cached(*b.hash);
            if (!found || *found != id) return fail(at_block("the index does not map the block's hash to it", id));
        }
    }
    if (used + cached + free != n) return fail("used + cached-free + free != total");
    if (hashed != pool.num_hashed_blocks()) return fail("the index holds entries for unhashed blocks");

    const KvCacheStats s = manager.stats();
    if (s.num_blocks != n || s.num_used_blocks != used || s.num_cached_free_blocks != cached ||
        s.num_free_blocks != free) {
        return fail("block counters differ from a recount");
    }
    if (pool.num_active_blocks() != used || pool.num_cached_free_blocks() != cached ||
        manager.num_free_blocks() != cached + free) {
        return fail("pool counters differ from a recount");
    }
    if (s.num_shared_blocks != shared || s.num_saved_blocks != saved) return fail("sharing counters differ");
    if (s.num_filled_slots != filled || pool.num_filled_slots() != filled) return fail("filled slots differ");
    if (s.num_sequences != static_cast<std::int32_t>(live.size())) return fail("stats sequence count differs");

    // The free queue: a well-linked list of exactly the blocks with ref_count == 0.
    std::vector<bool> queued(static_cast<std::size_t>(n), false);
    std::int32_t prev = kNoBlock;
    std::int32_t count = 0;
    for (std::int32_t id = pool.free_head(); id != kNoBlock; id = pool.block(id).next_free) {
        if (id < 0 || id >= n) return fail("free queue link out of range");
        if (queued[static_cast<std::size_t>(id)]) return fail(at_block("free queue visits a block twice", id));
        queued[static_cast<std::size_t>(id)] = true;
        if (pool.block(id).prev_free != prev) return fail(at_block("prev_free does not match the walk", id));
        if (pool.block(id).ref_count != 0) return fail(at_block("an owned block is in the free queue", id));
        prev = id;
        ++count;
    }
    if (pool.free_tail() != prev) return fail("free_tail is not the last block of the walk");
    if (count != cached + free || count != pool.num_free_blocks()) return fail("free queue length differs");
    for (std::int32_t id = 0; id < n; ++id) {
        const KvBlock& b = pool.block(id);
        if (b.ref_count == 0 && !queued[static_cast<std::size_t>(id)]) return fail(at_block("free but not queued", id));
        if (!queued[static_cast<std::size_t>(id)] && (b.prev_free != kNoBlock || b.next_free != kNoBlock)) {
            return fail(at_block("an unqueued block keeps queue links", id));
        }
    }
    return ::testing::AssertionSuccess();
}

}  // namespace kvscope::test
