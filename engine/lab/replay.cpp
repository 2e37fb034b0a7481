#include "engine/lab/replay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <unordered_set>

#include "engine/error.h"
#include "engine/kv_allocator.h"
#include "engine/scheduler.h"
#include "kernels/check.h"

namespace kvscope::lab {
namespace {

void check_config(const LabConfig& config) {
    const std::vector<std::string> problems = config.validate();
    if (problems.empty()) return;
    std::string message = problems.front();
    for (std::size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
    throw ConfigError("lab: " + message);
}

// A trace request as the replay runs it.
struct LabRequest {
    std::int32_t index = 0;
    std::int64_t arrival_step = 0;
    std::vector<std::int32_t> prompt;
    std::vector<std::int32_t> output_lens;  // cut at max_model_len
    const TraceRequest* source = nullptr;
    std::int32_t filler_base = 0;  // samples without recorded outputs generate -(filler_base + sample)
    std::int32_t num_unfinished = 0;
};

// The engine's scheduler asks KV memory through KvSlotAllocator; this answers it with a lab
// model, handing the model what it learns at admission (the request's lengths).
class ModelSlots final : public KvSlotAllocator {
public:
    ModelSlots(KvModel& model, std::function<AdmitInfo(SeqId)> admit_info)
        : model_(model), admit_info_(std::move(admit_info)) {}

    void advance_step() override { model_.advance_step(); }
    PrefixMatch find_cached_prefix(std::span<const std::int32_t> tokens, std::uint64_t) const override {
        return model_.find_cached_prefix(tokens);
    }
    std::optional<AllocResult> allocate_slots(SeqId seq, std::int32_t num_new_tokens,
                                              const PrefixMatch* match) override {
        std::optional<Grant> grant;
        if (match != nullptr) {
            const AdmitInfo info = admit_info_(seq);
            grant = model_.allocate(seq, num_new_tokens, match, &info);
        } else {
            grant = model_.allocate(seq, num_new_tokens, nullptr, nullptr);
        }
        if (!grant) return std::nullopt;
        live_.insert(seq);
        AllocResult result;
        result.num_computed_tokens = grant->num_computed_tokens;
        result.num_cached_tokens = grant->num_cached_tokens;
        return result;
    }
    void commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) override {
        model_.commit(seq, token_ids, num_computed_tokens);
    }
    bool free(SeqId seq) override {
        if (live_.erase(seq) == 0) return false;
        model_.free(seq);
        return true;
    }
    bool contains(SeqId seq) const override { return live_.contains(seq); }
    void fork(SeqId parent, SeqId child, std::int32_t child_sample) {
        model_.fork(parent, child, child_sample);
        live_.insert(child);
    }

private:
    KvModel& model_;
    std::function<AdmitInfo(SeqId)> admit_info_;
    std::unordered_set<SeqId> live_;
};

SchedulerConfig scheduler_config(const LabConfig& config) {
    return SchedulerConfig{config.max_num_seqs, config.max_num_batched_tokens, config.enable_chunked_prefill};
}

class Replay {
public:
    Replay(const Trace& trace, const LabConfig& config, KvModel& model)
        : config_(config),
          model_(model),
          slots_(model, [this](SeqId id) { return admit_info(scheduler_.sequence(id)); }),
          scheduler_(scheduler_config(config), slots_) {
        prepare(trace);
    }
    LabRun run();

private:
    void prepare(const Trace& trace);
    void arrive(LabRequest& request);
    AdmitInfo admit_info(const Sequence& seq) const;
    void step(std::int64_t index);
    void sample(Sequence& seq);
    void append_token(Sequence& seq);

