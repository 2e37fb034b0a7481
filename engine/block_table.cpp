#include "engine/block_table.h"

#include "kernels/check.h"

namespace kvscope {

BlockTable::BlockTable(std::int32_t block_size) : block_size_(block_size) {
    KV_CHECK(block_size > 0);
}

std::int32_t BlockTable::block_id(std::int32_t logical_index) const {
    KV_CHECK(logical_index >= 0 && logical_index < num_blocks());
    return block_ids_[static_cast<std::size_t>(logical_index)];
}

std::int64_t BlockTable::slot(std::int32_t position) const {
    KV_CHECK(position >= 0 && position < num_slots());
    return static_cast<std::int64_t>(block_id(position / block_size_)) * block_size_ + position % block_size_;
}

void BlockTable::append(std::int32_t block_id) {
    KV_CHECK(block_id >= 0);
    block_ids_.push_back(block_id);
}

std::optional<BlockCopy> BlockTable::ensure_writable(std::int32_t logical_index, BlockPool& pool) {
    const std::int32_t shared_id = block_id(logical_index);
    const KvBlock& shared = pool.block(shared_id);
    KV_CHECK(is_active(shared));
    if (shared.ref_count == 1) return std::nullopt;  // exclusively ours: write in place

    KV_CHECK_MSG(!shared.hash, "a hashed block is full and never written");
    const std::int32_t num_tokens = shared.num_tokens;
    const std::int32_t own_id = pool.allocate();
    pool.set_num_tokens(own_id, num_tokens);
    pool.release(shared_id);  // the other holders keep it
    block_ids_[static_cast<std::size_t>(logical_index)] = own_id;
    KV_CHECK(pool.block(own_id).ref_count == 1 && is_active(pool.block(shared_id)));
    if (num_tokens == 0) return std::nullopt;
    return BlockCopy{shared_id, own_id};
}

BlockTable BlockTable::share(BlockPool& pool) const {
    BlockTable copy(block_size_);
    copy.block_ids_ = block_ids_;
    for (const std::int32_t id : block_ids_) pool.acquire(id);
    return copy;
}

void BlockTable::release_all(BlockPool& pool) {
    for (auto it = block_ids_.rbegin(); it != block_ids_.rend(); ++it) pool.release(*it);
    block_ids_.clear();
}

}  // namespace kvscope
