#include "engine/kv_snapshot.h"

#include <algorithm>

#include "kernels/check.h"

namespace kvscope {

double KvCacheStats::fragmentation() const {
    const std::int64_t held_slots = static_cast<std::int64_t>(num_used_blocks) * block_size;
    if (held_slots == 0) return 0.0;
    return static_cast<double>(held_slots - num_filled_slots) / static_cast<double>(held_slots);
}

double KvCacheStats::prefix_hit_rate() const {
    if (num_prefix_query_tokens == 0) return 0.0;
    return static_cast<double>(num_prefix_hit_tokens) / static_cast<double>(num_prefix_query_tokens);
}

std::size_t KvBlockList::Chunk::bytes() const {
    return sizeof(Chunk) + blocks.size() * sizeof(KvBlockInfo) + owner_offsets.size() * sizeof(std::int32_t) +
           owner_ids.size() * sizeof(SeqId);
}

KvBlockList::KvBlockList(std::span<const KvBlockInfo> blocks, std::span<const std::int32_t> owner_offsets,
                         std::span<const SeqId> owner_ids)
    : size_(blocks.size()) {
    KV_CHECK(owner_offsets.empty() || owner_offsets.size() == blocks.size() + 1);
    for (std::size_t first = 0; first < blocks.size(); first += kBlocksPerChunk) {
        const std::size_t n = std::min<std::size_t>(kBlocksPerChunk, blocks.size() - first);
        auto chunk = std::make_shared<Chunk>();
        chunk->blocks.assign(blocks.begin() + first, blocks.begin() + first + n);
        chunk->owner_offsets.assign(n + 1, 0);
        if (!owner_offsets.empty()) {
            const auto begin = static_cast<std::size_t>(owner_offsets[first]);
            const auto end = static_cast<std::size_t>(owner_offsets[first + n]);
            KV_CHECK(begin <= end && end <= owner_ids.size());
            chunk->owner_ids.assign(owner_ids.begin() + begin, owner_ids.begin() + end);
            for (std::size_t i = 0; i <= n; ++i)
                chunk->owner_offsets[i] = owner_offsets[first + i] - static_cast<std::int32_t>(begin);
        }
        chunks_.push_back(std::move(chunk));
    }
}

KvBlockList::KvBlockList(std::uint64_t pool_id, std::vector<std::shared_ptr<const Chunk>> chunks)
    : pool_id_(pool_id), chunks_(std::move(chunks)) {
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
        KV_CHECK(chunks_[c]->owner_offsets.size() == chunks_[c]->blocks.size() + 1);
        KV_CHECK(c + 1 == chunks_.size() || chunks_[c]->blocks.size() == kBlocksPerChunk);
        size_ += chunks_[c]->blocks.size();
    }
}

std::size_t KvBlockList::bytes_not_in(const KvBlockList* other) const {
    std::size_t bytes = 0;
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
        const bool shared = other != nullptr && c < other->chunks_.size() && other->chunks_[c] == chunks_[c];
        if (!shared) bytes += chunks_[c]->bytes();
    }
    return bytes;
}

std::span<const SeqId> KvBlockList::owners(std::int32_t id) const {
    KV_CHECK(id >= 0 && static_cast<std::size_t>(id) < size_);
    const Chunk& chunk = *chunks_[static_cast<std::size_t>(id) / kBlocksPerChunk];
    const std::size_t i = static_cast<std::size_t>(id) % kBlocksPerChunk;
    const auto begin = static_cast<std::size_t>(chunk.owner_offsets[i]);
    const auto end = static_cast<std::size_t>(chunk.owner_offsets[i + 1]);
    return std::span<const SeqId>(chunk.owner_ids).subspan(begin, end - begin);
}

bool operator==(const KvBlockList& a, const KvBlockList& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t c = 0; c < a.chunks_.size(); ++c) {
        const KvBlockList::Chunk &x = *a.chunks_[c], &y = *b.chunks_[c];
        if (&x == &y) continue;
        if (x.blocks != y.blocks || x.owner_ids != y.owner_ids || x.owner_offsets != y.owner_offsets) return false;
    }
    return true;
}

std::span<const SeqId> KvSnapshot::owners(std::int32_t block_id) const {
    return blocks.owners(block_id);
}

std::span<const std::int32_t> KvSnapshot::block_table(const KvSequenceInfo& sequence) const {
    return std::span<const std::int32_t>(table_block_ids)
        .subspan(static_cast<std::size_t>(sequence.table_offset), static_cast<std::size_t>(sequence.num_blocks));
}

const KvSequenceInfo* KvSnapshot::find_sequence(SeqId id) const {
    const auto it = std::lower_bound(sequences.begin(), sequences.end(), id,
                                     [](const KvSequenceInfo& s, SeqId v) { return s.id < v; });
    return it != sequences.end() && it->id == id ? &*it : nullptr;
}

}  // namespace kvscope
