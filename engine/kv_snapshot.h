#pragma once
// A picture of the KV cache at one moment: a value (copyable, no pointers into the engine) that
// KvCacheManager::snapshot() makes. The UI keeps the latest one and paints only from it. Its
// per-block records live in immutable chunks that later snapshots share where nothing changed.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
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

    friend bool operator==(const KvBlockInfo&, const KvBlockInfo&) = default;
};

// Every block's record and owners, by block id, in chunks of kBlocksPerChunk ids. A chunk is an
// immutable value behind a shared pointer, so that a snapshot taken after another shares each chunk
// in which no block changed (KvCacheManager::snapshot_into with the previous snapshot): copying a
// snapshot, keeping many, or taking one of a large cache costs what changed, not the whole cache.
// Reads like a vector of KvBlockInfo.
class KvBlockList {
public:
    static constexpr std::int32_t kBlocksPerChunk = 1024;

    struct Chunk {
        std::vector<KvBlockInfo> blocks;  // ids [chunk index * kBlocksPerChunk, + blocks.size())
        // Owners, flat: blocks[i] is held by owner_ids[owner_offsets[i], owner_offsets[i + 1]), ascending.
        std::vector<std::int32_t> owner_offsets;  // blocks.size() + 1 entries
        std::vector<SeqId> owner_ids;
        std::uint64_t version = 0;  // BlockPool::chunk_version when taken (0: not from a pool)

        std::size_t bytes() const;  // what it holds
    };

    class Iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = KvBlockInfo;
        using difference_type = std::ptrdiff_t;
        using pointer = const KvBlockInfo*;
        using reference = const KvBlockInfo&;
        Iterator() = default;
        Iterator(const KvBlockList* list, std::size_t index) : list_(list), index_(index) {}
        reference operator*() const { return (*list_)[index_]; }
        pointer operator->() const { return &(*list_)[index_]; }
        Iterator& operator++() {
            ++index_;
            return *this;
        }
        Iterator operator++(int) {
            Iterator before = *this;
            ++index_;
            return before;
        }
        friend bool operator==(const Iterator& a, const Iterator& b) { return a.index_ == b.index_; }

    private:
        const KvBlockList* list_ = nullptr;
        std::size_t index_ = 0;
    };

    KvBlockList() = default;
    // From flat arrays (a hand-made or parsed snapshot): `owner_offsets` has blocks.size() + 1
    // entries into `owner_ids`, or none at all when no block has owners.
    explicit KvBlockList(std::span<const KvBlockInfo> blocks, std::span<const std::int32_t> owner_offsets = {},
                         std::span<const SeqId> owner_ids = {});
    // Chunk by chunk (KvCacheManager::snapshot_into): `pool_id` names the pool the chunks were
    // taken from, whose versions they carry.
    KvBlockList(std::uint64_t pool_id, std::vector<std::shared_ptr<const Chunk>> chunks);

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const KvBlockInfo& operator[](std::size_t id) const {
        return chunks_[id / kBlocksPerChunk]->blocks[id % kBlocksPerChunk];
    }
    Iterator begin() const { return Iterator(this, 0); }
    Iterator end() const { return Iterator(this, size_); }
    std::span<const SeqId> owners(std::int32_t id) const;

    // The bytes of the chunks that `other` does not hold at the same place (all of them when
    // `other` is null): what this list copied, taken after `other`.
    std::size_t bytes_not_in(const KvBlockList* other) const;

    std::uint64_t pool_id() const { return pool_id_; }  // 0: not taken from a pool
    const std::vector<std::shared_ptr<const Chunk>>& chunks() const { return chunks_; }

    // Same records and owners, block by block (shared chunks or not).
    friend bool operator==(const KvBlockList& a, const KvBlockList& b);

private:
    std::uint64_t pool_id_ = 0;
    std::vector<std::shared_ptr<const Chunk>> chunks_;
    std::size_t size_ = 0;
};

struct KvSequenceInfo {
    SeqId id = 0;
    std::int32_t num_computed_tokens = 0;  // tokens whose KV is in the cache
    std::int32_t table_offset = 0;         // its block table is table_block_ids[table_offset, + num_blocks)
    std::int32_t num_blocks = 0;
};

struct KvSnapshot {
    KvCacheStats stats;
    KvBlockList blocks;                     // indexed by block id, with their owners
    std::vector<KvSequenceInfo> sequences;  // ascending id
    std::vector<std::int32_t> table_block_ids;
    std::vector<std::int32_t> free_queue;  // free and cached blocks, next to be allocated first

    std::span<const SeqId> owners(std::int32_t block_id) const;
    std::span<const std::int32_t> block_table(const KvSequenceInfo& sequence) const;
    // The sequence with id `id`, or nullptr.
    const KvSequenceInfo* find_sequence(SeqId id) const;
};

}  // namespace kvscope
