#include "engine/lab/replay.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <unordered_map>

#include "engine/error.h"
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

struct SimSeq {
    SeqId id = 0;
    std::int32_t request = 0;
    std::int32_t sample = 0;
    std::int32_t num_samples = 1;  // n until sample 0 has forked the others
    std::int32_t priority = 0;
    std::int64_t arrival = 0;
    std::vector<std::int32_t> tokens;
    std::int32_t num_prompt = 0;
    std::int32_t num_computed = 0;

    std::int32_t num_output() const { return static_cast<std::int32_t>(tokens.size()) - num_prompt; }
    bool awaits_fork() const { return sample == 0 && num_samples > 1 && num_output() == 0; }
};

struct Scheduled {
    SeqId id = 0;
    std::int32_t num_new = 0;
    bool samples = false;
};

class Replay {
public:
    Replay(const Trace& trace, const LabConfig& config, KvModel& model) : config_(config), model_(model) {
        prepare(trace);
    }
    LabRun run();

private:
    using WaitKey = std::tuple<std::int32_t, std::int64_t, SeqId>;  // (priority, arrival, id)
    static WaitKey wait_key(const SimSeq& s) { return {s.priority, s.arrival, s.id}; }

    void prepare(const Trace& trace);
    void arrive(LabRequest& request);
    AdmitInfo admit_info(const SimSeq& seq) const;
    void step(std::int64_t index);
    void schedule_running(std::int32_t& budget);
    void schedule_waiting(std::int32_t& budget);
    std::size_t pick_victim() const;
    void preempt(std::size_t running_index, std::int32_t& budget);
    void sample(const Scheduled& s);
    void append_token(SimSeq& seq);

    const LabConfig& config_;
    KvModel& model_;
    std::vector<LabRequest> requests_;  // by arrival
    std::unordered_map<SeqId, SimSeq> seqs_;
    std::set<WaitKey> waiting_;
    std::vector<SeqId> running_;  // admission order
    std::vector<Scheduled> batch_;
    std::int32_t num_preempted_ = 0, num_finished_ = 0;
    std::optional<AdmitInfo> blocked_;
    SeqId next_seq_id_ = 1;
    std::int64_t num_arrived_ = 0;
    LabRun run_;
};

