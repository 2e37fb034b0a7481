#pragma once
// The allocator seen by the lab's serving loop (engine/lab/replay.h): KvCacheManager's calls,
// so that the paged model is the engine's own block manager and the contiguous ones answer the
// same questions. A sequence's life is the engine's:
//   allocate(seq, n, &match, &admit)   first call (admission, or re-admission after preemption)
//   commit(seq, tokens, computed)      after each step that computed some of its tokens
//   allocate(seq, 1, nullptr, nullptr) each later step (decode), commit again
//   fork(seq, child, sample)           n > 1, after the prompt's step
//   free(seq)                          finished or preempted

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "engine/kv_cache_manager.h"
#include "engine/lab/lab_config.h"
#include "engine/lab/lab_result.h"
#include "engine/seq_id.h"

namespace kvscope::lab {

// What an allocator learns about a sequence when it first asks for memory. Contiguous
// allocators size their reservations from it (the oracle knows the output length).
struct AdmitInfo {
    std::int32_t num_prompt_tokens = 0;
    std::span<const std::int32_t> output_lens;  // per sample of the request (already cut at max_model_len)
    std::int32_t sample_index = 0;              // this sequence's sample
    bool reserve_siblings = false;              // n > 1 and not forked yet: every sample is placed now

    // Tokens whose KV sample `i` ever holds: the prompt and every output token but the last,
    // which finishes the sample as it is sampled, before any step computes its KV.
    std::int32_t final_kv_len(std::int32_t i) const {
        return num_prompt_tokens + output_lens[static_cast<std::size_t>(i)] - 1;
    }
};

struct Grant {
    std::int32_t num_computed_tokens = 0;  // KV already present (a prefix-cache hit)
    std::int32_t num_cached_tokens = 0;    // of those, taken from the prefix cache by this call
};

class KvModel {
public:
    virtual ~KvModel() = default;

    virtual std::int64_t capacity() const = 0;  // slots
    // False when the request could not run even alone in an empty cache; `why` says why.
    virtual bool can_ever_fit(const AdmitInfo& info, std::int32_t max_model_len, std::string& why) const = 0;
    virtual void advance_step() {}
    virtual PrefixMatch find_cached_prefix(std::span<const std::int32_t> tokens) const {
        (void)tokens;
        return {};
    }
    // All or nothing, as KvCacheManager::allocate_slots: nullopt (nothing changed) when memory
    // is short. `match` and `admit` are given on a sequence's first call only.
    virtual std::optional<Grant> allocate(SeqId seq, std::int32_t num_new_tokens, const PrefixMatch* match,
                                          const AdmitInfo* admit) = 0;
    virtual void commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) = 0;
    virtual void fork(SeqId parent, SeqId child, std::int32_t child_sample) = 0;
    virtual void free(SeqId seq) = 0;

    // Where the memory is now. `blocked` is the waiting request that the last admission could
    // not place for lack of memory (nullptr if none): free memory it still cannot be placed in
    // is external fragmentation.
    virtual MemoryUse measure(const AdmitInfo* blocked) const = 0;
    // Prompt tokens looked up in / found in the prefix cache so far.
    virtual std::int64_t prefix_query_tokens() const { return 0; }
    virtual std::int64_t prefix_hit_tokens() const { return 0; }
};

// The model of `spec` under `config`'s budget. Throws ConfigError for an invalid spec or a
// budget that buys no block.
std::unique_ptr<KvModel> make_kv_model(const AllocatorSpec& spec, const LabConfig& config);

}  // namespace kvscope::lab
