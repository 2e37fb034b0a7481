#include "engine/engine.h"

#include <algorithm>
#include <cstring>

#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope {
namespace {

// No NaN or infinity in the row: an exponent of all ones marks both. Integer bits, so the loop
// vectorises (a float reduction would have to keep its order).
bool all_finite(std::span<const float> row) {
    std::uint32_t non_finite = 0;
    for (const float v : row) {
        std::uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        non_finite |= static_cast<std::uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
    }
    return non_finite == 0;
}

KvCacheConfig kv_config(const EngineConfig& config, const CachePlan& plan) {
    return KvCacheConfig{plan.num_blocks, config.block_size, config.enable_prefix_caching, plan.num_swap_blocks};
}

SchedulerConfig scheduler_config(const EngineConfig& config) {
    return SchedulerConfig{config.max_num_seqs, config.max_num_batched_tokens, config.enable_chunked_prefill,
                           config.preemption_mode == PreemptionMode::Swap};
}

// The prefix-cache key of a request under LoRA slot `slot`: its own key mixed with the adapter's,
// so that two adapters never share blocks (the base model keeps the request's key unchanged).
std::uint64_t lora_cache_key(std::uint64_t key, std::int32_t slot) {
    if (slot < 0) return key;
    std::uint64_t state = key ^ (0x4C6F5241ull << 32 | static_cast<std::uint32_t>(slot));  // "LoRA", slot
    return splitmix64_next(state);
}

double seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

Engine::Engine(std::shared_ptr<const Model> model, const EngineConfig& config)
    : Engine(model, make_backend(*model, config)) {}

Engine::Engine(std::shared_ptr<const Model> model, BackendChoice choice)
    : Engine(std::move(model), choice.config, std::move(choice.backend)) {
    backend_note_ = std::move(choice.note);
}

Engine::Engine(std::shared_ptr<const Model> model, const EngineConfig& config, std::unique_ptr<Backend> backend)
    : model_(std::move(model)),
      config_(config),
      plan_(plan_cache(config_, model_->shape())),
      backend_(std::move(backend)),
      kv_(kv_config(config_, plan_)),
      scheduler_(scheduler_config(config_), kv_) {
    KV_CHECK(backend_->kv_spec().num_blocks == plan_.num_blocks &&
             backend_->kv_spec().block_size == config_.block_size);
    if (plan_.num_swap_blocks > 0 &&
        (!backend_->supports_swap() || backend_->kv_spec().num_swap_blocks != plan_.num_swap_blocks)) {
        throw ConfigError("the " + backend_->name() +
                          " backend has no swap space for preemption by swap; use preemption mode recompute");
    }
    eos_ids_ = model_->tokenizer().eog_ids();
    slot_tokens_.assign(static_cast<std::size_t>(plan_.num_blocks) * static_cast<std::size_t>(config_.block_size), -1);
    block_lora_.assign(static_cast<std::size_t>(plan_.num_blocks), -1);
    sampler_.reserve(model_->shape().vocab_size);
    update_gauges();
}

Engine::~Engine() = default;

Engine::SampleState Engine::make_sample(const RequestState& request, std::int32_t index, SeqId seq) const {
    return SampleState{SequenceRandom(request.seed, static_cast<std::uint64_t>(index)),
                       StopChecker(request.params),
                       StreamingDetokenizer(model_->tokenizer()),
                       seq,
                       FinishReason::none,
                       {}};
}

void Engine::add_lora(const std::string& name, std::shared_ptr<const LoraAdapter> adapter) {
    if (name.empty()) throw ConfigError("a LoRA adapter needs a name");
    if (name == model_->config().name || has_lora(name)) {
        throw ConfigError("the name '" + name + "' is taken (by the base model or another adapter); choose another");
    }
    if (!backend_->supports_lora()) {
        throw ConfigError("the " + backend_->name() + " backend cannot run LoRA adapters; use the CPU backend");
    }
    KV_CHECK(adapter != nullptr &&
             adapter->weights().layers.size() == static_cast<std::size_t>(model_->shape().num_layers));
    backend_->add_lora(adapter->weights());
    loras_.push_back(LoraEntry{name, std::move(adapter)});
}

void Engine::remove_lora(const std::string& name) {
    const auto it = find_lora(name);
    if (it == loras_.end()) throw ConfigError("no LoRA adapter named '" + name + "' is loaded");
    const auto slot = static_cast<std::int32_t>(it - loras_.begin());
    const auto users = std::count_if(requests_.begin(), requests_.end(),
                                     [&](const auto& r) { return r.second.lora_slot == slot; });
    if (users > 0) {
        throw ConfigError("LoRA adapter '" + name + "' is in use by " + std::to_string(users) +
                          (users == 1 ? " unfinished request" : " unfinished requests") +
                          "; abort them or let them finish, then unload it");
    }
    backend_->remove_lora(slot);
    loras_[static_cast<std::size_t>(slot)].adapter.reset();
}

std::vector<std::string> Engine::lora_names() const {
    std::vector<std::string> names;
    for (const LoraEntry& e : loras_) names.push_back(e.adapter ? e.name : e.name + " (unloaded)");
    return names;
}

bool Engine::has_lora(const std::string& name) const {
    return find_lora(name) != loras_.end();
}

std::vector<Engine::LoraEntry>::const_iterator Engine::find_lora(const std::string& name) const {
    return std::find_if(loras_.begin(), loras_.end(),
                        [&](const LoraEntry& e) { return e.adapter != nullptr && e.name == name; });
}

RequestId Engine::add_request(Request request) {
    std::int32_t lora_slot = -1;
    if (!request.lora.empty()) {
        const auto it = find_lora(request.lora);
        if (it == loras_.end()) {
            throw ConfigError("no LoRA adapter named '" + request.lora +
                              "' is loaded; load it first (--lora NAME=PATH)");
        }
        lora_slot = static_cast<std::int32_t>(it - loras_.begin());
    }
    const Tokenizer& tokenizer = model_->tokenizer();
    std::vector<std::int32_t> prompt =
        request.prompt_token_ids.empty()
            ? tokenizer.encode(request.prompt, /*add_special=*/true, /*parse_special=*/true)
            : std::move(request.prompt_token_ids);
    request.params.validate(model_->shape().vocab_size);
    if (prompt.empty()) throw ConfigError("the prompt is empty; give at least one token");
    for (std::int32_t t : prompt) {
        if (t < 0 || t >= model_->shape().vocab_size) {
            throw ConfigError("prompt token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                              std::to_string(model_->shape().vocab_size - 1) + ")");
        }
    }
    const std::int32_t num_prompt = static_cast<std::int32_t>(prompt.size());
    if (num_prompt >= plan_.max_model_len) {
        throw ConfigError("the prompt has " + std::to_string(num_prompt) + " tokens, but the context holds " +
                          std::to_string(plan_.max_model_len) + " (prompt + output); shorten the prompt");
    }
    // The most tokens one sample can reach, and the blocks that takes: more than the cache has
    // would never run.
    const std::int64_t max_len =
        std::min<std::int64_t>(std::int64_t{num_prompt} + request.params.max_tokens, plan_.max_model_len);
    const std::int64_t blocks = (max_len + config_.block_size - 1) / config_.block_size;
    if (blocks > plan_.num_blocks) {
        throw RequestTooLargeError(RequestTooLargeError::Limit::kv_blocks,
                                   "the request needs up to " + std::to_string(blocks) + " KV blocks (" +
                                       std::to_string(max_len) + " tokens) but the cache has " +
                                       std::to_string(plan_.num_blocks),
                                   "raise the KV cache size or lower max_tokens");
    }
    // Without chunked prefill a prompt is computed in one step, and so is a sequence recomputed
    // after preemption (its prompt and output so far): a longer one would wait forever.
    // (The last token is sampled, never computed: a live sequence holds at most max_len - 1.)
    const std::int64_t one_step = std::max<std::int64_t>(num_prompt, max_len - 1);
    if (!config_.enable_chunked_prefill && one_step > config_.max_num_batched_tokens) {
        throw RequestTooLargeError(RequestTooLargeError::Limit::step_tokens,
                                   "the request may need " + std::to_string(one_step) +
                                       " tokens computed in one step, but without chunked prefill a step computes "
                                       "at most max_num_batched_tokens = " +
                                       std::to_string(config_.max_num_batched_tokens),
                                   "enable chunked prefill, raise max_num_batched_tokens or lower max_tokens");
    }
    if (request.params.n > config_.max_num_seqs) {
        throw ConfigError("n = " + std::to_string(request.params.n) + " samples exceed max_num_seqs = " +
                          std::to_string(config_.max_num_seqs) + "; lower n or raise max_num_seqs");
    }

    const RequestId id = next_request_id_++;
    RequestState& state = requests_[id];
    state.id = id;
    state.params = std::move(request.params);
    state.seed = resolve_seed(state.params.seed);
    state.num_prompt_tokens = num_prompt;
    state.num_unfinished = state.params.n;
    state.arrival = Clock::now();
    state.pending.id = id;
    state.lora_slot = lora_slot;

    Sequence seq;
    seq.id = next_seq_id_++;
    seq.request_id = id;
    seq.num_samples = state.params.n;
    seq.priority = request.priority;
    seq.arrival = arrivals_++;
    seq.cache_key = lora_cache_key(request.cache_key, lora_slot);
    seq.lora_slot = lora_slot;
    seq.reads_prefix_cache = !state.params.prompt_logprobs.has_value();
    seq.token_ids = std::move(prompt);
    seq.num_prompt_tokens = num_prompt;
    state.samples.push_back(make_sample(state, 0, seq.id));
    scheduler_.add_waiting(std::move(seq));
    update_gauges();
    return id;
}

bool Engine::abort(RequestId id) {
    auto it = requests_.find(id);
    if (it == requests_.end()) return false;
    RequestState& request = it->second;
    end_all_samples(request, Clock::now());
    request.pending.finished = true;
    finished_outside_step_.push_back(std::move(request.pending));
    requests_.erase(it);
    update_gauges();
    return true;
}

std::vector<RequestOutput> Engine::take_aborted() {
    std::vector<RequestOutput> outputs = std::move(finished_outside_step_);
    finished_outside_step_.clear();
    return outputs;
}

bool Engine::has_work() const {
    return scheduler_.has_work() || !finished_outside_step_.empty();
}

std::vector<RequestId> Engine::request_ids() const {
    std::vector<RequestId> ids;
    for (const auto& [id, request] : requests_) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

bool Engine::reset_prefix_cache() {
    return kv_.reset_prefix_cache();
}

std::vector<std::int32_t> Engine::block_tokens(std::int32_t block_id) const {
    if (block_id < 0 || block_id >= plan_.num_blocks) return {};
    const auto begin = slot_tokens_.begin() + static_cast<std::ptrdiff_t>(block_id) * config_.block_size;
    return std::vector<std::int32_t>(begin, begin + kv_.pool().block(block_id).num_tokens);
}

std::pair<std::int32_t, std::int32_t> Engine::prompt_logprob_rows(const ScheduledSequence& s,
                                                                  const Sequence& seq) const {
    const RequestState& request = requests_.at(seq.request_id);
    if (!request.params.prompt_logprobs) return {0, 0};
    const std::int32_t first = std::max(s.num_computed_tokens, request.next_prompt_logprob);
    const std::int32_t end = std::min(s.num_computed_tokens + s.num_new_tokens, seq.num_prompt_tokens - 1);
    return {first, std::max(first, end)};
}

void Engine::build_forward_batch(const ScheduledBatch& batch) {
    token_ids_.clear();
    positions_.clear();
    slot_mapping_.clear();
    query_start_.assign(1, 0);
    seq_lens_.clear();
    logits_rows_.clear();
    seq_lora_.clear();
    bool any_lora = false;
    std::int32_t max_blocks = 1;
    for (const ScheduledSequence& s : batch.seqs) {
        max_blocks = std::max(max_blocks, kv_.block_table(s.id).num_blocks());
    }
    block_tables_.assign(batch.seqs.size() * static_cast<std::size_t>(max_blocks), -1);
    for (std::size_t i = 0; i < batch.seqs.size(); ++i) {
        const ScheduledSequence& s = batch.seqs[i];
        const Sequence& seq = scheduler_.sequence(s.id);
        for (std::int32_t p = s.num_computed_tokens; p < s.num_computed_tokens + s.num_new_tokens; ++p) {
            token_ids_.push_back(seq.token_ids[static_cast<std::size_t>(p)]);
            positions_.push_back(p);
            slot_mapping_.push_back(kv_.slot(s.id, p));
            slot_tokens_[static_cast<std::size_t>(slot_mapping_.back())] = token_ids_.back();
            block_lora_[static_cast<std::size_t>(slot_mapping_.back() / config_.block_size)] = seq.lora_slot;
        }
        const auto [first_scored, end_scored] = prompt_logprob_rows(s, seq);
        const std::int32_t row0 = query_start_.back() - s.num_computed_tokens;  // row of position 0
        for (std::int32_t p = first_scored; p < end_scored; ++p) logits_rows_.push_back(row0 + p);
        query_start_.push_back(static_cast<std::int32_t>(token_ids_.size()));
        seq_lens_.push_back(s.num_computed_tokens + s.num_new_tokens);
        const auto table = kv_.block_table(s.id).block_ids();
        std::copy(table.begin(), table.end(), block_tables_.begin() + static_cast<std::ptrdiff_t>(i * max_blocks));
        if (s.samples) logits_rows_.push_back(static_cast<std::int32_t>(token_ids_.size()) - 1);
        seq_lora_.push_back(seq.lora_slot);
        any_lora = any_lora || seq.lora_slot >= 0;
    }
    forward_ = ForwardBatch{token_ids_,
                            positions_,
                            slot_mapping_,
                            query_start_,
                            seq_lens_,
                            block_tables_,
                            max_blocks,
                            logits_rows_,
                            any_lora ? std::span<const std::int32_t>(seq_lora_) : std::span<const std::int32_t>()};
    logits_.resize(logits_rows_.size() * static_cast<std::size_t>(model_->shape().vocab_size));
}

std::vector<RequestOutput> Engine::step() {
    std::vector<RequestOutput> outputs = take_aborted();
    const ScheduledBatch batch = scheduler_.schedule();
    metrics_.num_preemptions += static_cast<std::int64_t>(batch.preempted.size());
    // Swaps first, even in a step that computes nothing: blocks swapped out are free from now on.
    backend_->swap_out(batch.swap_out);
    backend_->swap_in(batch.swap_in);
    if (batch.empty()) {
        update_gauges();
        return outputs;
    }
    const Clock::time_point start = Clock::now();
    for (const ScheduledSequence& s : batch.seqs) {
        RequestState& request = requests_.at(scheduler_.sequence(s.id).request_id);
        if (!request.scheduled) {
            request.scheduled = true;
            request.first_scheduled = start;
            metrics_.request_queue_time_seconds.observe(seconds(start - request.arrival));
        }
    }

    // Compute: copy-on-write copies first, then the forward pass over every scheduled token.
    for (const BlockCopy& copy : batch.copies) {
        const auto bs = static_cast<std::ptrdiff_t>(config_.block_size);
        std::copy_n(slot_tokens_.begin() + copy.src * bs, bs, slot_tokens_.begin() + copy.dst * bs);
        block_lora_[static_cast<std::size_t>(copy.dst)] = block_lora_[static_cast<std::size_t>(copy.src)];
    }
    // Blocks swapped back in are fresh ids: they hold their sequence's tokens and adapter's KV.
    if (!batch.swap_in.empty()) {
        for (const ScheduledSequence& s : batch.seqs) {
            const Sequence& seq = scheduler_.sequence(s.id);
            for (const std::int32_t b : kv_.block_table(s.id).block_ids()) {
                block_lora_[static_cast<std::size_t>(b)] = seq.lora_slot;
            }
            for (std::int32_t p = 0; p < s.num_computed_tokens; ++p) {
                slot_tokens_[static_cast<std::size_t>(kv_.slot(s.id, p))] = seq.token_ids[static_cast<std::size_t>(p)];
            }
        }
    }
    build_forward_batch(batch);
    backend_->copy_blocks(batch.copies);
    backend_->forward(forward_, logits_);
    scheduler_.complete_step(batch);
    ++metrics_.num_steps;
    metrics_.iteration_tokens_total.observe(batch.num_tokens);
    for (const ScheduledSequence& s : batch.seqs) {
        const Sequence& seq = scheduler_.sequence(s.id);
        // Prompt tokens computed (a recomputation after preemption counts its prompt part too).
        metrics_.prompt_tokens += std::max(
            0, std::min(s.num_computed_tokens + s.num_new_tokens, seq.num_prompt_tokens) - s.num_computed_tokens);
    }

    // Sample: one token for every sequence whose step reached its last token.
    const Clock::time_point now = Clock::now();
    const std::size_t vocab = static_cast<std::size_t>(model_->shape().vocab_size);
    std::size_t row = 0;
    std::vector<RequestId> broken;  // stays empty (allocates nothing) unless a model misbehaves
    auto check_row = [&](RequestState& request, std::span<const float> logits) {
        if (request.broken || all_finite(logits)) return;
        request.broken = true;
        broken.push_back(request.id);
    };
    for (const ScheduledSequence& s : batch.seqs) {
        Sequence& seq = scheduler_.sequence(s.id);
        RequestState& request = requests_.at(seq.request_id);
        // Prompt logprobs first: their rows come before the sequence's sampling row.
        const auto [first_scored, end_scored] = prompt_logprob_rows(s, seq);
        for (std::int32_t p = first_scored; p < end_scored; ++p) {
            const std::span<const float> scored(logits_.data() + row++ * vocab, vocab);
            check_row(request, scored);
            if (request.broken) continue;
            if (prompt_logits_observer_) prompt_logits_observer_(request.id, p, scored);
            request.pending.prompt_logprobs.push_back(sampler_.score(
                scored, seq.token_ids[static_cast<std::size_t>(p) + 1], *request.params.prompt_logprobs));
        }
        request.next_prompt_logprob = std::max(request.next_prompt_logprob, end_scored);
        if (!s.samples) continue;
        std::span<float> logits(logits_.data() + row++ * vocab, vocab);
        check_row(request, logits);
        if (request.broken) continue;
        // Sample 0 and (after a fork) its new siblings draw from the same logits.
        const bool forks = seq.awaits_fork();
        if (forks) fork_samples(seq, request);
        const std::int32_t first = seq.sample_index;
        const std::int32_t last = forks ? request.params.n : first + 1;
        for (std::int32_t index = first; index < last; ++index) {
            Sequence& target = scheduler_.sequence(request.samples[static_cast<std::size_t>(index)].seq);
            const std::int32_t num_prompt = target.num_prompt_tokens;
            const std::span<const std::int32_t> tokens(target.token_ids);
            const SampleResult result =
                sampler_.sample(logits, request.params, request.samples[static_cast<std::size_t>(index)].random,
                                tokens.first(static_cast<std::size_t>(num_prompt)),
                                tokens.subspan(static_cast<std::size_t>(num_prompt)));
            append_token(target, request, result, now);
        }
    }

    // A request whose logits were NaN or infinite ends with the reason; the others go on.
    for (const RequestId id : broken) {
        RequestState& request = requests_.at(id);
        request.pending.error =
            "the model's output (logits) for this request is not finite (NaN or infinity) at output token " +
            std::to_string(request.num_generation_tokens) +
            ": the weights are corrupt or overflow in this format; check the file (kvscope-cli info) or use "
            "another one";
        end_all_samples(request, now);
    }

    // Collect the news.
    for (auto it = requests_.begin(); it != requests_.end();) {
        RequestState& request = it->second;
        if (!request.pending.samples.empty() || request.num_unfinished == 0) {
            request.pending.finished = request.num_unfinished == 0;
            outputs.push_back(std::move(request.pending));
            request.pending = RequestOutput{};
            request.pending.id = request.id;
        }
        it = request.num_unfinished == 0 ? requests_.erase(it) : std::next(it);
    }
    update_gauges();
    return outputs;
}

void Engine::fork_samples(Sequence& parent, RequestState& request) {
    for (std::int32_t index = 1; index < request.params.n; ++index) {
        Sequence child = parent;
        child.id = next_seq_id_++;
        child.sample_index = index;
        kv_.fork(parent.id, child.id);
        request.samples.push_back(make_sample(request, index, child.id));
        scheduler_.add_running(std::move(child));
    }
    parent.num_samples = 1;  // forked: it no longer awaits a fork
}

SequenceOutput& Engine::pending_output(RequestState& request, std::int32_t index) {
    for (SequenceOutput& out : request.pending.samples) {
        if (out.index == index) return out;
    }
    SequenceOutput& out = request.pending.samples.emplace_back();
    out.index = index;
    return out;
}

void Engine::append_token(Sequence& seq, RequestState& request, const SampleResult& result, Clock::time_point now) {
    SampleState& sample = request.samples[static_cast<std::size_t>(seq.sample_index)];
    seq.token_ids.push_back(result.token);
    ++metrics_.generation_tokens;
    ++request.num_generation_tokens;
    if (!request.has_token) {
        request.has_token = true;
        request.first_token = now;
        metrics_.time_to_first_token_seconds.observe(seconds(now - request.arrival));
    } else if (sample.last_token_time != Clock::time_point{}) {
        metrics_.inter_token_latency_seconds.observe(seconds(now - sample.last_token_time));
    }
    sample.last_token_time = now;

    SequenceOutput& out = pending_output(request, seq.sample_index);
    out.new_token_ids.push_back(result.token);
    if (request.params.logprobs) out.logprobs.push_back(result);

    // Text: detokenise, then let the stop strings decide what may be shown.
    const bool is_eos = std::find(eos_ids_.begin(), eos_ids_.end(), result.token) != eos_ids_.end();
    std::string delta;
    if (!is_eos) sample.detokenizer.push(result.token, delta);
    const StopMatch stop = sample.stop.feed(delta, out.text_delta);
    const bool context_full = seq.num_tokens() >= plan_.max_model_len;
    TokenFinish finish =
        check_token_finish(result.token, seq.num_output_tokens(), context_full, request.params, eos_ids_);
    if (stop.stopped) {
        finish.reason = FinishReason::stop;
        out.stop_string = request.params.stop[static_cast<std::size_t>(stop.stop_index)];
    } else if (finish.reason == FinishReason::stop && finish.stop_token_id >= 0) {
        out.stop_token = finish.stop_token_id;
    }
    if (finish.reason == FinishReason::none) return;
    if (!stop.stopped) {
        std::string rest;
        sample.detokenizer.flush(rest);
        sample.stop.feed(rest, out.text_delta);
        sample.stop.flush(out.text_delta);
    }
    finish_sample(request, sample, finish.reason, now);
}

void Engine::finish_sample(RequestState& request, SampleState& sample, FinishReason reason, Clock::time_point now) {
    const Sequence& seq = scheduler_.sequence(sample.seq);
    const std::int32_t index = seq.sample_index;
    request.pending.timings.num_preemptions += seq.num_preemptions;
    if (seq.sample_index == 0) request.pending.timings.num_cached_tokens = seq.num_cached_tokens;
    if (trace_capacity_ > 0) record_sample(request, seq);
    scheduler_.remove(sample.seq);
    sample.finish = reason;
    pending_output(request, index).finish_reason = reason;
    --request.num_unfinished;
    switch (reason) {
        case FinishReason::stop:
            ++metrics_.request_success_stop;
            break;
        case FinishReason::length:
            ++metrics_.request_success_length;
            break;
        case FinishReason::abort:
            ++metrics_.request_success_abort;
            break;
        case FinishReason::none:
            break;
    }
    if (request.num_unfinished == 0) complete_request(request, now);
}

void Engine::end_all_samples(RequestState& request, Clock::time_point now) {
    for (SampleState& sample : request.samples) {
        if (sample.finish == FinishReason::none) finish_sample(request, sample, FinishReason::abort, now);
    }
    // Samples not forked yet end too.
    if (request.num_unfinished > 0) {
        for (std::int32_t index = static_cast<std::int32_t>(request.samples.size()); index < request.params.n;
             ++index) {
            pending_output(request, index).finish_reason = FinishReason::abort;
        }
        request.num_unfinished = 0;
        complete_request(request, now);
    }
}

void Engine::complete_request(RequestState& request, Clock::time_point now) {
    RequestTimings& t = request.pending.timings;
    t.num_prompt_tokens = request.num_prompt_tokens;
    t.num_generation_tokens = request.num_generation_tokens;
    t.e2e_latency = seconds(now - request.arrival);
    if (request.scheduled) t.queue_time = seconds(request.first_scheduled - request.arrival);
    if (request.has_token) {
        t.time_to_first_token = seconds(request.first_token - request.arrival);
        t.prefill_time = seconds(request.first_token - request.first_scheduled);
        t.decode_time = seconds(now - request.first_token);
        metrics_.request_prefill_time_seconds.observe(t.prefill_time);
        metrics_.request_decode_time_seconds.observe(t.decode_time);
    }
    metrics_.e2e_request_latency_seconds.observe(t.e2e_latency);
    metrics_.request_prompt_tokens.observe(t.num_prompt_tokens);
    metrics_.request_generation_tokens.observe(t.num_generation_tokens);
    if (trace_capacity_ > 0) record_request(request);
}

void Engine::record_trace(std::size_t capacity) {
    trace_capacity_ = capacity;
    if (capacity == 0) trace_.clear();
    while (trace_.size() > capacity) trace_.pop_front();
}

std::vector<TraceRequest> Engine::take_trace() {
    std::vector<TraceRequest> out(std::make_move_iterator(trace_.begin()), std::make_move_iterator(trace_.end()));
    trace_.clear();
    std::stable_sort(out.begin(), out.end(),
                     [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
    return out;
}

void Engine::record_sample(RequestState& request, const Sequence& seq) {
    TraceRequest& t = request.trace;
    if (t.output_lens.empty()) {
        t.arrival_s = seconds(request.arrival - created_);
        t.prompt_token_ids.assign(seq.token_ids.begin(), seq.token_ids.begin() + seq.num_prompt_tokens);
        t.prompt_len = seq.num_prompt_tokens;
        t.priority = seq.priority;
        t.output_lens.assign(static_cast<std::size_t>(request.params.n), 0);
        t.output_token_ids.resize(static_cast<std::size_t>(request.params.n));
    }
    const auto index = static_cast<std::size_t>(seq.sample_index);
    t.output_lens[index] = seq.num_output_tokens();
    t.output_token_ids[index].assign(seq.token_ids.begin() + seq.num_prompt_tokens, seq.token_ids.end());
}

void Engine::record_request(RequestState& request) {
    TraceRequest& t = request.trace;
    // Samples that never produced a token (aborted before it, or never forked) never held KV of
    // their own: the trace keeps the samples that did, in index order.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < t.output_lens.size(); ++i) {
        if (t.output_lens[i] == 0) continue;
        if (kept != i) {
            t.output_lens[kept] = t.output_lens[i];
            t.output_token_ids[kept] = std::move(t.output_token_ids[i]);
        }
        ++kept;
    }
    t.output_lens.resize(kept);
    t.output_token_ids.resize(kept);
    if (kept == 0) return;
    trace_.push_back(std::move(t));
    while (trace_.size() > trace_capacity_) trace_.pop_front();
}

void Engine::update_gauges() {
    const KvCacheStats stats = kv_.stats();
    metrics_.num_requests_running = scheduler_.num_running();
    metrics_.num_requests_waiting = scheduler_.num_waiting();
    metrics_.num_requests_swapped = scheduler_.num_swapped();
    metrics_.kv_cache_usage_perc = stats.usage();
    metrics_.kv_fragmentation = stats.fragmentation();
    metrics_.num_shared_blocks = stats.num_shared_blocks;
    metrics_.sharing_saved_bytes = stats.num_saved_blocks * static_cast<std::int64_t>(plan_.block_bytes);
    metrics_.prefix_cache_queries = stats.num_prefix_query_tokens;
    metrics_.prefix_cache_hits = stats.num_prefix_hit_tokens;
}

EngineSnapshot Engine::snapshot(SnapshotDetail detail, const EngineSnapshot* previous) const {
    EngineSnapshot snap;
    snap.detail = detail;
    snap.step = kv_.step();
    snap.block_bytes = plan_.block_bytes;
    if (detail == SnapshotDetail::Full) {
        kv_.snapshot_into(snap.kv, previous && previous->detail == SnapshotDetail::Full ? &previous->kv : nullptr);
        // Left empty while no block that is not free holds an adapter's KV (the usual case).
        bool any_lora = false;
        for (std::size_t b = 0; b < block_lora_.size() && !any_lora; ++b)
            any_lora = block_lora_[b] >= 0 && snap.kv.blocks[b].state != BlockState::Free;
        if (any_lora) {
            snap.block_loras = block_lora_;
            for (const KvBlockInfo& b : snap.kv.blocks) {
                if (b.state == BlockState::Free) snap.block_loras[static_cast<std::size_t>(b.id)] = -1;
            }
        }
    } else {
        snap.kv.stats = kv_.stats();
    }
    snap.metrics = metrics_;
    snap.loras = lora_names();
    for (const auto& [id, request] : requests_) {
        for (const SampleState& sample : request.samples) {
            if (sample.finish != FinishReason::none || !scheduler_.contains(sample.seq)) continue;
            const Sequence& seq = scheduler_.sequence(sample.seq);
            snap.sequences.push_back({seq.id, seq.request_id, seq.sample_index, seq.status, seq.priority,
                                      seq.num_prompt_tokens, seq.num_tokens(), seq.num_computed_tokens,
                                      seq.num_cached_tokens, seq.num_preemptions, seq.lora_slot});
        }
    }
    std::sort(snap.sequences.begin(), snap.sequences.end(),
              [](const SequenceSnapshot& a, const SequenceSnapshot& b) { return a.id < b.id; });
    return snap;
}

}  // namespace kvscope
