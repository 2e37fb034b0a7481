#include "engine/block_hash.h"

#include "kernels/check.h"

namespace kvscope {
namespace {

// Two different bijective 64-bit finalisers (xor-shift-multiply), one per lane. Absorbing a word
// as acc = mix(acc ^ word) is a bijection in acc for a fixed word and in the word for a fixed
// acc, so two inputs that first differ at some word differ in acc right after it.
std::uint64_t mix_a(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

std::uint64_t mix_b(std::uint64_t x) {
    x ^= x >> 27;
    x *= 0x3c79ac492ba7b653ULL;
    x ^= x >> 33;
    x *= 0x1c69b3f74ac4ae35ULL;
    x ^= x >> 27;
    return x;
}

std::uint64_t rotl(std::uint64_t x, int r) {
    return (x << r) | (x >> (64 - r));
}

struct TwoLanes {
    std::uint64_t a = 0x243f6a8885a308d3ULL;  // digits of pi: arbitrary, distinct seeds
    std::uint64_t b = 0x13198a2e03707344ULL;

    void absorb(std::uint64_t word) {
        a = mix_a(a ^ word);
        b = mix_b(rotl(b, 23) ^ (word * 0x9e3779b97f4a7c15ULL));  // odd multiplier: still a bijection
    }
};

}  // namespace

BlockHash hash_block(const std::optional<BlockHash>& parent, std::span<const std::int32_t> tokens,
                     std::uint64_t extra_key) {
    TwoLanes lanes;
    // A tag word separates "no parent" from every possible parent value.
    lanes.absorb(parent ? 0x70617265ULL : 0x726f6f74ULL);
    if (parent) {
        lanes.absorb(parent->hi);
        lanes.absorb(parent->lo);
    }
    lanes.absorb(extra_key);
    lanes.absorb(tokens.size());
    // Two 32-bit token ids per word; an odd last one is padded with zero (the length is absorbed).
    std::size_t i = 0;
    for (; i + 1 < tokens.size(); i += 2) {
        lanes.absorb(static_cast<std::uint32_t>(tokens[i]) |
                     (static_cast<std::uint64_t>(static_cast<std::uint32_t>(tokens[i + 1])) << 32));
    }
    if (i < tokens.size()) lanes.absorb(static_cast<std::uint32_t>(tokens[i]));
    return BlockHash{mix_a(lanes.a ^ 0x6a09e667f3bcc908ULL), mix_b(lanes.b ^ 0xbb67ae8584caa73bULL)};
}

void hash_full_blocks(std::span<const std::int32_t> tokens, std::int32_t block_size, std::uint64_t extra_key,
                      std::int32_t max_blocks, std::vector<BlockHash>& out) {
    KV_CHECK(block_size > 0);
    const std::size_t num_full = tokens.size() / static_cast<std::size_t>(block_size);
    const std::size_t limit = max_blocks < 0 ? 0 : static_cast<std::size_t>(max_blocks);
    std::optional<BlockHash> parent;
    for (std::size_t i = 0; i < num_full && i < limit; ++i) {
        const BlockHash h = hash_block(parent, tokens.subspan(i * block_size, block_size), extra_key);
        out.push_back(h);
        parent = h;
    }
}

}  // namespace kvscope
