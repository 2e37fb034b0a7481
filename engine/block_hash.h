#pragma once
// Content hashes of full KV blocks, for prefix caching (vLLM's chained block hash).
//
// The hash of block i of a sequence covers (hash of block i-1, the block's token ids, an extra
// key such as a model or adapter id), so equal hashes mean equal whole prefixes, not merely equal
// blocks. Only full blocks are hashed: a partial block's contents are still changing.
//
// The hash is 128 bits from two independent 64-bit mixing chains. It is strong against accidental
// collisions (about 2^-128 per pair), not against an adversary who crafts prompts to collide.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace kvscope {

struct BlockHash {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;

    friend bool operator==(const BlockHash&, const BlockHash&) = default;
};

// The hash of one full block: `parent` is the hash of the previous block of the same sequence
// (nullopt for the first block), `tokens` the block's token ids (exactly block_size of them).
BlockHash hash_block(const std::optional<BlockHash>& parent, std::span<const std::int32_t> tokens,
                     std::uint64_t extra_key);

// Appends to `out` the chained hashes of the first `max_blocks` full blocks of `tokens` (fewer if
// `tokens` holds fewer full blocks). A trailing partial block is never hashed.
void hash_full_blocks(std::span<const std::int32_t> tokens, std::int32_t block_size, std::uint64_t extra_key,
                      std::int32_t max_blocks, std::vector<BlockHash>& out);

}  // namespace kvscope
