#pragma once
// What the scheduler asks of KV memory. The engine's KvCacheManager answers it with real blocks;
// the memory lab's allocator models (engine/lab/) answer the same calls, so that one scheduling
// policy (engine/scheduler.h) drives both.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/block_hash.h"
#include "engine/seq_id.h"
#include "kernels/block_copy.h"

namespace kvscope {

// The longest run of cached full blocks at the start of a prompt. Valid until the next call that
// changes the allocator (allocate_slots, free, ...): use it in the allocate_slots right after.
struct PrefixMatch {
    std::vector<std::int32_t> block_ids;  // physical blocks for logical blocks 0.. of the prompt
    std::vector<BlockHash> block_hashes;  // their chained hashes (checked again when taken)
    std::uint64_t extra_key = 0;          // the key the sequence's blocks are hashed with
    std::int32_t num_query_tokens = 0;    // prompt tokens looked up (0 when prefix caching is off)
    std::int32_t num_cached_tokens = 0;   // block_ids.size() * block_size
};

struct AllocResult {
    std::vector<BlockCopy> copies;         // copy-on-write: the backend copies src -> dst first
    std::int32_t num_computed_tokens = 0;  // tokens whose KV is already cached, the prefix hit included
    std::int32_t num_cached_tokens = 0;    // tokens this call took from the prefix cache (first call)
    std::int32_t num_new_blocks = 0;       // blocks appended to the table (copy-on-write not counted)
};

class KvSlotAllocator {
public:
    virtual ~KvSlotAllocator() = default;

    // Starts the next engine step.
    virtual void advance_step() = 0;
    // The cached prefix of a prompt (empty when there is no prefix cache). Takes no references.
    virtual PrefixMatch find_cached_prefix(std::span<const std::int32_t> tokens, std::uint64_t extra_key) const = 0;
    // Makes `seq`'s memory cover its computed tokens + num_new_tokens; `match` only on a
    // sequence's first call (admission). All or nothing: nullopt, and nothing changed, when memory
    // is short.
    virtual std::optional<AllocResult> allocate_slots(SeqId seq, std::int32_t num_new_tokens,
                                                      const PrefixMatch* match = nullptr) = 0;
    // After a step computed `seq`'s tokens up to num_computed_tokens.
    virtual void commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) = 0;
    // Releases everything `seq` holds; false if it holds nothing.
    virtual bool free(SeqId seq) = 0;
    virtual bool contains(SeqId seq) const = 0;

    // ---- preemption by swap: optional; an allocator without swap space refuses every swap ----
    // Moves `seq`'s computed blocks to swap space: copies KV block -> swap block (with `pending`
    // copy-on-write copies of this step undone). nullopt, and no change, when there is no room.
    virtual std::optional<std::vector<BlockCopy>> swap_out(SeqId /*seq*/, std::span<const BlockCopy> /*pending*/ = {}) {
        return std::nullopt;
    }
    // True when swapped-out `seq` can come back with room for `num_tokens` tokens in all.
    virtual bool can_swap_in(SeqId /*seq*/, std::int32_t /*num_tokens*/) const { return false; }
    // Brings swapped-out `seq` back: copies swap block -> KV block. nullopt when it cannot.
    virtual std::optional<std::vector<BlockCopy>> swap_in(SeqId /*seq*/) { return std::nullopt; }
};

}  // namespace kvscope
