#include "engine/lab/paged_model.h"

#include <algorithm>

#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope::lab {
namespace {

KvCacheConfig paged_config(std::int64_t budget_tokens, std::int32_t block_size, bool prefix_caching) {
    const std::int64_t blocks = block_size > 0 ? budget_tokens / block_size : 0;
    if (blocks < 1) {
        throw ConfigError("a KV budget of " + std::to_string(budget_tokens) + " tokens holds no block of " +
                          std::to_string(block_size) + " tokens; raise the budget");
    }
    return KvCacheConfig{static_cast<std::int32_t>(std::min<std::int64_t>(blocks, 1 << 24)), block_size,
                         prefix_caching};
}

}  // namespace

PagedModel::PagedModel(std::int64_t budget_tokens, std::int32_t block_size, bool prefix_caching)
    : kv_(paged_config(budget_tokens, block_size, prefix_caching)) {}

std::int64_t PagedModel::capacity() const {
    return std::int64_t{kv_.config().num_blocks} * kv_.config().block_size;
}

bool PagedModel::can_ever_fit(const AdmitInfo& info, std::int32_t max_model_len, std::string& why) const {
    // As Engine::add_request: the blocks of the longest sample's prompt + output.
    const std::int32_t longest = *std::max_element(info.output_lens.begin(), info.output_lens.end());
    const std::int64_t tokens = std::min<std::int64_t>(std::int64_t{info.num_prompt_tokens} + longest, max_model_len);
    const std::int64_t blocks = (tokens + kv_.config().block_size - 1) / kv_.config().block_size;
    if (blocks <= kv_.config().num_blocks) return true;
    why = "needs " + std::to_string(blocks) + " blocks, the cache has " + std::to_string(kv_.config().num_blocks);
    return false;
}

PrefixMatch PagedModel::find_cached_prefix(std::span<const std::int32_t> tokens) const {
    return kv_.find_cached_prefix(tokens, 0);
}

std::optional<Grant> PagedModel::allocate(SeqId seq, std::int32_t num_new_tokens, const PrefixMatch* match,
                                          const AdmitInfo* admit) {
    KV_CHECK((admit != nullptr) == !holders_.contains(seq));
    const std::optional<AllocResult> result = kv_.allocate_slots(seq, num_new_tokens, match);
    if (!result) return std::nullopt;
    if (admit) {
        Holder holder;
        for (std::int32_t i = 0; i < static_cast<std::int32_t>(admit->output_lens.size()); ++i) {
            holder.final_kv_lens.push_back(admit->final_kv_len(i));
        }
        holder.sample = admit->sample_index;
        holders_.emplace(seq, std::move(holder));
    }
    Holder& holder = holders_.at(seq);
    holder.num_computed = result->num_computed_tokens;
    return Grant{result->num_computed_tokens, result->num_cached_tokens};
}

void PagedModel::commit(SeqId seq, std::span<const std::int32_t> token_ids, std::int32_t num_computed_tokens) {
    kv_.commit(seq, token_ids, num_computed_tokens);
    holders_.at(seq).num_computed = num_computed_tokens;
}

void PagedModel::fork(SeqId parent, SeqId child, std::int32_t child_sample) {
    kv_.fork(parent, child);
    Holder holder = holders_.at(parent);
    holder.sample = child_sample;
    holders_.emplace(child, std::move(holder));
}

void PagedModel::free(SeqId seq) {
    kv_.free(seq);
    holders_.erase(seq);
}

MemoryUse PagedModel::measure(const AdmitInfo* /*blocked: any free block fits*/) const {
    const KvCacheStats s = kv_.stats();
    const std::int64_t block = s.block_size;
    MemoryUse m;
    m.capacity = capacity();
    m.token = s.num_filled_slots;
    m.cached = s.num_cached_free_blocks * block;
    m.free = s.num_free_blocks * block;
    m.shared_saved = s.num_saved_blocks * block;
    // Reservation: empty slots of a sequence's own (unshared) blocks that it fills later. Empty
    // slots of a shared block are filled in a copy, if ever: internal fragmentation.
    for (const auto& [id, holder] : holders_) {
        const BlockTable& table = kv_.block_table(id);
        const std::int64_t computed = holder.num_computed;
        const std::int64_t final_len = holder.final_kv_lens[static_cast<std::size_t>(holder.sample)];
        for (std::int32_t i = static_cast<std::int32_t>(computed / block); i < table.num_blocks(); ++i) {
            if (kv_.pool().block(table.block_id(i)).ref_count != 1) continue;
            const std::int64_t lo = std::max(computed, i * block), hi = std::min(final_len, (i + 1) * block);
            if (hi > lo) m.reserved += hi - lo;
        }
    }
    m.internal = std::int64_t{s.num_used_blocks} * block - m.token - m.reserved;
    KV_CHECK(m.internal >= 0 && m.token + m.reserved + m.internal + m.cached + m.free == m.capacity);
    return m;
}

}  // namespace kvscope::lab
