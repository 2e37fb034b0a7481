#pragma once
// One sample of a request as the scheduler sees it: its tokens and how many of them have KV in
// the cache. A request with n > 1 samples starts as one sequence; after its prompt is computed
// the engine forks n - 1 more that share the prompt's blocks.

#include <cstdint>
#include <vector>

#include "engine/request.h"
#include "engine/seq_id.h"

namespace kvscope {

enum class SequenceStatus {
    Waiting,  // not started, or preempted by recompute
    Running,
    Swapped,  // preempted by swap: its KV waits in the swap space
};

struct Sequence {
    SeqId id = 0;
    RequestId request_id = 0;
    std::int32_t sample_index = 0;  // 0..n-1 within its request
    std::int32_t num_samples = 1;   // n of the request: sample 0 forks the others after its prompt
    std::int32_t priority = 0;      // lower first
    std::int64_t arrival = 0;       // request arrival order (FCFS tie-break)
    std::uint64_t cache_key = 0;
    bool reads_prefix_cache = true;  // false: computes its whole prompt (prompt logprobs need every row)
    std::int32_t lora_slot = -1;  // the backend's LoRA slot, -1: none
    std::vector<std::int32_t> token_ids;  // prompt, then generated tokens
    std::int32_t num_prompt_tokens = 0;
    std::int32_t num_computed_tokens = 0;  // tokens whose KV is in the cache
    std::int32_t num_cached_tokens = 0;    // prompt tokens the prefix cache served at admission
    SequenceStatus status = SequenceStatus::Waiting;
    std::int32_t num_preemptions = 0;

    std::int32_t num_tokens() const { return static_cast<std::int32_t>(token_ids.size()); }
    std::int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
    // Tokens still to compute before the next sample.
    std::int32_t num_uncomputed_tokens() const { return num_tokens() - num_computed_tokens; }
    // True until sample 0 has forked its siblings (after the prompt's first step that samples).
    bool awaits_fork() const { return sample_index == 0 && num_samples > 1 && num_output_tokens() == 0; }
};

}  // namespace kvscope
