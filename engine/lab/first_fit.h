#pragma once
// One contiguous address space of `capacity` slots, handed out by first fit: an allocation
// takes the start of the lowest-addressed hole that is large enough, and a release merges the
// freed range with free neighbours. The gaps left between allocations are real, so a request
// can find no hole large enough while the free total would hold it (external fragmentation).

#include <cstdint>
#include <map>
#include <optional>

namespace kvscope::lab {

class FirstFitSpace {
public:
    explicit FirstFitSpace(std::int64_t capacity);

    // The offset of `size` (> 0) new slots, or nullopt when no hole holds them.
    std::optional<std::int64_t> allocate(std::int64_t size);
    // Frees the allocation that starts at `offset`.
    void release(std::int64_t offset);

    std::int64_t capacity() const { return capacity_; }
    std::int64_t free_total() const { return free_total_; }
    std::int64_t largest_hole() const;
    // Holes by offset -> size; allocations likewise (for tests and pictures).
    const std::map<std::int64_t, std::int64_t>& holes() const { return holes_; }
    const std::map<std::int64_t, std::int64_t>& allocations() const { return used_; }

private:
    std::int64_t capacity_;
    std::int64_t free_total_;
    std::map<std::int64_t, std::int64_t> holes_;
    std::map<std::int64_t, std::int64_t> used_;
};

}  // namespace kvscope::lab
