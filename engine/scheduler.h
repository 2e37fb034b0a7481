#pragma once
// Continuous batching (vLLM v1's scheduler, in nano-vllm's shape). Every step mixes the running
// sequences' work — one token for a decode, the next chunk for a prompt — with newly admitted
// prompts, under a token budget (max_num_batched_tokens) and a sequence limit (max_num_seqs).
// Running sequences are served first, in admission order; waiting ones by (priority, arrival).
// When blocks run out, the lowest-priority, newest running sequence is preempted (recompute: its
// blocks are freed and it returns to the waiting queue, to recompute prompt and output later;
// swap, when configured and the swap space has room: its blocks are copied to host memory and
// it waits in the swapped queue, which resumes before any new admission, in a step without
// preemption, so no step both swaps out and in).
// The scheduler decides; it never touches tensors.

#include <cstdint>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/kv_allocator.h"
#include "engine/sequence.h"
#include "kernels/block_copy.h"

namespace kvscope {

struct SchedulerConfig {
    std::int32_t max_num_seqs = 64;
    std::int32_t max_num_batched_tokens = 2048;
    bool enable_chunked_prefill = true;
    bool preempt_by_swap = false;  // swap out (when the swap space has room) instead of recompute
};

struct ScheduledSequence {
    SeqId id = 0;
    std::int32_t num_computed_tokens = 0;  // before this step: the step computes tokens from here
    std::int32_t num_new_tokens = 0;       // tokens computed this step
    bool samples = false;                  // the step reaches the sequence's last token: sample one
};

// One step's plan: a plain value.
struct ScheduledBatch {
    std::vector<ScheduledSequence> seqs;  // running sequences first, then new admissions
    std::vector<BlockCopy> copies;        // copy-on-write, done by the backend before the step
    std::vector<SeqId> preempted;         // sequences preempted this step (recompute or swap)
    std::vector<BlockCopy> swap_out;      // KV block -> swap block, done first (preemption by swap)
    std::vector<BlockCopy> swap_in;       // swap block -> KV block, done before the copies
    std::int32_t num_tokens = 0;
    bool empty() const { return seqs.empty(); }
};

class Scheduler {
public:
    Scheduler(const SchedulerConfig& config, KvSlotAllocator& kv);

    // A new sequence joins the waiting queue.
    void add_waiting(Sequence seq);
    // A forked sequence that already holds its blocks joins the running set.
    void add_running(Sequence seq);

    ScheduledBatch schedule();

    // After the backend ran `batch`: the scheduled tokens are computed (and committed to the KV
    // cache, which hashes newly full blocks for the prefix cache).
    void complete_step(const ScheduledBatch& batch);

    // Drops a sequence (finished or aborted) and frees its blocks.
    void remove(SeqId id);

    Sequence& sequence(SeqId id);
    const Sequence& sequence(SeqId id) const;
    bool contains(SeqId id) const { return seqs_.contains(id); }

    std::int32_t num_waiting() const { return static_cast<std::int32_t>(waiting_.size()); }
    std::int32_t num_running() const { return static_cast<std::int32_t>(running_.size()); }
    std::int32_t num_swapped() const { return static_cast<std::int32_t>(swapped_.size()); }
    bool has_work() const { return !seqs_.empty(); }
    std::int64_t num_preemptions() const { return num_preemptions_; }
    // The waiting sequence that the last schedule() could not admit for lack of KV memory.
    std::optional<SeqId> memory_blocked() const { return memory_blocked_; }
    const SchedulerConfig& config() const { return config_; }

private:
    using WaitKey = std::tuple<std::int32_t, std::int64_t, SeqId>;  // (priority, arrival, id)
    static WaitKey wait_key(const Sequence& s) { return {s.priority, s.arrival, s.id}; }

    void schedule_running(ScheduledBatch& batch, std::int32_t& budget);
    void schedule_waiting(ScheduledBatch& batch, std::int32_t& budget);
    // Seats held for the samples that running prompts will fork (so max_num_seqs holds then).
    std::int32_t num_reserved_seats() const;
    void schedule_swapped(ScheduledBatch& batch, std::int32_t& budget);
    // Index in running_ of the sequence to preempt: lowest priority, then newest.
    std::size_t pick_victim() const;
    // running -> swapped (swap mode, room in the swap space) or waiting; removes its entry (and
    // copies) from `batch` if it was scheduled.
    void preempt(std::size_t running_index, ScheduledBatch& batch, std::int32_t& budget);
    void add_to_batch(ScheduledBatch& batch, Sequence& seq, std::int32_t num_new, std::vector<BlockCopy> copies);

    SchedulerConfig config_;
    KvSlotAllocator& kv_;
    std::unordered_map<SeqId, Sequence> seqs_;
    std::set<WaitKey> waiting_;
    std::set<WaitKey> swapped_;
    std::vector<SeqId> running_;  // admission order
    // Copies made for each sequence scheduled in the step being built (to undo on preemption).
    std::unordered_map<SeqId, std::vector<BlockCopy>> step_copies_;
    std::int64_t num_preemptions_ = 0;
    std::optional<SeqId> memory_blocked_;
};

}  // namespace kvscope
