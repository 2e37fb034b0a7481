#pragma once
// The engine: the one object the outside world calls. It ties the model, the backend, the KV
// cache manager, the scheduler and the sampler together. Not thread-safe by itself: one thread
// drives it (the CLI's loop, the workbench's EngineWorker, the server's engine thread).
//
//   Engine engine(model, config);
//   RequestId id = engine.add_request(request);
//   while (engine.has_work()) for (RequestOutput& out : engine.step()) ...;

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/backend_factory.h"
#include "engine/config.h"
#include "engine/detokenizer.h"
#include "engine/kv_cache_manager.h"
#include "engine/lora_adapter.h"
#include "engine/metrics.h"
#include "engine/model.h"
#include "engine/request.h"
#include "engine/rng.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/snapshot.h"
#include "engine/stop_checker.h"
#include "engine/trace.h"
#include "kernels/backend.h"

namespace kvscope {

class Engine {
public:
    // Runs on the backend config.backend names (make_backend: the CPU unless CUDA is asked for
    // and present). Throws ConfigError for a configuration the model cannot use.
    Engine(std::shared_ptr<const Model> model, const EngineConfig& config);
    // Runs on a backend make_backend chose (its note is kept for backend_note()).
    Engine(std::shared_ptr<const Model> model, BackendChoice choice);
    // Runs on the given backend (built for the same model and for plan_cache(config)'s blocks).
    Engine(std::shared_ptr<const Model> model, const EngineConfig& config, std::unique_ptr<Backend> backend);
    ~Engine();

    // Registers a LoRA adapter (loaded for this engine's model) under `name`, for requests that
    // name it (Request::lora). Throws ConfigError for an empty or taken name, or a backend
    // without LoRA support.
    void add_lora(const std::string& name, std::shared_ptr<const LoraAdapter> adapter);
    // Unloads the adapter `name` and releases the backend's copy. Throws ConfigError when no
    // adapter of that name is loaded, or while requests that use it are unfinished (abort them or
    // let them finish first). Its slot is not given out again: prefixes cached under it can never
    // be hit, and their blocks go as the cache needs room.
    void remove_lora(const std::string& name);
    // Every adapter's name by backend slot, in the order added (EngineSnapshot::loras); an
    // unloaded one's name is followed by " (unloaded)".
    std::vector<std::string> lora_names() const;
    // Whether an adapter of that name is loaded now.
    bool has_lora(const std::string& name) const;

    // Queues a request. Throws ConfigError when it is invalid or can never run here (a prompt
    // longer than the context, more KV than the whole cache, n above max_num_seqs), saying why.
    RequestId add_request(Request request);
    // Stops a request at once and frees its blocks; the next step() reports it finished with
    // FinishReason::abort. Returns false for an unknown or finished request.
    bool abort(RequestId id);
    // The reports of the requests aborted since the last step(), taken now, without a step (a
    // front end whose stepping is paused still shows its aborts at once); step() then does not
    // report them again.
    std::vector<RequestOutput> take_aborted();

    // Runs one scheduling step and returns the news of every request that has some.
    std::vector<RequestOutput> step();
    bool has_work() const;
    // Requests added and not yet finished, ascending.
    std::vector<RequestId> request_ids() const;

    // With `previous`, an earlier snapshot of this engine, a full snapshot shares with it every
    // chunk of blocks in which nothing changed since (KvBlockList): what a frequent reader of a
    // large cache (the workbench) passes to pay for what changed rather than for every block.
    EngineSnapshot snapshot(SnapshotDetail detail = SnapshotDetail::Full,
                            const EngineSnapshot* previous = nullptr) const;
    const EngineMetrics& metrics() const { return metrics_; }
    const Model& model() const { return *model_; }
    const EngineConfig& config() const { return config_; }
    const CachePlan& cache_plan() const { return plan_; }
    std::string backend_name() const { return backend_->name(); }
    // Why the engine runs on the CPU although CUDA was asked for (or auto); empty otherwise.
    const std::string& backend_note() const { return backend_note_; }
    // Forgets cached prefixes (only when no request holds blocks). Returns false otherwise.
    bool reset_prefix_cache();
    // The token ids whose KV block `block_id` holds, in slot order: its filled slots while it is
    // active, the whole block while it is cached, nothing while it is free (its contents are
    // garbage then). For inspectors: a snapshot carries no token ids, so that it stays small.
    std::vector<std::int32_t> block_tokens(std::int32_t block_id) const;

    // Called during step() with the logits of every prompt row scored for prompt logprobs (row p
    // predicts prompt token p + 1), before the scores go out: for evaluations that need the whole
    // distribution (KL divergence). An empty function: none (the default).
    using PromptLogitsObserver =
        std::function<void(RequestId id, std::int32_t position, std::span<const float> logits)>;
    void observe_prompt_logits(PromptLogitsObserver observer) { prompt_logits_observer_ = std::move(observer); }

