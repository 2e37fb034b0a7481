#include "engine/lab/first_fit.h"

#include <algorithm>

#include "kernels/check.h"

namespace kvscope::lab {

FirstFitSpace::FirstFitSpace(std::int64_t capacity) : capacity_(capacity), free_total_(capacity) {
    KV_CHECK(capacity > 0);
    holes_.emplace(0, capacity);
}

std::optional<std::int64_t> FirstFitSpace::allocate(std::int64_t size) {
    KV_CHECK(size > 0);
    for (auto it = holes_.begin(); it != holes_.end(); ++it) {
        if (it->second < size) continue;
        const auto [offset, hole] = *it;
        holes_.erase(it);
        if (hole > size) holes_.emplace(offset + size, hole - size);
        used_.emplace(offset, size);
        free_total_ -= size;
        return offset;
    }
    return std::nullopt;
}

void FirstFitSpace::release(std::int64_t offset) {
    const auto it = used_.find(offset);
    KV_CHECK_MSG(it != used_.end(), "release of an offset that holds no allocation");
    std::int64_t start = offset, size = it->second;
    used_.erase(it);
    free_total_ += size;
    // Merge with the hole after, then with the hole before.
    if (const auto next = holes_.find(start + size); next != holes_.end()) {
        size += next->second;
        holes_.erase(next);
    }
    if (auto prev = holes_.lower_bound(start); prev != holes_.begin()) {
        --prev;
        if (prev->first + prev->second == start) {
            start = prev->first;
            size += prev->second;
            holes_.erase(prev);
        }
    }
    holes_.emplace(start, size);
}

std::int64_t FirstFitSpace::largest_hole() const {
    std::int64_t largest = 0;
    for (const auto& [offset, size] : holes_) largest = std::max(largest, size);
    return largest;
}

}  // namespace kvscope::lab
