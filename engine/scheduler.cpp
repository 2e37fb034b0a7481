#include "engine/scheduler.h"

#include <algorithm>

#include "kernels/check.h"

namespace kvscope {

Scheduler::Scheduler(const SchedulerConfig& config, KvSlotAllocator& kv) : config_(config), kv_(kv) {
    KV_CHECK(config_.max_num_seqs >= 1 && config_.max_num_batched_tokens >= 1);
}

void Scheduler::add_waiting(Sequence seq) {
    KV_CHECK(!seqs_.contains(seq.id) && seq.num_tokens() > 0);
    seq.status = SequenceStatus::Waiting;
    waiting_.insert(wait_key(seq));
    seqs_.emplace(seq.id, std::move(seq));
}

void Scheduler::add_running(Sequence seq) {
    KV_CHECK(!seqs_.contains(seq.id) && kv_.contains(seq.id));
    seq.status = SequenceStatus::Running;
    running_.push_back(seq.id);
    seqs_.emplace(seq.id, std::move(seq));
}

Sequence& Scheduler::sequence(SeqId id) {
    auto it = seqs_.find(id);
    KV_CHECK(it != seqs_.end());
    return it->second;
}

const Sequence& Scheduler::sequence(SeqId id) const {
    auto it = seqs_.find(id);
    KV_CHECK(it != seqs_.end());
    return it->second;
}

ScheduledBatch Scheduler::schedule() {
    ScheduledBatch batch;
    step_copies_.clear();
    memory_blocked_.reset();
    kv_.advance_step();
    std::int32_t budget = config_.max_num_batched_tokens;
    schedule_running(batch, budget);
    // As vLLM: no resumptions or admissions in a step that had to preempt (memory is tight);
    // swapped sequences resume before anything new is admitted.
    if (batch.preempted.empty()) {
        schedule_swapped(batch, budget);
        if (swapped_.empty()) schedule_waiting(batch, budget);
    }
    for (const ScheduledSequence& s : batch.seqs) {
        const auto& copies = step_copies_[s.id];
        batch.copies.insert(batch.copies.end(), copies.begin(), copies.end());
    }
    return batch;
}

void Scheduler::schedule_running(ScheduledBatch& batch, std::int32_t& budget) {
    std::size_t i = 0;
    while (i < running_.size() && budget > 0) {
        Sequence& seq = sequence(running_[i]);
        std::int32_t num_new = seq.num_uncomputed_tokens();
        if (num_new > budget && !config_.enable_chunked_prefill) {
            ++i;  // a whole prompt that does not fit this step's budget waits for the next
            continue;
        }
        num_new = std::min(num_new, budget);
        if (num_new == 0) {  // nothing to compute (cannot happen for a live sequence)
            ++i;
            continue;
        }
        bool self_preempted = false;
        std::optional<AllocResult> alloc;
        while (!(alloc = kv_.allocate_slots(seq.id, num_new))) {
            const std::size_t victim = pick_victim();
            const bool is_self = running_[victim] == seq.id;
            preempt(victim, batch, budget);
            if (is_self) {
                self_preempted = true;
                break;
            }
            if (victim < i) --i;  // a lower-priority sequence scheduled earlier was preempted
        }
        if (self_preempted) continue;  // running_[i] is now the next sequence
        add_to_batch(batch, seq, num_new, std::move(alloc->copies));
        budget -= num_new;
        ++i;
    }
}

void Scheduler::schedule_waiting(ScheduledBatch& batch, std::int32_t& budget) {
    while (!waiting_.empty() && budget > 0) {
        Sequence& seq = sequence(std::get<2>(*waiting_.begin()));
        // A request's samples all run at once: room for the siblings it will fork.
        const std::int32_t seats = seq.awaits_fork() ? seq.num_samples : 1;
        if (num_running() + num_reserved_seats() + seats > config_.max_num_seqs) break;
        KV_CHECK(seq.num_computed_tokens == 0);
        PrefixMatch match;
        match.extra_key = seq.cache_key;
        if (seq.reads_prefix_cache) match = kv_.find_cached_prefix(seq.token_ids, seq.cache_key);
        std::int32_t num_new = seq.num_tokens() - match.num_cached_tokens;
        if (num_new > budget && !config_.enable_chunked_prefill) break;
        num_new = std::min(num_new, budget);
        std::optional<AllocResult> alloc = kv_.allocate_slots(seq.id, num_new, &match);
        if (!alloc) {  // FCFS: nobody jumps the queue head
            memory_blocked_ = seq.id;
            break;
        }
        waiting_.erase(waiting_.begin());
        seq.status = SequenceStatus::Running;
        seq.num_computed_tokens = alloc->num_computed_tokens;
        if (seq.num_preemptions == 0) seq.num_cached_tokens = alloc->num_cached_tokens;
        running_.push_back(seq.id);
        add_to_batch(batch, seq, num_new, std::move(alloc->copies));
        budget -= num_new;
    }
}

void Scheduler::schedule_swapped(ScheduledBatch& batch, std::int32_t& budget) {
    while (!swapped_.empty() && budget > 0 && num_running() < config_.max_num_seqs) {
        Sequence& seq = sequence(std::get<2>(*swapped_.begin()));
        std::int32_t num_new = seq.num_uncomputed_tokens();
        if (num_new > budget && !config_.enable_chunked_prefill) break;
        num_new = std::min(num_new, budget);
        // Room for its swapped blocks and for this step's tokens, or it waits (FCFS).
        if (!kv_.can_swap_in(seq.id, seq.num_computed_tokens + num_new)) break;
        std::optional<std::vector<BlockCopy>> copies = kv_.swap_in(seq.id);
        KV_CHECK(copies.has_value());
        batch.swap_in.insert(batch.swap_in.end(), copies->begin(), copies->end());
        std::optional<AllocResult> alloc = kv_.allocate_slots(seq.id, num_new);
        KV_CHECK(alloc.has_value() && alloc->copies.empty());
        swapped_.erase(swapped_.begin());
        seq.status = SequenceStatus::Running;
        running_.push_back(seq.id);
        add_to_batch(batch, seq, num_new, {});
        budget -= num_new;
    }
}

void Scheduler::add_to_batch(ScheduledBatch& batch, Sequence& seq, std::int32_t num_new,
                             std::vector<BlockCopy> copies) {
    KV_CHECK(num_new > 0 && seq.num_computed_tokens + num_new <= seq.num_tokens());
    batch.seqs.push_back(
        {seq.id, seq.num_computed_tokens, num_new, seq.num_computed_tokens + num_new == seq.num_tokens()});
    batch.num_tokens += num_new;
    step_copies_[seq.id] = std::move(copies);
}

std::int32_t Scheduler::num_reserved_seats() const {
    std::int32_t seats = 0;
    for (const SeqId id : running_) {
        const Sequence& seq = sequence(id);
        if (seq.awaits_fork()) seats += seq.num_samples - 1;
    }
    return seats;
}

std::size_t Scheduler::pick_victim() const {
    KV_CHECK(!running_.empty());
    std::size_t victim = 0;
    for (std::size_t i = 1; i < running_.size(); ++i) {
        if (wait_key(sequence(running_[i])) > wait_key(sequence(running_[victim]))) victim = i;
    }
    return victim;
}

void Scheduler::preempt(std::size_t running_index, ScheduledBatch& batch, std::int32_t& budget) {
    Sequence& seq = sequence(running_[running_index]);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(running_index));
    auto scheduled =
        std::find_if(batch.seqs.begin(), batch.seqs.end(), [&](const ScheduledSequence& s) { return s.id == seq.id; });
    std::vector<BlockCopy> pending;  // its copy-on-write copies of this step, which will not run
    if (scheduled != batch.seqs.end()) {
        budget += scheduled->num_new_tokens;
        batch.num_tokens -= scheduled->num_new_tokens;
        batch.seqs.erase(scheduled);
        pending = std::move(step_copies_[seq.id]);
        step_copies_.erase(seq.id);
    }
    ++seq.num_preemptions;
    ++num_preemptions_;
    batch.preempted.push_back(seq.id);
    if (config_.preempt_by_swap) {
        if (std::optional<std::vector<BlockCopy>> copies = kv_.swap_out(seq.id, pending)) {
            batch.swap_out.insert(batch.swap_out.end(), copies->begin(), copies->end());
            seq.status = SequenceStatus::Swapped;
            swapped_.insert(wait_key(seq));
            return;
        }
    }
    kv_.free(seq.id);
    seq.num_computed_tokens = 0;
    seq.status = SequenceStatus::Waiting;
    waiting_.insert(wait_key(seq));
}

void Scheduler::complete_step(const ScheduledBatch& batch) {
    for (const ScheduledSequence& s : batch.seqs) {
        Sequence& seq = sequence(s.id);
        KV_CHECK(seq.num_computed_tokens == s.num_computed_tokens);
        seq.num_computed_tokens += s.num_new_tokens;
        kv_.commit(seq.id, seq.token_ids, seq.num_computed_tokens);
    }
}

void Scheduler::remove(SeqId id) {
    Sequence& seq = sequence(id);
    if (seq.status == SequenceStatus::Waiting) {
        waiting_.erase(wait_key(seq));
    } else if (seq.status == SequenceStatus::Swapped) {
        swapped_.erase(wait_key(seq));
    } else {
        running_.erase(std::find(running_.begin(), running_.end(), id));
    }
    if (kv_.contains(id)) kv_.free(id);
    seqs_.erase(id);
}

}  // namespace kvscope
