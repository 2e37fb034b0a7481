#pragma once
// The prefix-cache index: block hash -> id of the one canonical block holding that content.
//
// Open addressing with linear probing and backward-shift deletion, sized once for the most
// entries it can hold (one per block), so lookups, inserts and erases never allocate.

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/block_hash.h"

namespace kvscope {

class BlockHashIndex {
public:
    explicit BlockHashIndex(std::int32_t max_entries);

    std::optional<std::int32_t> find(const BlockHash& hash) const;
    // Adds hash -> block_id. Returns false (and changes nothing) if `hash` is already present.
    bool insert(const BlockHash& hash, std::int32_t block_id);
    // Removes `hash`. Returns false if it was not present.
    bool erase(const BlockHash& hash);
    void clear();

    std::int32_t size() const { return size_; }
    std::int32_t max_entries() const { return max_entries_; }

private:
    struct Slot {
        BlockHash hash;
        std::int32_t block_id = -1;  // -1: empty
    };

    std::size_t home(const BlockHash& hash) const { return static_cast<std::size_t>(hash.lo) & mask_; }
    // The slot holding `hash`, or the empty slot that ends its probe run.
    std::size_t probe(const BlockHash& hash) const;

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::int32_t size_ = 0;
    std::int32_t max_entries_ = 0;
};

}  // namespace kvscope
