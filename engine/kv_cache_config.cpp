#include "engine/kv_cache_config.h"

#include <limits>

namespace kvscope {

std::vector<std::string> KvCacheConfig::validate() const {
    std::vector<std::string> problems;
    if (block_size != 8 && block_size != 16 && block_size != 32) {
        problems.push_back("kv cache block_size is " + std::to_string(block_size) + "; use 8, 16 or 32");
    }
    if (num_blocks < 1) {
        problems.push_back("kv cache num_blocks is " + std::to_string(num_blocks) +
                           "; it must be at least 1 (give the KV cache more memory or use a smaller model)");
    } else if (block_size > 0 &&
               static_cast<std::int64_t>(num_blocks) * block_size > std::numeric_limits<std::int32_t>::max()) {
        problems.push_back("kv cache num_blocks * block_size is " +
                           std::to_string(static_cast<std::int64_t>(num_blocks) * block_size) +
                           " slots; it must stay below 2^31 (use fewer blocks)");
    }
    if (num_swap_blocks < 0) {
        problems.push_back("kv cache num_swap_blocks is " + std::to_string(num_swap_blocks) +
                           "; give 0 (no swap space) or more");
    }
    return problems;
}

}  // namespace kvscope
