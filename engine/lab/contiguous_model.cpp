#include "engine/lab/contiguous_model.h"

#include <algorithm>

#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope::lab {
namespace {

std::int64_t next_pow2(std::int64_t v) {
    std::int64_t p = 1;
    while (p < v) p *= 2;
    return p;
}

std::int64_t checked_budget(std::int64_t budget_tokens) {
    if (budget_tokens < 1) throw ConfigError("the KV budget must be at least 1 token");
    return budget_tokens;
}

}  // namespace

ContiguousModel::ContiguousModel(std::int64_t budget_tokens, AllocatorSpec::Kind kind, std::int32_t max_model_len)
    : kind_(kind), max_model_len_(max_model_len), space_(checked_budget(budget_tokens)) {
    KV_CHECK(kind != AllocatorSpec::Kind::Paged);
}

std::int64_t ContiguousModel::region_size(const AdmitInfo& info, std::int32_t i) const {
    const std::int64_t prompt = info.num_prompt_tokens;
    const std::int64_t output = info.output_lens[static_cast<std::size_t>(i)];
    switch (kind_) {
        case AllocatorSpec::Kind::OrcaMax:
            return max_model_len_;
        case AllocatorSpec::Kind::OrcaPow2:
            return std::max(prompt + output, std::min<std::int64_t>(prompt + next_pow2(output), max_model_len_));
        case AllocatorSpec::Kind::OrcaOracle:
        case AllocatorSpec::Kind::Paged:
            break;
    }
    return prompt + output;
}

bool ContiguousModel::can_ever_fit(const AdmitInfo& info, std::int32_t /*max_model_len*/, std::string& why) const {
    std::int64_t total = 0;
    for (std::int32_t i = 0; i < static_cast<std::int32_t>(info.output_lens.size()); ++i) total += region_size(info, i);
    if (total <= capacity()) return true;
    why = "needs " + std::to_string(total) + " contiguous slots, the budget is " + std::to_string(capacity());
    return false;
}

bool ContiguousModel::fits(const AdmitInfo& info) const {
    FirstFitSpace trial = space_;
    for (std::int32_t i = 0; i < static_cast<std::int32_t>(info.output_lens.size()); ++i) {
        if (i != info.sample_index && !info.reserve_siblings) continue;
        if (!trial.allocate(region_size(info, i))) return false;
    }
    return true;
}

std::optional<Grant> ContiguousModel::allocate(SeqId seq, std::int32_t num_new_tokens, const PrefixMatch* /*match*/,
                                               const AdmitInfo* admit) {
    if (admit) {
        KV_CHECK(!regions_.contains(seq) && !pending_.contains(seq));
        // The sequence's own sample, then (n > 1, before the fork) every sibling: all or nothing.
        std::vector<Region> placed;
        std::vector<std::int32_t> samples = {admit->sample_index};
        if (admit->reserve_siblings) {
            for (std::int32_t i = 0; i < static_cast<std::int32_t>(admit->output_lens.size()); ++i) {
                if (i != admit->sample_index) samples.push_back(i);
            }
        }
        for (const std::int32_t i : samples) {
            const std::int64_t size = region_size(*admit, i);
            const std::optional<std::int64_t> offset = space_.allocate(size);
            if (!offset) {
                for (const Region& r : placed) space_.release(r.offset);
                return std::nullopt;
            }
            placed.push_back({*offset, size, i, 0, admit->final_kv_len(i)});
        }
        regions_.emplace(seq, placed.front());
        if (placed.size() > 1) pending_.emplace(seq, std::vector<Region>(placed.begin() + 1, placed.end()));
    }
    const Region& region = regions_.at(seq);
    KV_CHECK_MSG(region.num_computed + num_new_tokens <= region.size, "a contiguous region cannot grow");
    return Grant{region.num_computed, 0};
}

void ContiguousModel::commit(SeqId seq, std::span<const std::int32_t> /*token_ids*/, std::int32_t num_computed_tokens) {
    Region& region = regions_.at(seq);
    KV_CHECK(num_computed_tokens >= region.num_computed && num_computed_tokens <= region.size);
    region.num_computed = num_computed_tokens;
}

void ContiguousModel::fork(SeqId parent, SeqId child, std::int32_t child_sample) {
    std::vector<Region>& pending = pending_.at(parent);
    const auto it =
        std::find_if(pending.begin(), pending.end(), [&](const Region& r) { return r.sample == child_sample; });
    KV_CHECK_MSG(it != pending.end(), "fork of a sample that has no region");
    Region region = *it;
    pending.erase(it);
    if (pending.empty()) pending_.erase(parent);
    region.num_computed = regions_.at(parent).num_computed;  // the prompt's KV, copied
    regions_.emplace(child, region);
}

void ContiguousModel::free(SeqId seq) {
    const auto it = regions_.find(seq);
    KV_CHECK(it != regions_.end());
    space_.release(it->second.offset);
    regions_.erase(it);
    if (const auto p = pending_.find(seq); p != pending_.end()) {
        for (const Region& r : p->second) space_.release(r.offset);
        pending_.erase(p);
    }
}

MemoryUse ContiguousModel::measure(const AdmitInfo* blocked) const {
    MemoryUse m;
    m.capacity = capacity();
    auto add = [&](const Region& r) {
        m.token += r.num_computed;
        m.reserved += r.final_len - r.num_computed;
        m.internal += r.size - r.final_len;
    };
    for (const auto& [id, region] : regions_) add(region);
    for (const auto& [id, regions] : pending_) {
        for (const Region& r : regions) add(r);
    }
    // While the request at the head of the queue cannot be placed, no free slot can be used:
    // running regions never grow and nobody jumps the queue. A head that fits now (memory came
    // back during the step) is placed next step: its wait is not fragmentation.
    if (blocked && !fits(*blocked)) m.external = space_.free_total();
    m.free = space_.free_total() - m.external;
    KV_CHECK(m.reserved >= 0 && m.internal >= 0 && m.used() + m.free == m.capacity);
    return m;
}

}  // namespace kvscope::lab
