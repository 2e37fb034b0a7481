#include "kernels/backend.h"

#include "kernels/check.h"

namespace kvscope {

std::size_t kv_block_bytes(const ModelShape& shape, const KvCacheSpec& spec) {
    // K and V, every layer, block_size token rows of kv_dim values in the cache dtype.
    return 2 * static_cast<std::size_t>(shape.num_layers) * static_cast<std::size_t>(spec.block_size) *
           row_bytes(spec.dtype, shape.kv_dim());
}

void Backend::swap_out(std::span<const BlockCopy> copies) {
    KV_CHECK_MSG(copies.empty(), "swap_out on a backend without swap space");
}

void Backend::swap_in(std::span<const BlockCopy> copies) {
    KV_CHECK_MSG(copies.empty(), "swap_in on a backend without swap space");
}

void Backend::add_lora(const LoraWeights&) {
    KV_CHECK_MSG(false, "add_lora on a backend without LoRA support");
}

void Backend::remove_lora(std::int32_t) {
    KV_CHECK_MSG(false, "remove_lora on a backend without LoRA support");
}

}  // namespace kvscope
