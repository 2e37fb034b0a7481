#include "engine/lab/lab_result.h"

namespace kvscope::lab {

MemoryUse& MemoryUse::operator+=(const MemoryUse& o) {
    capacity += o.capacity;
    token += o.token;
    reserved += o.reserved;
    internal += o.internal;
    external += o.external;
    cached += o.cached;
    free += o.free;
    shared_saved += o.shared_saved;
    return *this;
}

double LabTotals::share(std::int64_t part) const {
    return slot_steps.capacity == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(slot_steps.capacity);
}

double LabTotals::token_share_of_used() const {
    const std::int64_t used = slot_steps.used();
    return used == 0 ? 0.0 : static_cast<double>(slot_steps.token) / static_cast<double>(used);
}

double LabTotals::mean(std::int64_t part) const {
    return num_steps == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(num_steps);
}

}  // namespace kvscope::lab
