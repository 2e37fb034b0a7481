#pragma once
// Contiguous pre-allocation, as the systems before PagedAttention did it (Orca, in the paper's
// three variants): when a request is admitted, every sample gets one contiguous region of the
// address space (first fit), sized by what the system assumes about its length, and keeps it
// until it finishes. Nothing is shared: each sample of n > 1 holds its own copy of the prompt.
//   max     max_model_len slots
//   pow2    prompt + the next power of two >= the output length (at most max_model_len)
//   oracle  prompt + the output length, exactly
// A region never grows, so a running request is never preempted; a request waits until a hole
// holds its region.

#include <unordered_map>
#include <vector>

#include "engine/lab/first_fit.h"
#include "engine/lab/kv_model.h"

namespace kvscope::lab {

class ContiguousModel final : public KvModel {
public:
    // `kind` is one of the Orca kinds. Throws ConfigError for a budget below one token.
    ContiguousModel(std::int64_t budget_tokens, AllocatorSpec::Kind kind, std::int32_t max_model_len);

    // Slots reserved for sample `i` of the request.
    std::int64_t region_size(const AdmitInfo& info, std::int32_t i) const;

    std::int64_t capacity() const override { return space_.capacity(); }
    bool can_ever_fit(const AdmitInfo& info, std::int32_t max_model_len, std::string& why) const override;
    std::optional<Grant> allocate(SeqId seq, std::int32_t num_new_tokens, const PrefixMatch* match,
                                  const AdmitInfo* admit) override;
    void commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) override;
    void fork(SeqId parent, SeqId child, std::int32_t child_sample) override;
    void free(SeqId seq) override;
    MemoryUse measure(const AdmitInfo* blocked) const override;

    const FirstFitSpace& space() const { return space_; }

private:
    struct Region {
        std::int64_t offset = 0;
        std::int64_t size = 0;
        std::int32_t sample = 0;
        std::int32_t num_computed = 0;  // KV written
        std::int32_t final_len = 0;     // KV the sample ever holds
    };

    // Whether the request's regions can be placed now.
    bool fits(const AdmitInfo& info) const;

    AllocatorSpec::Kind kind_;
    std::int32_t max_model_len_;
    FirstFitSpace space_;
    std::unordered_map<SeqId, Region> regions_;
    // Regions placed at admission for samples not forked yet, by the sequence that will fork them.
    std::unordered_map<SeqId, std::vector<Region>> pending_;
};

}  // namespace kvscope::lab
