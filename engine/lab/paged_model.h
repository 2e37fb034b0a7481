#pragma once
// The paged allocator of the lab: the engine's own KvCacheManager (blocks on demand, prefix
// caching, copy-on-write forks), measured after every step.

#include <unordered_map>

#include "engine/lab/kv_model.h"

namespace kvscope::lab {

class PagedModel final : public KvModel {
public:
    // floor(budget_tokens / block_size) blocks. Throws ConfigError when that is none.
    PagedModel(std::int64_t budget_tokens, std::int32_t block_size, bool prefix_caching);

    std::int64_t capacity() const override;
    bool can_ever_fit(const AdmitInfo& info, std::int32_t max_model_len, std::string& why) const override;
    void advance_step() override { kv_.advance_step(); }
    PrefixMatch find_cached_prefix(std::span<const std::int32_t> tokens) const override;
    std::optional<Grant> allocate(SeqId seq, std::int32_t num_new_tokens, const PrefixMatch* match,
                                  const AdmitInfo* admit) override;
    void commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) override;
    void fork(SeqId parent, SeqId child, std::int32_t child_sample) override;
    void free(SeqId seq) override;
    MemoryUse measure(const AdmitInfo* blocked) const override;
    std::int64_t prefix_query_tokens() const override { return kv_.stats().num_prefix_query_tokens; }
    std::int64_t prefix_hit_tokens() const override { return kv_.stats().num_prefix_hit_tokens; }

    const KvCacheManager& kv() const { return kv_; }

private:
    struct Holder {
        std::int32_t num_computed = 0;
        std::vector<std::int32_t> final_kv_lens;  // per sample of its request
        std::int32_t sample = 0;
    };

    KvCacheManager kv_;
    std::unordered_map<SeqId, Holder> holders_;
};

}  // namespace kvscope::lab
