#pragma once
// The pool of KV-cache block metadata (vLLM v1's BlockPool). It knows nothing of tensors: a block
// id indexes memory that the backend owns.
//
// Every block is in one of three states:
//   free        ref_count == 0, no hash: its contents are garbage; in the free queue.
//   cached      ref_count == 0, hashed: a full block whose contents a later prompt with the same
//               prefix may reuse; in the free queue (evictable) and in the hash index.
//   active      ref_count > 0: held by that many sequences; hashed or not; not in the queue.
//
// The free queue is a doubly-linked list threaded through the blocks (prev_free/next_free ids),
// so a cached block hit by a prefix match leaves it in O(1). Allocation takes the front; a block
// losing its last reference goes to the front if it was never hashed (reused first: nothing to
// lose) and to the back if it is hashed (kept longest), so cached blocks are evicted in LRU order.

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/block_hash.h"
#include "engine/block_hash_index.h"
#include "engine/kv_snapshot.h"

namespace kvscope {

inline constexpr std::int32_t kNoBlock = -1;

struct KvBlock {
    std::int32_t id = kNoBlock;
    std::int32_t ref_count = 0;         // number of sequences whose block table holds this block
    std::optional<BlockHash> hash;      // set while this block is the canonical holder of a full block's content
    std::int32_t prev_free = kNoBlock;  // free-queue neighbours; kNoBlock at the ends and when not queued
    std::int32_t next_free = kNoBlock;
    std::int32_t num_tokens = 0;      // filled slots, 0..block_size (a hashed block is full)
    std::int64_t last_used_step = 0;  // step of the last allocate, hit, write or release
};

inline bool is_free(const KvBlock& block) {
    return block.ref_count == 0 && !block.hash;
}
inline bool is_cached(const KvBlock& block) {
    return block.ref_count == 0 && block.hash.has_value();
}
inline bool is_active(const KvBlock& block) {
    return block.ref_count > 0;
}

class BlockPool {
public:
    // All blocks start free, queued in id order (block 0 is allocated first).
    BlockPool(std::int32_t num_blocks, std::int32_t block_size);

    // free or cached -> active (ref_count = 1). Takes the front of the free queue; a cached block
    // taken here is evicted (its hash leaves the index). Requires num_free_blocks() > 0.
    std::int32_t allocate();

    // cached -> active (ref_count = 1), leaving the free queue in O(1): a prefix hit.
    // active -> active (ref_count + 1): one more sequence shares the block (a hit or a fork).
    void acquire(std::int32_t id);

    // active -> active (ref_count - 1) while other sequences hold it. On the last reference:
    // active -> cached (hashed: back of the free queue) or active -> free (front of the queue).
    void release(std::int32_t id);

    // active, unhashed, full -> active, hashed: registers the block as the canonical holder of
    // `hash`. Returns false and changes nothing when another block already holds `hash` (the
    // block stays unhashed; its holder keeps using it, as vLLM keeps block tables append-only).
    bool cache(std::int32_t id, const BlockHash& hash);

    // The canonical block (active or cached) holding `hash`.
    std::optional<std::int32_t> find_cached(const BlockHash& hash) const { return index_.find(hash); }

    // active -> active: the number of filled slots (what the sequences holding it have written).
    void set_num_tokens(std::int32_t id, std::int32_t num_tokens);

    // cached -> free for every cached block, and the index is emptied. Only when no block is
    // active (vLLM): returns false and changes nothing otherwise. The queue order is kept.
    bool reset_prefix_cache();

    // The step stamped into last_used_step from now on.
    void set_step(std::int64_t step) { step_ = step; }
    std::int64_t step() const { return step_; }

    const KvBlock& block(std::int32_t id) const;
    const std::vector<KvBlock>& blocks() const { return blocks_; }
    std::int32_t num_blocks() const { return static_cast<std::int32_t>(blocks_.size()); }
    std::int32_t block_size() const { return block_size_; }

    std::int32_t num_free_blocks() const { return num_queued_; }  // free + cached: what allocate() can take
    std::int32_t num_cached_free_blocks() const { return num_cached_free_; }
    std::int32_t num_active_blocks() const { return num_blocks() - num_queued_; }
    std::int32_t num_shared_blocks() const { return num_shared_; }       // ref_count > 1
    std::int64_t num_sharing_refs() const { return num_sharing_refs_; }  // sum of ref_count - 1
    std::int64_t num_filled_slots() const { return num_filled_slots_; }  // over active blocks
    std::int32_t num_hashed_blocks() const { return index_.size(); }     // active or cached

    // Snapshots share what did not change (KvBlockList): every change to a block, its owners
    // included (they change with its ref count), bumps the version of its chunk of
    // KvBlockList::kBlocksPerChunk ids. `id` tells this pool's versions from another's.
    std::uint64_t id() const { return id_; }
    std::int32_t num_chunks() const { return static_cast<std::int32_t>(chunk_versions_.size()); }
    std::uint64_t chunk_version(std::int32_t chunk) const { return chunk_versions_[static_cast<std::size_t>(chunk)]; }

    // The free queue, front (allocated or evicted next) to back.
    std::int32_t free_head() const { return head_; }
    std::int32_t free_tail() const { return tail_; }
    std::vector<std::int32_t> free_queue() const;  // walks the list: for tests and snapshots

private:
    KvBlock& at(std::int32_t id);           // for a change: bumps the block's chunk version
    KvBlock& queue_links(std::int32_t id);  // for prev_free / next_free only: no snapshot shows them
    void push_front(std::int32_t id);
    void push_back(std::int32_t id);
    void unlink(std::int32_t id);

    std::vector<KvBlock> blocks_;
    std::vector<std::uint64_t> chunk_versions_;  // per KvBlockList::kBlocksPerChunk blocks
    std::uint64_t id_;
    BlockHashIndex index_;
    std::int32_t block_size_;
    std::int32_t head_ = kNoBlock;
    std::int32_t tail_ = kNoBlock;
    std::int32_t num_queued_ = 0;
    std::int32_t num_cached_free_ = 0;
    std::int32_t num_shared_ = 0;
    std::int64_t num_sharing_refs_ = 0;
    std::int64_t num_filled_slots_ = 0;
    std::int64_t step_ = 0;
};

}  // namespace kvscope
