#pragma once
// What the memory lab finds, as plain values: per allocator, where the KV budget was at every
// step (a time series) and the totals over the replay. A chart draws `steps` (stacked areas of
// the MemoryUse parts over LabStep::time_s) and `totals` (one stacked bar per allocator).

#include <cstdint>
#include <string>
#include <vector>

#include "engine/lab/lab_config.h"

namespace kvscope::lab {

// Where one allocator's KV memory is at one moment, in token slots. The parts from `token` to
// `free` add up to `capacity`.
struct MemoryUse {
    std::int64_t capacity = 0;  // slots the allocator manages (the budget, rounded down to blocks)
    std::int64_t token = 0;     // slots holding a token's K and V (a physical slot counts once)
    std::int64_t reserved = 0;  // held slots their request fills later (reservation)
    std::int64_t internal = 0;  // held slots their request never fills (internal fragmentation)
    // Free slots while the request next in line waits because its region(s) fit in no gap
    // between the allocations (external fragmentation; contiguous allocators only: a paged
    // request can use any free block, and running sequences grow into them).
    std::int64_t external = 0;
    std::int64_t cached = 0;  // free blocks keeping prefix-cache content (evictable; paged + prefix)
    std::int64_t free = 0;    // the rest: free and usable
    // Not a part of capacity: the slots sharing saved (each extra holder of a shared block would
    // otherwise hold a block of its own; paged only).
    std::int64_t shared_saved = 0;

    // Memory the allocator kept from other use: token + reserved + internal + external.
    std::int64_t used() const { return token + reserved + internal + external; }
    MemoryUse& operator+=(const MemoryUse& o);
};

struct LabStep {
    std::int64_t step = 0;                // engine step index (stretches with nothing to do are skipped)
    double time_s = 0;                    // step * step_time_s
    std::int32_t num_batched_seqs = 0;    // sequences computed this step: the batch size
    std::int32_t num_batched_tokens = 0;  // tokens computed this step
    std::int32_t num_running = 0;         // sequences holding KV after the step (each sample of n > 1)
    std::int32_t num_waiting = 0;         // sequences waiting after the step (not admitted yet, or preempted)
    std::int32_t num_preempted = 0;       // sequences preempted this step
    std::int32_t num_finished = 0;        // requests finished this step
    MemoryUse memory;                     // after the step
};

struct LabTotals {
    std::int64_t num_steps = 0;       // steps with work
    std::int64_t makespan_steps = 0;  // last step + 1: the replay's length, idle stretches included
    MemoryUse slot_steps;             // every MemoryUse field summed over the steps
    std::int32_t max_batch = 0;       // most sequences computed in one step (LabStep::num_batched_seqs)
    double mean_batch = 0;            // over the steps
    std::int64_t peak_used = 0;       // most slots used (MemoryUse::used) in one step
    std::int64_t num_preemptions = 0;
    std::int32_t num_finished = 0;   // requests run to their output length
    std::int32_t num_refused = 0;    // requests that can never run here (see LabRun::refused)
    std::int32_t num_truncated = 0;  // requests whose output was cut at max_model_len
    std::int64_t num_generated_tokens = 0;
    std::int64_t prefix_query_tokens = 0;  // paged + prefix: prompt tokens looked up
    std::int64_t prefix_hit_tokens = 0;    // of those, found cached

    // Share of the budget over time: part / capacity (slot-steps).
    double share(std::int64_t part) const;
    // The paper's figure: token states / memory used (token + reserved + internal + external).
    double token_share_of_used() const;
    // Mean over steps of a part, in slots.
    double mean(std::int64_t part) const;
};

struct RefusedRequest {
    std::int32_t index = 0;  // in the trace
    std::string reason;
};

struct LabRun {
    AllocatorSpec allocator;
    std::string name;           // allocator.name()
    std::int64_t capacity = 0;  // slots it manages: the budget, rounded down to whole blocks
    std::vector<LabStep> steps;
    LabTotals totals;
    std::vector<RefusedRequest> refused;
};

struct LabReport {
    LabConfig config;
    std::int32_t num_requests = 0;
    std::int64_t num_prompt_tokens = 0;
    std::int64_t num_output_tokens = 0;  // over all samples, before any cut at max_model_len
    std::vector<LabRun> runs;            // in the order the allocators were given
};

}  // namespace kvscope::lab
