#include "kernels/backend.h"

namespace kvscope {

std::size_t kv_block_bytes(const ModelShape& shape, const KvCacheSpec& spec) {
    // K and V, every layer, block_size token rows of kv_dim values in the cache dtype.
    return 2 * static_cast<std::size_t>(shape.num_layers) * static_cast<std::size_t>(spec.block_size) *
           row_bytes(spec.dtype, shape.kv_dim());
}

}  // namespace kvscope
