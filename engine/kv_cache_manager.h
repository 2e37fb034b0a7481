#pragma once
// The KV-cache API the scheduler uses (vLLM v1's KVCacheManager): per-sequence block tables over
// one BlockPool, prefix caching by chained block hashes, copy-on-write for forked sequences.
//
// A sequence's life:
//   match = find_cached_prefix(prompt, extra_key)           // no references taken
//   allocate_slots(seq, num_new_tokens, &match)             // first call: takes the match
//   ... the backend does AllocResult::copies, then writes KV for the step's tokens ...
//   commit(seq, all_token_ids, num_computed_tokens)         // fill levels, hash newly full blocks
//   allocate_slots(seq, 1) / commit(...) per decode step; fork(seq, child) for n > 1
//   free(seq)                                               // finished, aborted or preempted
//
// Running out of blocks is a value (allocate_slots returns nullopt and changes nothing), never an
// exception. Misuse (an unknown sequence, a stale match) is a bug and fails a KV_CHECK.

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/block_hash.h"
#include "engine/block_pool.h"
#include "engine/block_table.h"
#include "engine/kv_allocator.h"
#include "engine/kv_cache_config.h"
#include "engine/kv_snapshot.h"
#include "engine/seq_id.h"

namespace kvscope {

class KvCacheManager final : public KvSlotAllocator {
public:
    // Throws ConfigError (one line per problem) when `config` is invalid.
    explicit KvCacheManager(const KvCacheConfig& config);

    const KvCacheConfig& config() const { return config_; }

    // The longest run of cached full blocks that start `tokens`, never covering all of them: the
    // last prompt token is always computed (its logits are needed), so at most
    // (tokens.size() - 1) / block_size blocks. Takes no references; empty when caching is off.
    PrefixMatch find_cached_prefix(std::span<const std::int32_t> tokens, std::uint64_t extra_key) const override;

    // Makes `seq`'s blocks cover its computed tokens + num_new_tokens. The first call of a
    // sequence creates it; `match` (only allowed then) gives its cached prefix, whose blocks are
    // taken (ref_count + 1, leaving the free queue if they were cached) and counted as computed,
    // and its extra key (0 without a match). Before the sequence writes into a shared block,
    // that block is copied (listed in AllocResult::copies). All or nothing: when the free and
    // cached blocks (less those the match takes) do not suffice, returns nullopt and changes
    // nothing.
    std::optional<AllocResult> allocate_slots(SeqId seq, std::int32_t num_new_tokens,
                                              const PrefixMatch* match = nullptr) override;

    // After a step wrote KV for `seq` up to `num_computed_tokens` (not below the previous count):
    // records the blocks' fill levels and, with prefix caching, hashes the newly full blocks
    // into the cache. `token_ids` holds at least the sequence's first num_computed_tokens tokens.
    // A block whose content is already cached in another block stays unhashed: one canonical
    // block per hash, and this sequence keeps the block it wrote (block tables are append-only).
    void commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) override;

    // n > 1 sampling: `child` (new) shares all of `parent`'s blocks (ref_count + 1), its partly
    // filled last block included (copied on the first write of either). Call after commit.
    void fork(SeqId parent, SeqId child);

    // Releases `seq`'s blocks, last logical block first (hashed ones then join the back of the
    // free queue tail first, so a sequence's tail is evicted before its head). Returns false if
    // `seq` holds nothing.
    bool free(SeqId seq) override;

    // ---- preemption by swap (config().num_swap_blocks host blocks) ----
    // Moves `seq` out of the KV memory: each block holding its computed tokens gets a swap block
    // (returned as copies KV block -> swap block, for the backend to do before anything else of
    // the step), then its KV blocks are released as free() does and its table emptied. Its
    // computed count and block hashes stay. `pending` are this step's copy-on-write copies that
    // will no longer run: a block that is the dst of one is read from its src. All or nothing:
    // nullopt, and no change, when the swap space has too few free blocks.
    // (running -> swapped)
    std::optional<std::vector<BlockCopy>> swap_out(SeqId seq, std::span<const BlockCopy> pending = {}) override;
    // Moves a swapped `seq` back: fresh KV blocks for its swap blocks (copies swap block -> KV
    // block), fill levels restored, full blocks offered to the prefix cache again, swap blocks
    // freed. nullopt, and no change, when fewer KV blocks are free than it needs.
    // (swapped -> running)
    std::optional<std::vector<BlockCopy>> swap_in(SeqId seq) override;
    // Free blocks enough for its swap blocks and for `num_tokens` tokens in all.
    bool can_swap_in(SeqId seq, std::int32_t num_tokens) const override;
    bool is_swapped(SeqId seq) const;
    // Swap blocks `seq` holds (0 unless swapped).
    std::int32_t num_swap_blocks(SeqId seq) const;
    std::int32_t num_free_swap_blocks() const { return static_cast<std::int32_t>(free_swap_blocks_.size()); }

    // Forgets every cached block (after a weight update, or for benchmarks). Only when no block
    // is held: returns false and changes nothing otherwise.
    bool reset_prefix_cache();

    // Starts the next engine step: blocks touched from now on get this step as last_used_step.
    void advance_step() override;
    std::int64_t step() const { return pool_.step(); }

    bool contains(SeqId seq) const override { return seqs_.contains(seq); }
    const BlockTable& block_table(SeqId seq) const;
    std::int32_t num_computed_tokens(SeqId seq) const;
    std::int64_t slot(SeqId seq, std::int32_t position) const { return block_table(seq).slot(position); }
    std::int32_t num_sequences() const { return static_cast<std::int32_t>(seqs_.size()); }

    // Free + cached-free blocks: what allocations can take (vLLM's get_num_free_blocks).
    std::int32_t num_free_blocks() const { return pool_.num_free_blocks(); }
    KvCacheStats stats() const;
    const BlockPool& pool() const { return pool_; }

    KvSnapshot snapshot() const;
    // The same, reusing `out`'s buffers for the sequences, tables and free queue. With `previous`,
    // an earlier snapshot of this cache, every chunk of blocks in which nothing changed since is
    // shared with it rather than copied (KvBlockList): the cost follows what changed.
    void snapshot_into(KvSnapshot& out, const KvSnapshot* previous = nullptr) const;

private:
    KvBlockList snapshot_blocks(const KvSnapshot& snap, const KvBlockList* previous) const;

    struct Sequence {
        BlockTable table;
        std::vector<BlockHash> block_hashes;  // chained hashes of its first full computed blocks
        std::uint64_t extra_key = 0;
        std::int32_t num_computed_tokens = 0;
        std::vector<std::int32_t> swap_blocks;  // while swapped: its blocks in the swap space, in order
        bool swapped = false;
    };

    Sequence& sequence(SeqId seq);
    const Sequence& sequence(SeqId seq) const;
    // KV_CHECKs that every block of `match` still holds the hash it was found with.
    void check_match_is_current(const PrefixMatch& match) const;
    void hash_new_full_blocks(Sequence& seq, std::span<const std::int32_t> token_ids);

    KvCacheConfig config_;
    BlockPool pool_;
    std::unordered_map<SeqId, Sequence> seqs_;
    std::vector<std::int32_t> free_swap_blocks_;  // a stack: the lowest id on top
    std::int64_t num_prefix_requests_ = 0;
    std::int64_t num_prefix_query_tokens_ = 0;
    std::int64_t num_prefix_hit_tokens_ = 0;
};

}  // namespace kvscope
