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

std::span<const SeqId> KvSnapshot::owners(std::int32_t block_id) const {
    KV_CHECK(block_id >= 0 && static_cast<std::size_t>(block_id) + 1 < owner_offsets.size());
    const auto begin = static_cast<std::size_t>(owner_offsets[block_id]);
    const auto end = static_cast<std::size_t>(owner_offsets[block_id + 1]);
    return std::span<const SeqId>(owner_ids).subspan(begin, end - begin);
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