    const LabConfig& config_;
    KvModel& model_;
    ModelSlots slots_;
    Scheduler scheduler_;
    std::vector<LabRequest> requests_;  // by arrival
    std::int32_t num_finished_ = 0;
    SeqId next_seq_id_ = 1;
    std::int64_t num_arrived_ = 0;
    LabRun run_;
};

constexpr double kMaxArrivalStep = 1e15;

void Replay::prepare(const Trace& trace) {
    std::int32_t filler = static_cast<std::int32_t>(trace.requests.size()) + 1;
    for (std::size_t i = 0; i < trace.requests.size(); ++i) {
        const TraceRequest& t = trace.requests[i];
        LabRequest r;
        r.index = static_cast<std::int32_t>(i);
        r.source = &t;
        const double steps = std::ceil(t.arrival_s / config_.step_time_s - 1e-9);
        if (!(steps <= kMaxArrivalStep)) {  // past it the step count would overflow (or NaN)
            char message[256];
            std::snprintf(message, sizeof message,
                          "trace request %zu arrives at %g s, step %g of %g s; the lab counts at most 1e15 steps: use "
                          "a larger step time or earlier arrivals",
                          i + 1, t.arrival_s, steps, config_.step_time_s);
            throw ConfigError(message);
        }
        r.arrival_step = static_cast<std::int64_t>(steps);
        r.prompt = t.prompt_token_ids;
        // A prompt known only by its length shares nothing: its own token, repeated.
        if (r.prompt.empty()) r.prompt.assign(static_cast<std::size_t>(t.prompt_len), -1 - r.index);
        r.output_lens = t.output_lens;
        r.filler_base = filler;
        filler += t.n();
        requests_.push_back(std::move(r));
    }
    // Arrival order (FCFS ties broken by it), the trace's order among equal times.
    std::stable_sort(requests_.begin(), requests_.end(), [](const LabRequest& a, const LabRequest& b) {
        return a.source->arrival_s < b.source->arrival_s;
    });
}

AdmitInfo Replay::admit_info(const Sequence& seq) const {
    const LabRequest& r = requests_[static_cast<std::size_t>(seq.request_id)];
    return AdmitInfo{seq.num_prompt_tokens, r.output_lens, seq.sample_index, seq.awaits_fork()};
}

void Replay::arrive(LabRequest& r) {
    const auto prompt_len = static_cast<std::int32_t>(r.prompt.size());
    const auto n = static_cast<std::int32_t>(r.output_lens.size());
    // As the engine: a sample stops when its sequence fills the context.
    bool truncated = false;
    for (std::int32_t& len : r.output_lens) {
        if (prompt_len < config_.max_model_len && prompt_len + len > config_.max_model_len) {
            len = config_.max_model_len - prompt_len;
            truncated = true;
        }
    }
    const AdmitInfo info{prompt_len, r.output_lens, 0, n > 1};
    std::string why;
    if (prompt_len >= config_.max_model_len) {
        why = "the prompt has " + std::to_string(prompt_len) + " tokens and the context holds " +
              std::to_string(config_.max_model_len);
    } else if (n > config_.max_num_seqs) {
        why = std::to_string(n) + " samples exceed max_num_seqs = " + std::to_string(config_.max_num_seqs);
    } else if (!config_.enable_chunked_prefill && prompt_len > config_.max_num_batched_tokens) {
        why = "the prompt exceeds max_num_batched_tokens without chunked prefill";
    } else if (!model_.can_ever_fit(info, config_.max_model_len, why)) {
        why = "the request " + why;
    }
    if (!why.empty()) {
        run_.refused.push_back({r.index, why});
        ++run_.totals.num_refused;
        return;
    }
    if (truncated) ++run_.totals.num_truncated;
    r.num_unfinished = n;
    Sequence seq;
    seq.id = next_seq_id_++;
    seq.request_id = &r - requests_.data();
    seq.num_samples = n;
    seq.priority = r.source->priority;
    seq.arrival = num_arrived_++;
    seq.token_ids = r.prompt;
    seq.num_prompt_tokens = prompt_len;
    scheduler_.add_waiting(std::move(seq));
}

LabRun Replay::run() {
    std::size_t next = 0;
    std::int64_t index = 0;
    while (next < requests_.size() || scheduler_.has_work()) {
        if (!scheduler_.has_work()) index = std::max(index, requests_[next].arrival_step);  // idle: skip ahead
        while (next < requests_.size() && requests_[next].arrival_step <= index) arrive(requests_[next++]);
        if (!scheduler_.has_work()) continue;  // every arrival was refused
        step(index++);
    }

    run_.capacity = model_.capacity();
    LabTotals& t = run_.totals;
    t.num_steps = static_cast<std::int64_t>(run_.steps.size());
    t.makespan_steps = run_.steps.empty() ? 0 : run_.steps.back().step + 1;
    std::int64_t batched = 0;
    for (const LabStep& s : run_.steps) {
        t.slot_steps += s.memory;
        t.max_batch = std::max(t.max_batch, s.num_batched_seqs);
        t.peak_used = std::max(t.peak_used, s.memory.used());
        batched += s.num_batched_seqs;
    }
    t.mean_batch = t.num_steps == 0 ? 0.0 : static_cast<double>(batched) / static_cast<double>(t.num_steps);
    t.num_preemptions = scheduler_.num_preemptions();
    t.prefix_query_tokens = model_.prefix_query_tokens();
    t.prefix_hit_tokens = model_.prefix_hit_tokens();
    return std::move(run_);
}

void Replay::step(std::int64_t index) {
    num_finished_ = 0;
    const ScheduledBatch batch = scheduler_.schedule();
    std::optional<AdmitInfo> blocked;
    if (const std::optional<SeqId> id = scheduler_.memory_blocked()) blocked = admit_info(scheduler_.sequence(*id));
    scheduler_.complete_step(batch);

    LabStep record;
    record.step = index;
    record.time_s = static_cast<double>(index) * config_.step_time_s;
    record.num_batched_seqs = static_cast<std::int32_t>(batch.seqs.size());
    record.num_batched_tokens = batch.num_tokens;
    for (const ScheduledSequence& s : batch.seqs) {
        if (s.samples) sample(scheduler_.sequence(s.id));
    }
    record.num_running = scheduler_.num_running();
    record.num_waiting = scheduler_.num_waiting();
    record.num_preempted = static_cast<std::int32_t>(batch.preempted.size());
    record.num_finished = num_finished_;
    // Between steps, as the engine's snapshots: a request admitted and finished in one step (an
    // output of one token) is never seen holding memory. lab_engine_match_test holds the two equal.
    record.memory = model_.measure(blocked ? &*blocked : nullptr);
    run_.steps.push_back(record);
}

// As the engine after a step: a prompt that completes forks its request's other samples, then
// every sample takes its next (recorded) token.
void Replay::sample(Sequence& seq) {
    std::vector<SeqId> targets = {seq.id};
    if (seq.awaits_fork()) {
        for (std::int32_t i = 1; i < seq.num_samples; ++i) {
            Sequence child = seq;
            child.id = next_seq_id_++;
            child.sample_index = i;
            slots_.fork(seq.id, child.id, i);
            targets.push_back(child.id);
            scheduler_.add_running(std::move(child));
        }
        seq.num_samples = 1;
    }
    for (const SeqId id : targets) append_token(scheduler_.sequence(id));
}

void Replay::append_token(Sequence& seq) {
    LabRequest& r = requests_[static_cast<std::size_t>(seq.request_id)];
    const auto sample = static_cast<std::size_t>(seq.sample_index);
    const std::vector<std::vector<std::int32_t>>& recorded = r.source->output_token_ids;
    // Recorded outputs hash as the live engine's did; otherwise a token no other sample makes.
    seq.token_ids.push_back(recorded.empty() ? -(r.filler_base + seq.sample_index)
                                             : recorded[sample][static_cast<std::size_t>(seq.num_output_tokens())]);
    ++run_.totals.num_generated_tokens;
    if (seq.num_output_tokens() < r.output_lens[sample]) return;
    scheduler_.remove(seq.id);
    if (--r.num_unfinished == 0) {
        ++num_finished_;
        ++run_.totals.num_finished;
    }
}

}  // namespace

LabRun replay(const Trace& trace, const LabConfig& config, KvModel& model) {
    check_config(config);
    return Replay(trace, config, model).run();
}

LabRun replay(const Trace& trace, const LabConfig& config, const AllocatorSpec& allocator) {
    check_config(config);
    const std::unique_ptr<KvModel> model = make_kv_model(allocator, config);
    LabRun run = Replay(trace, config, *model).run();
    run.allocator = allocator;
    run.name = allocator.name();
    return run;
}

LabReport run_lab(const Trace& trace, const LabConfig& config, const std::vector<AllocatorSpec>& allocators,
                  const std::function<bool(int, int)>& progress) {
    check_config(config);
    LabReport report;
    report.config = config;
    report.num_requests = static_cast<std::int32_t>(trace.requests.size());
    for (const TraceRequest& r : trace.requests) {
        report.num_prompt_tokens += r.prompt_len;
        report.num_output_tokens += r.num_output_tokens();
    }
    const int total = static_cast<int>(allocators.size());
    for (int i = 0; i < total; ++i) {
        report.runs.push_back(replay(trace, config, allocators[static_cast<std::size_t>(i)]));
        if (progress && !progress(i + 1, total)) break;
    }
    return report;
}

}  // namespace kvscope::lab
