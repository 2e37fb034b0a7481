#include "engine/block_pool.h"

#include <atomic>

#include "kernels/check.h"

namespace kvscope {

namespace {
std::atomic<std::uint64_t> last_pool_id{0};
}

BlockPool::BlockPool(std::int32_t num_blocks, std::int32_t block_size)
    : id_(++last_pool_id), index_(num_blocks), block_size_(block_size) {
    KV_CHECK(num_blocks > 0);
    KV_CHECK(block_size > 0);
    blocks_.resize(static_cast<std::size_t>(num_blocks));
    chunk_versions_.assign(static_cast<std::size_t>((num_blocks - 1) / KvBlockList::kBlocksPerChunk + 1), 0);
    for (std::int32_t id = 0; id < num_blocks; ++id) {
        blocks_[id].id = id;
        push_back(id);
    }
}

KvBlock& BlockPool::at(std::int32_t id) {
    KV_CHECK(id >= 0 && id < num_blocks());
    ++chunk_versions_[static_cast<std::size_t>(id / KvBlockList::kBlocksPerChunk)];
    return blocks_[static_cast<std::size_t>(id)];
}

KvBlock& BlockPool::queue_links(std::int32_t id) {
    KV_CHECK(id >= 0 && id < num_blocks());
    return blocks_[static_cast<std::size_t>(id)];
}

const KvBlock& BlockPool::block(std::int32_t id) const {
    KV_CHECK(id >= 0 && id < num_blocks());
    return blocks_[static_cast<std::size_t>(id)];
}

// ---- the free queue ----

void BlockPool::push_front(std::int32_t id) {
    KvBlock& block = queue_links(id);
    block.prev_free = kNoBlock;
    block.next_free = head_;
    if (head_ != kNoBlock) queue_links(head_).prev_free = id;
    head_ = id;
    if (tail_ == kNoBlock) tail_ = id;
    ++num_queued_;
}

void BlockPool::push_back(std::int32_t id) {
    KvBlock& block = queue_links(id);
    block.next_free = kNoBlock;
    block.prev_free = tail_;
    if (tail_ != kNoBlock) queue_links(tail_).next_free = id;
    tail_ = id;
    if (head_ == kNoBlock) head_ = id;
    ++num_queued_;
}

void BlockPool::unlink(std::int32_t id) {
    KvBlock& block = queue_links(id);
    if (block.prev_free != kNoBlock) {
        queue_links(block.prev_free).next_free = block.next_free;
    } else {
        KV_CHECK(head_ == id);
        head_ = block.next_free;
    }
    if (block.next_free != kNoBlock) {
        queue_links(block.next_free).prev_free = block.prev_free;
    } else {
        KV_CHECK(tail_ == id);
        tail_ = block.prev_free;
    }
    block.prev_free = kNoBlock;
    block.next_free = kNoBlock;
    --num_queued_;
}

std::vector<std::int32_t> BlockPool::free_queue() const {
    std::vector<std::int32_t> order;
    order.reserve(static_cast<std::size_t>(num_queued_));
    for (std::int32_t id = head_; id != kNoBlock; id = block(id).next_free) order.push_back(id);
    return order;
}

// ---- state transitions ----

// free or cached -> active (ref_count = 1)
std::int32_t BlockPool::allocate() {
    KV_CHECK_MSG(head_ != kNoBlock, "allocate() on an exhausted pool: check num_free_blocks() first");
    const std::int32_t id = head_;
    KvBlock& block = at(id);
    KV_CHECK(block.ref_count == 0);
    unlink(id);
    if (block.hash) {  // evict: the content is about to be overwritten
        KV_CHECK(index_.erase(*block.hash));
        block.hash.reset();
        --num_cached_free_;
    }
    block.ref_count = 1;
    block.num_tokens = 0;
    block.last_used_step = step_;
    KV_CHECK(is_active(block) && !block.hash);
    return id;
}

// cached -> active (ref_count = 1), or active -> active (ref_count + 1)
void BlockPool::acquire(std::int32_t id) {
    KvBlock& block = at(id);
    KV_CHECK_MSG(!is_free(block), "a free block holds no reusable content");
    if (is_cached(block)) {
        unlink(id);
        --num_cached_free_;
        num_filled_slots_ += block.num_tokens;
    } else {
        if (block.ref_count == 1) ++num_shared_;
        ++num_sharing_refs_;
    }
    ++block.ref_count;
    block.last_used_step = step_;
    KV_CHECK(is_active(block));
}

// active -> active (ref_count - 1), or the last reference: active -> cached (back) or free (front)
void BlockPool::release(std::int32_t id) {
    KvBlock& block = at(id);
    KV_CHECK_MSG(is_active(block), "release of a block that no sequence holds");
    --block.ref_count;
    block.last_used_step = step_;
    if (block.ref_count > 0) {
        if (block.ref_count == 1) --num_shared_;
        --num_sharing_refs_;
        return;
    }
    num_filled_slots_ -= block.num_tokens;
    if (block.hash) {
        push_back(id);
        ++num_cached_free_;
        KV_CHECK(is_cached(block));
    } else {
        block.num_tokens = 0;
        push_front(id);
        KV_CHECK(is_free(block));
    }
}

// active, unhashed, full -> active, hashed (unless another block already holds the hash)
bool BlockPool::cache(std::int32_t id, const BlockHash& hash) {
    KvBlock& block = at(id);
    KV_CHECK(is_active(block));
    KV_CHECK_MSG(!block.hash, "a block is hashed once");
    KV_CHECK_MSG(block.num_tokens == block_size_, "only full blocks are hashed");
    if (!index_.insert(hash, id)) return false;
    block.hash = hash;
    return true;
}

// active -> active: filled slots
void BlockPool::set_num_tokens(std::int32_t id, std::int32_t num_tokens) {
    KvBlock& block = at(id);
    KV_CHECK(is_active(block));
    KV_CHECK_MSG(!block.hash, "a hashed block is full and never written again");
    KV_CHECK(num_tokens >= 0 && num_tokens <= block_size_);
    num_filled_slots_ += num_tokens - block.num_tokens;
    block.num_tokens = num_tokens;
    block.last_used_step = step_;
}

// cached -> free for all cached blocks; only when no block is active
bool BlockPool::reset_prefix_cache() {
    if (num_active_blocks() != 0) return false;
    for (std::uint64_t& version : chunk_versions_) ++version;
    for (KvBlock& block : blocks_) {
        block.hash.reset();
        block.num_tokens = 0;
        KV_CHECK(is_free(block));
    }
    index_.clear();
    num_cached_free_ = 0;
    return true;
}

}  // namespace kvscope
