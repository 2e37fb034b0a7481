#include "engine/lab/kv_model.h"

#include "engine/lab/contiguous_model.h"
#include "engine/lab/paged_model.h"

namespace kvscope::lab {

std::unique_ptr<KvModel> make_kv_model(const AllocatorSpec& spec, const LabConfig& config) {
    if (spec.is_paged())
        return std::make_unique<PagedModel>(config.budget_tokens, spec.block_size, spec.prefix_caching);
    return std::make_unique<ContiguousModel>(config.budget_tokens, spec.kind, config.max_model_len);
}

}  // namespace kvscope::lab
