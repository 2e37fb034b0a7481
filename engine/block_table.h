#pragma once
// One sequence's block table: logical block i -> physical block id. Token position p lives in
// slot block_id(p / block_size) * block_size + p % block_size of the backend's KV memory.
//
// A table holds one reference on each of its blocks (taken by the caller through the pool when
// the block is appended, or by share()), and gives them back with release_all().

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/block_pool.h"
#include "kernels/block_copy.h"

namespace kvscope {

class BlockTable {
public:
    explicit BlockTable(std::int32_t block_size);

    std::int32_t block_size() const { return block_size_; }
    std::int32_t num_blocks() const { return static_cast<std::int32_t>(block_ids_.size()); }
    std::int32_t num_slots() const { return num_blocks() * block_size_; }
    std::span<const std::int32_t> block_ids() const { return block_ids_; }
    std::int32_t block_id(std::int32_t logical_index) const;
    // The KV slot of token `position` (which must lie in one of the table's blocks).
    std::int64_t slot(std::int32_t position) const;

    // Appends a block whose reference the caller has just taken (BlockPool::allocate / acquire).
    void append(std::int32_t block_id);

    // Copy-on-write, before this sequence writes into logical block `logical_index`. If the block
    // is shared (ref_count > 1): allocates a new block (pool.num_free_blocks() must be > 0), gives
    // it the shared block's fill level, puts it in the table and drops this table's reference on
    // the shared block, which the other holders keep. Returns the copy src -> dst the backend must
    // do, or nullopt when there is nothing to copy (the block was not shared, or it had no
    // filled slot yet).
    std::optional<BlockCopy> ensure_writable(std::int32_t logical_index, BlockPool& pool);

    // A table holding the same blocks, with one more reference on each (fork for n > 1 sampling).
    BlockTable share(BlockPool& pool) const;

    // Releases every block, the last logical block first (so that a sequence's tail is evicted
    // before its head, which other prompts are likelier to share), and empties the table.
    void release_all(BlockPool& pool);

private:
    std::int32_t block_size_;
    std::vector<std::int32_t> block_ids_;
};

}  // namespace kvscope