    // Trace recording, for the memory lab (off by default): while `capacity` > 0, each request
    // that finishes (or is aborted) after at least one token is kept as a TraceRequest — arrival
    // (seconds since the engine was made), prompt ids, priority, and every sample that produced
    // a token with its output ids — the oldest dropped beyond `capacity`. 0 turns it off and
    // drops what was kept.
    void record_trace(std::size_t capacity);
    // The requests recorded since the last call, in arrival order; the list starts empty again.
    std::vector<TraceRequest> take_trace();

private:
    using Clock = std::chrono::steady_clock;

    struct SampleState {
        SequenceRandom random;
        StopChecker stop;
        StreamingDetokenizer detokenizer;
        SeqId seq = -1;
        FinishReason finish = FinishReason::none;
        Clock::time_point last_token_time{};
    };
    struct RequestState {
        RequestId id = 0;
        SamplingParams params;
        std::uint64_t seed = 0;
        std::int32_t num_prompt_tokens = 0;
        std::int32_t num_unfinished = 0;
        Clock::time_point arrival{}, first_scheduled{}, first_token{};
        bool scheduled = false, has_token = false;
        std::int32_t lora_slot = -1;
        std::vector<SampleState> samples;  // created as sequences are (sample 0 at add, the rest at fork)
        RequestOutput pending;             // news of the current step
        std::int32_t num_generation_tokens = 0;
        std::int32_t next_prompt_logprob = 0;  // the first prompt position not scored yet
        TraceRequest trace;  // filled as samples finish, while recording
        bool broken = false;  // its logits were not finite this step: it fails at the step's end
    };

    SampleState make_sample(const RequestState& request, std::int32_t index, SeqId seq) const;
    void build_forward_batch(const ScheduledBatch& batch);
    // The prompt positions [first, second) whose logits score the next prompt token this step:
    // the step's rows below the prompt's last that were not scored before (a recomputation after
    // preemption scores nothing twice). Empty unless the request asked for prompt logprobs.
    std::pair<std::int32_t, std::int32_t> prompt_logprob_rows(const ScheduledSequence& s, const Sequence& seq) const;
    void fork_samples(Sequence& parent, RequestState& request);
    void append_token(Sequence& seq, RequestState& request, const SampleResult& sample, Clock::time_point now);
    void finish_sample(RequestState& request, SampleState& sample, FinishReason reason, Clock::time_point now);
    // Ends every unfinished sample (those not forked yet too) with FinishReason::abort.
    void end_all_samples(RequestState& request, Clock::time_point now);
    // Every sample has finished: the request's timings and request-level metrics.
    void complete_request(RequestState& request, Clock::time_point now);
    SequenceOutput& pending_output(RequestState& request, std::int32_t index);
    void update_gauges();
    // Recording: keeps a finished sample's output, and the request once complete.
    void record_sample(RequestState& request, const Sequence& seq);
    void record_request(RequestState& request);

    std::shared_ptr<const Model> model_;
    EngineConfig config_;
    CachePlan plan_;
    std::unique_ptr<Backend> backend_;
    std::string backend_note_;
    KvCacheManager kv_;
    Scheduler scheduler_;
    Sampler sampler_;
    EngineMetrics metrics_;
    std::vector<std::int32_t> eos_ids_;

    struct LoraEntry {
        std::string name;
        std::shared_ptr<const LoraAdapter> adapter;  // null once unloaded
    };
    // The loaded adapter called `name`, or loras_.end().
    std::vector<LoraEntry>::const_iterator find_lora(const std::string& name) const;
    std::vector<LoraEntry> loras_;  // by backend slot

    std::unordered_map<RequestId, RequestState> requests_;
    std::vector<RequestOutput> finished_outside_step_;  // aborts, reported by the next step()
    RequestId next_request_id_ = 1;
    SeqId next_seq_id_ = 1;
    std::int64_t arrivals_ = 0;
    const Clock::time_point created_ = Clock::now();
    PromptLogitsObserver prompt_logits_observer_;
    std::size_t trace_capacity_ = 0;
    std::deque<TraceRequest> trace_;

    // The step's forward batch, reused between steps (no allocation once warmed up).
    std::vector<std::int32_t> token_ids_, positions_, query_start_, seq_lens_, block_tables_, logits_rows_, seq_lora_;
    std::vector<std::int64_t> slot_mapping_;
    // The token id written into every KV slot (num_blocks * block_size), mirrored as the backend
    // writes K and V and copies blocks: what block_tokens() reads.
    std::vector<std::int32_t> slot_tokens_;
    // The LoRA slot of the sequence that last wrote each block (-1: the base model): the
    // snapshot's block_loras.
    std::vector<std::int32_t> block_lora_;
    std::vector<float> logits_;
    ForwardBatch forward_;
};

}  // namespace kvscope
