#pragma once
// A picture of the KV cache at one moment: a value (copyable, no pointers into the engine) that
// KvCacheManager::snapshot() makes. The UI keeps the latest one and paints only from it.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/block_hash.h"
#include "engine/seq_id.h"

namespace kvscope {

enum class BlockState : std::uint8_t {
    Free,    // neither held nor cached: contents are garbage
    Cached,  // not held, but a full hashed block a later prompt may reuse (evictable)
    Active,  // held by ref_count sequences
};

// Counters, defined once (DESIGN.md "Numbers shown to users").
struct KvCacheStats {
    std::int32_t block_size = 0;
    std::int32_t num_blocks = 0;              // = num_used + num_cached_free + num_free
    std::int32_t num_used_blocks = 0;         // active: held by at least one sequence
    std::int32_t num_cached_free_blocks = 0;  // cached
    std::int32_t num_free_blocks = 0;         // free and not cached
    std::int64_t num_filled_slots = 0;        // tokens stored in used blocks, each physical block once
    std::int32_t num_shared_blocks = 0;       // used blocks with ref_count > 1
    std::int64_t num_saved_blocks = 0;        // sum over blocks of (ref_count - 1): blocks sharing saved
    std::int32_t num_sequences = 0;
    std::int64_t num_prefix_requests = 0;      // first allocations that looked the prefix cache up
    std::int64_t num_prefix_query_tokens = 0;  // prompt tokens looked up
    std::int64_t num_prefix_hit_tokens = 0;    // of those, tokens found cached
    std::int64_t step = 0;

    // Blocks held by sequences / all blocks (vLLM's kv_cache_usage_perc, as a fraction).
    double usage() const { return num_blocks == 0 ? 0.0 : static_cast<double>(num_used_blocks) / num_blocks; }
    // (slots in held blocks - tokens stored) / slots in held blocks; 0 when no block is held.
    double fragmentation() const;
    // Hit tokens / queried tokens; 0 before any query.
    double prefix_hit_rate() const;
};

struct KvBlockInfo {
    std::int32_t id = 0;
    BlockState state = BlockState::Free;
    std::int32_t ref_count = 0;
    std::int32_t num_tokens = 0;  // filled slots
    std::optional<BlockHash> hash;
    std::int64_t last_used_step = 0;
};

struct KvSequenceInfo {
    SeqId id = 0;
    std::int32_t num_computed_tokens = 0;  // tokens whose KV is in the cache
    std::int32_t table_offset = 0;         // its block table is table_block_ids[table_offset, + num_blocks)
    std::int32_t num_blocks = 0;
};

struct KvSnapshot {
    KvCacheStats stats;
    std::vector<KvBlockInfo> blocks;  // indexed by block id
    // Owners, flat: block b is held by owner_ids[owner_offsets[b], owner_offsets[b + 1]), ascending.
    std::vector<SeqId> owner_ids;
    std::vector<std::int32_t> owner_offsets;  // num_blocks + 1 entries
    std::vector<KvSequenceInfo> sequences;    // ascending id
    std::vector<std::int32_t> table_block_ids;
    std::vector<std::int32_t> free_queue;  // free and cached blocks, next to be allocated first

    std::span<const SeqId> owners(std::int32_t block_id) const;
    std::span<const std::int32_t> block_table(const KvSequenceInfo& sequence) const;
    // The sequence with id `id`, or nullptr.
    const KvSequenceInfo* find_sequence(SeqId id) const;
};

}  // namespace kvscope