void Replay::prepare(const Trace& trace) {
    std::int32_t filler = static_cast<std::int32_t>(trace.requests.size()) + 1;
    for (std::size_t i = 0; i < trace.requests.size(); ++i) {
        const TraceRequest& t = trace.requests[i];
        LabRequest r;
        r.index = static_cast<std::int32_t>(i);
        r.source = &t;
        r.arrival_step = static_cast<std::int64_t>(std::ceil(t.arrival_s / config_.step_time_s - 1e-9));
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

AdmitInfo Replay::admit_info(const SimSeq& seq) const {
    const LabRequest& r = requests_[static_cast<std::size_t>(seq.request)];
    return AdmitInfo{seq.num_prompt, r.output_lens, seq.sample, seq.awaits_fork()};
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
    SimSeq seq;
    seq.id = next_seq_id_++;
    seq.request = static_cast<std::int32_t>(&r - requests_.data());
    seq.num_samples = n;
    seq.priority = r.source->priority;
    seq.arrival = num_arrived_++;
    seq.tokens = r.prompt;
    seq.num_prompt = prompt_len;
    waiting_.insert(wait_key(seq));
    seqs_.emplace(seq.id, std::move(seq));
}

LabRun Replay::run() {
    std::size_t next = 0;
    std::int64_t index = 0;
    while (next < requests_.size() || !seqs_.empty()) {
        if (seqs_.empty()) index = std::max(index, requests_[next].arrival_step);  // idle: skip ahead
        while (next < requests_.size() && requests_[next].arrival_step <= index) arrive(requests_[next++]);
        if (seqs_.empty()) continue;  // every arrival was refused
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
    t.prefix_query_tokens = model_.prefix_query_tokens();
    t.prefix_hit_tokens = model_.prefix_hit_tokens();
    return std::move(run_);
}

void Replay::step(std::int64_t index) {
    batch_.clear();
    blocked_.reset();
    num_preempted_ = num_finished_ = 0;
    model_.advance_step();
    std::int32_t budget = config_.max_num_batched_tokens;
    schedule_running(budget);
    if (num_preempted_ == 0) schedule_waiting(budget);  // as vLLM: no admissions when memory is tight

    LabStep record;
    record.step = index;
    record.time_s = static_cast<double>(index) * config_.step_time_s;
    record.num_batched_seqs = static_cast<std::int32_t>(batch_.size());
    for (const Scheduled& s : batch_) {
        SimSeq& seq = seqs_.at(s.id);
        seq.num_computed += s.num_new;
        model_.commit(seq.id, seq.tokens, seq.num_computed);
        record.num_batched_tokens += s.num_new;
    }
    for (const Scheduled& s : batch_) {
        if (s.samples) sample(s);
    }
    record.num_running = static_cast<std::int32_t>(running_.size());
    record.num_waiting = static_cast<std::int32_t>(waiting_.size());
    record.num_preempted = num_preempted_;
    record.num_finished = num_finished_;
    record.memory = model_.measure(blocked_ ? &*blocked_ : nullptr);
    run_.steps.push_back(record);
}

void Replay::schedule_running(std::int32_t& budget) {
    std::size_t i = 0;
    while (i < running_.size() && budget > 0) {
        SimSeq& seq = seqs_.at(running_[i]);
        std::int32_t num_new = static_cast<std::int32_t>(seq.tokens.size()) - seq.num_computed;
        if (num_new > budget && !config_.enable_chunked_prefill) {
            ++i;
            continue;
        }
        num_new = std::min(num_new, budget);
        KV_CHECK(num_new > 0);
        bool self_preempted = false;
        while (!model_.allocate(seq.id, num_new, nullptr, nullptr)) {
            const std::size_t victim = pick_victim();
            const bool is_self = running_[victim] == seq.id;
            preempt(victim, budget);
            if (is_self) {
                self_preempted = true;
                break;
            }
            if (victim < i) --i;
        }
        if (self_preempted) continue;
        batch_.push_back({seq.id, num_new, seq.num_computed + num_new == static_cast<std::int32_t>(seq.tokens.size())});
        budget -= num_new;
        ++i;
    }
}

void Replay::schedule_waiting(std::int32_t& budget) {
    while (!waiting_.empty() && budget > 0) {
        SimSeq& seq = seqs_.at(std::get<2>(*waiting_.begin()));
        const std::int32_t seats = seq.awaits_fork() ? seq.num_samples : 1;
        std::int32_t reserved = 0;
        for (const SeqId id : running_) {
            const SimSeq& r = seqs_.at(id);
            if (r.awaits_fork()) reserved += r.num_samples - 1;
        }
        if (static_cast<std::int32_t>(running_.size()) + reserved + seats > config_.max_num_seqs) break;
        KV_CHECK(seq.num_computed == 0);
        const PrefixMatch match = model_.find_cached_prefix(seq.tokens);
        std::int32_t num_new = static_cast<std::int32_t>(seq.tokens.size()) - match.num_cached_tokens;
        if (num_new > budget && !config_.enable_chunked_prefill) break;
        num_new = std::min(num_new, budget);
        const AdmitInfo info = admit_info(seq);
        const std::optional<Grant> grant = model_.allocate(seq.id, num_new, &match, &info);
        if (!grant) {
            blocked_ = info;
            break;
        }
        waiting_.erase(waiting_.begin());
        seq.num_computed = grant->num_computed_tokens;
        running_.push_back(seq.id);
        batch_.push_back({seq.id, num_new, seq.num_computed + num_new == static_cast<std::int32_t>(seq.tokens.size())});
        budget -= num_new;
    }
}

std::size_t Replay::pick_victim() const {
    KV_CHECK(!running_.empty());
    std::size_t victim = 0;
    for (std::size_t i = 1; i < running_.size(); ++i) {
        if (wait_key(seqs_.at(running_[i])) > wait_key(seqs_.at(running_[victim]))) victim = i;
    }
    return victim;
}

void Replay::preempt(std::size_t running_index, std::int32_t& budget) {
    SimSeq& seq = seqs_.at(running_[running_index]);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(running_index));
    const auto scheduled =
        std::find_if(batch_.begin(), batch_.end(), [&](const Scheduled& s) { return s.id == seq.id; });
    if (scheduled != batch_.end()) {
        budget += scheduled->num_new;
        batch_.erase(scheduled);
    }
    model_.free(seq.id);
    seq.num_computed = 0;
    waiting_.insert(wait_key(seq));
    ++num_preempted_;
    ++run_.totals.num_preemptions;
}

void Replay::sample(const Scheduled& s) {
    SimSeq& seq = seqs_.at(s.id);
    std::vector<SeqId> targets = {seq.id};
    if (seq.awaits_fork()) {
        for (std::int32_t i = 1; i < seq.num_samples; ++i) {
            SimSeq child = seq;
            child.id = next_seq_id_++;
            child.sample = i;
            model_.fork(seq.id, child.id, i);
            running_.push_back(child.id);
            targets.push_back(child.id);
            seqs_.emplace(child.id, std::move(child));
        }
        seq.num_samples = 1;
    }
    for (const SeqId id : targets) append_token(seqs_.at(id));
}

void Replay::append_token(SimSeq& seq) {
    LabRequest& r = requests_[static_cast<std::size_t>(seq.request)];
    const auto sample = static_cast<std::size_t>(seq.sample);
    const std::vector<std::vector<std::int32_t>>& recorded = r.source->output_token_ids;
    // Recorded outputs hash as the live engine's did; otherwise a token no other sample makes.
    seq.tokens.push_back(recorded.empty() ? -(r.filler_base + seq.sample)
                                          : recorded[sample][static_cast<std::size_t>(seq.num_output())]);
    ++run_.totals.num_generated_tokens;
    if (seq.num_output() < r.output_lens[sample]) return;
    const SeqId id = seq.id;
    running_.erase(std::find(running_.begin(), running_.end(), id));
    model_.free(id);
    seqs_.erase(id);
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
