#include "engine/block_hash_index.h"

#include "kernels/check.h"

namespace kvscope {

BlockHashIndex::BlockHashIndex(std::int32_t max_entries) : max_entries_(max_entries) {
    KV_CHECK(max_entries >= 0);
    // At most half full, so probe runs stay short.
    std::size_t capacity = 8;
    while (capacity < 2 * static_cast<std::size_t>(max_entries)) capacity *= 2;
    slots_.resize(capacity);
    mask_ = capacity - 1;
}

std::size_t BlockHashIndex::probe(const BlockHash& hash) const {
    std::size_t i = home(hash);
    while (slots_[i].block_id >= 0 && !(slots_[i].hash == hash)) i = (i + 1) & mask_;
    return i;
}

std::optional<std::int32_t> BlockHashIndex::find(const BlockHash& hash) const {
    const Slot& slot = slots_[probe(hash)];
    if (slot.block_id < 0) return std::nullopt;
    return slot.block_id;
}

bool BlockHashIndex::insert(const BlockHash& hash, std::int32_t block_id) {
    KV_CHECK(block_id >= 0);
    Slot& slot = slots_[probe(hash)];
    if (slot.block_id >= 0) return false;
    KV_CHECK_MSG(size_ < max_entries_, "more cached blocks than blocks");
    slot = Slot{hash, block_id};
    ++size_;
    return true;
}

bool BlockHashIndex::erase(const BlockHash& hash) {
    std::size_t hole = probe(hash);
    if (slots_[hole].block_id < 0) return false;
    // Backward-shift deletion: pull later entries of the run into the hole when their home
    // position does not lie cyclically in (hole, j], so every entry stays reachable from home.
    std::size_t j = hole;
    while (true) {
        j = (j + 1) & mask_;
        if (slots_[j].block_id < 0) break;
        const std::size_t k = home(slots_[j].hash);
        const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
        if (stays) continue;
        slots_[hole] = slots_[j];
        hole = j;
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
}

void BlockHashIndex::clear() {
    for (Slot& slot : slots_) slot = Slot{};
    size_ = 0;
}

}  // namespace kvscope
