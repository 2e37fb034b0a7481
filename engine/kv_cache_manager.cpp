#include "engine/kv_cache_manager.h"

#include <algorithm>
#include <string>

#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope {
namespace {

const KvCacheConfig& validated(const KvCacheConfig& config) {
    const std::vector<std::string> problems = config.validate();
    if (problems.empty()) return config;
    std::string message = problems.front();
    for (std::size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
    throw ConfigError(message);
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
    return (a + b - 1) / b;
}

}  // namespace

KvCacheManager::KvCacheManager(const KvCacheConfig& config)
    : config_(validated(config)), pool_(config_.num_blocks, config_.block_size) {
    for (std::int32_t id = config_.num_swap_blocks - 1; id >= 0; --id) free_swap_blocks_.push_back(id);
}

KvCacheManager::Sequence& KvCacheManager::sequence(SeqId seq) {
    const auto it = seqs_.find(seq);
    KV_CHECK_MSG(it != seqs_.end(), "unknown sequence id");
    return it->second;
}

const KvCacheManager::Sequence& KvCacheManager::sequence(SeqId seq) const {
    const auto it = seqs_.find(seq);
    KV_CHECK_MSG(it != seqs_.end(), "unknown sequence id");
    return it->second;
}

const BlockTable& KvCacheManager::block_table(SeqId seq) const {
    return sequence(seq).table;
}

std::int32_t KvCacheManager::num_computed_tokens(SeqId seq) const {
    return sequence(seq).num_computed_tokens;
}

void KvCacheManager::advance_step() {
    pool_.set_step(pool_.step() + 1);
}

// ---- prefix cache lookup ----

PrefixMatch KvCacheManager::find_cached_prefix(std::span<const std::int32_t> tokens, std::uint64_t extra_key) const {
    PrefixMatch match;
    match.extra_key = extra_key;
    if (!config_.enable_prefix_caching || tokens.empty()) return match;
    match.num_query_tokens = static_cast<std::int32_t>(tokens.size());

    // The last token is always computed, so the hit covers at most (len - 1) / block_size blocks.
    const std::int32_t block_size = config_.block_size;
    const auto max_blocks = static_cast<std::int32_t>((tokens.size() - 1) / static_cast<std::size_t>(block_size));
    std::optional<BlockHash> parent;
    for (std::int32_t i = 0; i < max_blocks; ++i) {
        const BlockHash hash =
            hash_block(parent, tokens.subspan(static_cast<std::size_t>(i) * block_size, block_size), extra_key);
        const std::optional<std::int32_t> id = pool_.find_cached(hash);
        if (!id) break;
        match.block_ids.push_back(*id);
        match.block_hashes.push_back(hash);
        parent = hash;
    }
    match.num_cached_tokens = static_cast<std::int32_t>(match.block_ids.size()) * block_size;
    return match;
}

void KvCacheManager::check_match_is_current(const PrefixMatch& match) const {
    KV_CHECK(match.block_ids.size() == match.block_hashes.size());
    KV_CHECK(match.num_cached_tokens == static_cast<std::int32_t>(match.block_ids.size()) * config_.block_size);
    for (std::size_t i = 0; i < match.block_ids.size(); ++i) {
        const std::optional<std::int32_t> id = pool_.find_cached(match.block_hashes[i]);
        KV_CHECK_MSG(id && *id == match.block_ids[i], "stale PrefixMatch: a block was evicted since the lookup");
    }
}

// ---- allocation ----

std::optional<AllocResult> KvCacheManager::allocate_slots(SeqId seq_id, std::int32_t num_new_tokens,
                                                          const PrefixMatch* match) {
    KV_CHECK(num_new_tokens >= 0);
    const std::int32_t block_size = config_.block_size;
    auto it = seqs_.find(seq_id);
    const bool is_new = it == seqs_.end();
    KV_CHECK_MSG(is_new || match == nullptr, "a prefix match is only taken by a sequence's first allocation");
    KV_CHECK_MSG(is_new || !it->second.swapped, "allocate_slots on a swapped-out sequence");
    if (match) check_match_is_current(*match);

    // What the sequence will hold: its blocks (or the match's), and enough for the new tokens.
    const auto num_hit_blocks = static_cast<std::int32_t>(match ? match->block_ids.size() : 0);
    const std::int32_t num_computed = is_new ? num_hit_blocks * block_size : it->second.num_computed_tokens;
    const std::int32_t num_held = is_new ? num_hit_blocks : it->second.table.num_blocks();
    const std::int64_t num_required = ceil_div(std::int64_t{num_computed} + num_new_tokens, block_size);
    const std::int64_t num_new_blocks = std::max<std::int64_t>(0, num_required - num_held);

    // Blocks the step writes into that are shared need a copy (a new block each). A new
    // sequence writes only past its hit, into blocks it allocates now.
    const std::int32_t first_written = num_computed / block_size;
    const auto last_held_written = static_cast<std::int32_t>(std::min<std::int64_t>(num_held, num_required));
    std::int32_t num_copies = 0;
    if (!is_new && num_new_tokens > 0) {
        const BlockTable& table = it->second.table;
        for (std::int32_t i = first_written; i < last_held_written; ++i) {
            if (pool_.block(table.block_id(i)).ref_count > 1) ++num_copies;
        }
    }

    // Cached blocks the match takes leave the free queue: they no longer count as free.
    std::int32_t num_hits_from_queue = 0;
    for (std::int32_t i = 0; i < num_hit_blocks; ++i) {
        if (is_cached(pool_.block(match->block_ids[i]))) ++num_hits_from_queue;
    }
    if (num_new_blocks + num_copies > pool_.num_free_blocks() - num_hits_from_queue) return std::nullopt;

    // Enough: from here on nothing fails.
    AllocResult result;
    if (is_new) {
        it = seqs_.emplace(seq_id, Sequence{BlockTable(block_size), {}, match ? match->extra_key : 0, 0, {}, false})
                 .first;
        Sequence& seq = it->second;
        for (std::int32_t i = 0; i < num_hit_blocks; ++i) {
            pool_.acquire(match->block_ids[i]);
            seq.table.append(match->block_ids[i]);
        }
        if (match) {
            seq.block_hashes = match->block_hashes;
            seq.num_computed_tokens = match->num_cached_tokens;
            result.num_cached_tokens = match->num_cached_tokens;
            if (match->num_query_tokens > 0) {
                ++num_prefix_requests_;
                num_prefix_query_tokens_ += match->num_query_tokens;
                num_prefix_hit_tokens_ += match->num_cached_tokens;
            }
        }
    }
    Sequence& seq = it->second;
    if (num_copies > 0) {
        for (std::int32_t i = first_written; i < last_held_written; ++i) {
            if (const std::optional<BlockCopy> copy = seq.table.ensure_writable(i, pool_))
                result.copies.push_back(*copy);
        }
    }
    for (std::int64_t i = 0; i < num_new_blocks; ++i) seq.table.append(pool_.allocate());

    result.num_computed_tokens = seq.num_computed_tokens;
    result.num_new_blocks = static_cast<std::int32_t>(num_new_blocks);
    KV_CHECK(seq.table.num_blocks() >= num_required);
    return result;
}

// ---- after a step ----

void KvCacheManager::commit(SeqId seq_id, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) {
    Sequence& seq = sequence(seq_id);
    const std::int32_t block_size = config_.block_size;
    KV_CHECK_MSG(!seq.swapped, "commit on a swapped-out sequence");
    KV_CHECK_MSG(num_computed_tokens >= seq.num_computed_tokens, "computed tokens never go back");
    KV_CHECK_MSG(num_computed_tokens <= seq.table.num_slots(), "commit beyond the allocated slots");
    KV_CHECK(token_ids.size() >= static_cast<std::size_t>(num_computed_tokens));

    // Fill levels of the blocks written since the last commit (exclusively ours: allocate_slots
    // copied any shared one).
    const std::int32_t first = seq.num_computed_tokens / block_size;
    const auto end = static_cast<std::int32_t>(ceil_div(num_computed_tokens, block_size));
    for (std::int32_t i = first; i < end && num_computed_tokens > seq.num_computed_tokens; ++i) {
        const std::int32_t id = seq.table.block_id(i);
        KV_CHECK_MSG(pool_.block(id).ref_count == 1, "a shared block was written: fork between allocate and commit?");
        pool_.set_num_tokens(id, std::min(block_size, num_computed_tokens - i * block_size));
    }
    seq.num_computed_tokens = num_computed_tokens;
    if (config_.enable_prefix_caching) hash_new_full_blocks(seq, token_ids);
}

void KvCacheManager::hash_new_full_blocks(Sequence& seq, std::span<const std::int32_t> token_ids) {
    const std::int32_t block_size = config_.block_size;
    const std::int32_t num_full = seq.num_computed_tokens / block_size;
    for (auto i = static_cast<std::int32_t>(seq.block_hashes.size()); i < num_full; ++i) {
        std::optional<BlockHash> parent;
        if (i > 0) parent = seq.block_hashes[static_cast<std::size_t>(i) - 1];
        const BlockHash hash =
            hash_block(parent, token_ids.subspan(static_cast<std::size_t>(i) * block_size, block_size), seq.extra_key);
        seq.block_hashes.push_back(hash);
        const std::int32_t id = seq.table.block_id(i);
        const std::optional<BlockHash>& held = pool_.block(id).hash;
        if (held) {
            KV_CHECK_MSG(*held == hash, "a block holds another chain's hash");
        } else {
            pool_.cache(id, hash);  // false: a duplicate of a cached block, stays unhashed
        }
    }
}

// ---- fork, free, reset ----

void KvCacheManager::fork(SeqId parent_id, SeqId child_id) {
    KV_CHECK_MSG(!seqs_.contains(child_id), "fork into an existing sequence id");
    const Sequence& parent = sequence(parent_id);
    KV_CHECK_MSG(!parent.swapped, "fork of a swapped-out sequence");
    Sequence child{
        parent.table.share(pool_), parent.block_hashes, parent.extra_key, parent.num_computed_tokens, {}, false};
    seqs_.emplace(child_id, std::move(child));
}

bool KvCacheManager::free(SeqId seq_id) {
    const auto it = seqs_.find(seq_id);
    if (it == seqs_.end()) return false;
    it->second.table.release_all(pool_);
    for (const std::int32_t id : it->second.swap_blocks) free_swap_blocks_.push_back(id);
    seqs_.erase(it);
    return true;
}

// ---- preemption by swap ----

std::optional<std::vector<BlockCopy>> KvCacheManager::swap_out(SeqId seq_id, std::span<const BlockCopy> pending) {
    Sequence& seq = sequence(seq_id);
    KV_CHECK_MSG(!seq.swapped, "swap_out of a sequence already swapped out");
    // Only the blocks that hold computed tokens carry anything worth keeping.
    const auto num_kept = static_cast<std::int32_t>(ceil_div(seq.num_computed_tokens, config_.block_size));
    KV_CHECK(num_kept <= seq.table.num_blocks());
    if (num_kept > num_free_swap_blocks()) return std::nullopt;

    std::vector<BlockCopy> copies;
    for (std::int32_t i = 0; i < num_kept; ++i) {
        std::int32_t src = seq.table.block_id(i);
        for (const BlockCopy& c : pending) {
            if (c.dst == src) src = c.src;  // copy-on-write planned, not done: its source holds the data
        }
        const std::int32_t dst = free_swap_blocks_.back();
        free_swap_blocks_.pop_back();
        seq.swap_blocks.push_back(dst);
        copies.push_back(BlockCopy{src, dst});
    }
    seq.table.release_all(pool_);
    seq.swapped = true;
    return copies;
}

std::optional<std::vector<BlockCopy>> KvCacheManager::swap_in(SeqId seq_id) {
    Sequence& seq = sequence(seq_id);
    KV_CHECK_MSG(seq.swapped, "swap_in of a sequence that is not swapped out");
    const auto num_blocks = static_cast<std::int32_t>(seq.swap_blocks.size());
    if (num_blocks > pool_.num_free_blocks()) return std::nullopt;

    std::vector<BlockCopy> copies;
    const std::int32_t block_size = config_.block_size;
    for (std::int32_t i = 0; i < num_blocks; ++i) {
        const std::int32_t id = pool_.allocate();
        seq.table.append(id);
        pool_.set_num_tokens(id, std::min(block_size, seq.num_computed_tokens - i * block_size));
        // A full block whose content no other block holds is a prefix-cache entry again.
        if (i < static_cast<std::int32_t>(seq.block_hashes.size())) pool_.cache(id, seq.block_hashes[i]);
        copies.push_back(BlockCopy{seq.swap_blocks[static_cast<std::size_t>(i)], id});
        free_swap_blocks_.push_back(seq.swap_blocks[static_cast<std::size_t>(i)]);
    }
    seq.swap_blocks.clear();
    seq.swapped = false;
    return copies;
}

bool KvCacheManager::is_swapped(SeqId seq) const {
    return sequence(seq).swapped;
}

std::int32_t KvCacheManager::num_swap_blocks(SeqId seq) const {
    return static_cast<std::int32_t>(sequence(seq).swap_blocks.size());
}

bool KvCacheManager::can_swap_in(SeqId seq, std::int32_t num_tokens) const {
    if (!is_swapped(seq)) return false;
    const std::int32_t block_size = config_.block_size;
    const std::int32_t needed = std::max(num_swap_blocks(seq), (num_tokens + block_size - 1) / block_size);
    return needed <= num_free_blocks();
}

bool KvCacheManager::reset_prefix_cache() {
    return pool_.reset_prefix_cache();
}

// ---- counters and snapshots ----

KvCacheStats KvCacheManager::stats() const {
    KvCacheStats s;
    s.block_size = config_.block_size;
    s.num_blocks = pool_.num_blocks();
    s.num_used_blocks = pool_.num_active_blocks();
    s.num_cached_free_blocks = pool_.num_cached_free_blocks();
    s.num_free_blocks = pool_.num_free_blocks() - pool_.num_cached_free_blocks();
    s.num_filled_slots = pool_.num_filled_slots();
    s.num_shared_blocks = pool_.num_shared_blocks();
    s.num_saved_blocks = pool_.num_sharing_refs();
    s.num_sequences = num_sequences();
    s.num_prefix_requests = num_prefix_requests_;
    s.num_prefix_query_tokens = num_prefix_query_tokens_;
    s.num_prefix_hit_tokens = num_prefix_hit_tokens_;
    s.step = pool_.step();
    return s;
}

KvSnapshot KvCacheManager::snapshot() const {
    KvSnapshot out;
    snapshot_into(out);
    return out;
}

void KvCacheManager::snapshot_into(KvSnapshot& out, const KvSnapshot* previous) const {
    out.stats = stats();

    // Sequences in ascending id, their tables flat.
    out.sequences.clear();
    for (const auto& [id, seq] : seqs_) {
        out.sequences.push_back(KvSequenceInfo{id, seq.num_computed_tokens, 0, seq.table.num_blocks()});
    }
    std::sort(out.sequences.begin(), out.sequences.end(),
              [](const KvSequenceInfo& a, const KvSequenceInfo& b) { return a.id < b.id; });
    out.table_block_ids.clear();
    for (KvSequenceInfo& info : out.sequences) {
        info.table_offset = static_cast<std::int32_t>(out.table_block_ids.size());
        const auto table = seqs_.at(info.id).table.block_ids();
        out.table_block_ids.insert(out.table_block_ids.end(), table.begin(), table.end());
    }

    out.blocks = snapshot_blocks(out, previous ? &previous->blocks : nullptr);

    out.free_queue.clear();
    for (std::int32_t id = pool_.free_head(); id != kNoBlock; id = pool_.block(id).next_free)
        out.free_queue.push_back(id);
}

// Blocks chunk by chunk: a chunk of `previous` taken from this pool at the chunk's current version
// is shared; the others are taken anew, with owners from the tables (each reference is one table
// entry: the ref counts give the offsets). `snap` holds the sequences and tables already.
KvBlockList KvCacheManager::snapshot_blocks(const KvSnapshot& snap, const KvBlockList* previous) const {
    constexpr std::int32_t kChunk = KvBlockList::kBlocksPerChunk;
    const std::int32_t num_blocks = pool_.num_blocks();
    const std::int32_t num_chunks = pool_.num_chunks();
    const bool reuse =
        previous && previous->pool_id() == pool_.id() && previous->size() == static_cast<std::size_t>(num_blocks);
    std::vector<std::shared_ptr<const KvBlockList::Chunk>> chunks(static_cast<std::size_t>(num_chunks));
    std::vector<KvBlockList::Chunk*> fresh(static_cast<std::size_t>(num_chunks), nullptr);  // taken anew
    for (std::int32_t c = 0; c < num_chunks; ++c) {
        const std::shared_ptr<const KvBlockList::Chunk>& old = reuse ? previous->chunks()[c] : nullptr;
        if (old && old->version == pool_.chunk_version(c)) {
            chunks[c] = old;
            continue;
        }
        auto chunk = std::make_shared<KvBlockList::Chunk>();
        chunk->version = pool_.chunk_version(c);
        const std::int32_t first = c * kChunk, n = std::min(kChunk, num_blocks - first);
        chunk->blocks.resize(static_cast<std::size_t>(n));
        chunk->owner_offsets.assign(static_cast<std::size_t>(n) + 1, 0);
        std::int32_t num_refs = 0;
        for (std::int32_t i = 0; i < n; ++i) {
            const KvBlock& block = pool_.block(first + i);
            const BlockState state =
                is_active(block) ? BlockState::Active : (is_cached(block) ? BlockState::Cached : BlockState::Free);
            chunk->blocks[i] =
                KvBlockInfo{block.id, state, block.ref_count, block.num_tokens, block.hash, block.last_used_step};
            chunk->owner_offsets[i + 1] = num_refs;  // start of i for now; the fill below moves it to i's end
            num_refs += block.ref_count;
        }
        chunk->owner_ids.resize(static_cast<std::size_t>(num_refs));
        fresh[c] = chunk.get();
        chunks[c] = std::move(chunk);
    }

    // Owners of the blocks in fresh chunks, in ascending sequence id.
    for (const KvSequenceInfo& info : snap.sequences) {
        for (const std::int32_t id : snap.block_table(info)) {
            KvBlockList::Chunk* chunk = fresh[static_cast<std::size_t>(id / kChunk)];
            if (chunk == nullptr) continue;
            std::int32_t& cursor = chunk->owner_offsets[static_cast<std::size_t>(id % kChunk) + 1];
            KV_CHECK_MSG(cursor < static_cast<std::int32_t>(chunk->owner_ids.size()),
                         "ref counts differ from the block tables");
            chunk->owner_ids[static_cast<std::size_t>(cursor++)] = info.id;
        }
    }
    for (const KvBlockList::Chunk* chunk : fresh) {
        if (chunk == nullptr) continue;
        std::int32_t end = 0;
        for (std::size_t i = 0; i < chunk->blocks.size(); ++i) {
            end += chunk->blocks[i].ref_count;
            KV_CHECK_MSG(chunk->owner_offsets[i + 1] == end, "ref counts differ from the block tables");
        }
    }
    return KvBlockList(pool_.id(), std::move(chunks));
}

}  // namespace kvscope
