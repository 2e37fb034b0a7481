#pragma once
// What goes into the engine (Request) and what comes out of each step (RequestOutput).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "engine/stop_checker.h"

namespace kvscope {

using RequestId = std::int64_t;

struct Request {
    std::string prompt;  // text, tokenised with the model's BOS rules; "<|im_start|>" & co. are those tokens
    std::vector<std::int32_t> prompt_token_ids;  // used instead of `prompt` when not empty
    SamplingParams params;
    std::int32_t priority = 0;    // lower is served first, as vLLM's priority scheduling; ties: arrival
    std::uint64_t cache_key = 0;  // extra key of the prefix-cache hashes (e.g. an adapter id)
    std::string lora;             // name of a LoRA adapter added with Engine::add_lora; empty: the base model
};

// Seconds, measured on the engine's steady clock.
struct RequestTimings {
    double queue_time = 0;           // arrival -> first scheduled
    double time_to_first_token = 0;  // arrival -> first token of the first sample
    double e2e_latency = 0;          // arrival -> finished
    double prefill_time = 0;         // first scheduled -> first token
    double decode_time = 0;          // first token -> finished
    std::int32_t num_prompt_tokens = 0;
    std::int32_t num_cached_tokens = 0;      // prompt tokens served from the prefix cache (first sample)
    std::int32_t num_generation_tokens = 0;  // over all samples
    std::int32_t num_preemptions = 0;        // over all samples
};

// One sample's news from one step.
struct SequenceOutput {
    std::int32_t index = 0;                   // sample index within the request, 0..n-1
    std::vector<std::int32_t> new_token_ids;  // usually one
    std::string text_delta;                   // new text, valid UTF-8 (stop strings held back)
    std::vector<SampleResult> logprobs;       // per new token, when the request asked for logprobs
    FinishReason finish_reason = FinishReason::none;
    // What ended a `stop` other than EOS (vLLM's stop_reason): the matched stop string, or the
    // stop_token_ids entry; neither for EOS or another reason.
    std::optional<std::string> stop_string;
    std::optional<std::int32_t> stop_token;
    bool finished() const { return finish_reason != FinishReason::none; }
};

struct RequestOutput {
    RequestId id = 0;
    std::vector<SequenceOutput> samples;  // the samples with news this step
    // When the request asked for prompt_logprobs: entry i scores prompt token i + 1 (the first has
    // nothing before it). They all come in the request's first output (the step that samples its
    // first token), or in the abort's output if it never got that far.
    std::vector<SampleResult> prompt_logprobs;
    bool finished = false;                // every sample has finished (or the request was aborted)
    // Why the engine ended the request itself (its samples finish as `abort`): the model's logits
    // were not finite. Empty otherwise.
    std::string error;
    RequestTimings timings;               // filled when finished
};

}  // namespace kvscope
