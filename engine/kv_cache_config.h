#pragma once
// How the KV cache is cut into blocks.

#include <cstdint>
#include <string>
#include <vector>

namespace kvscope {

struct KvCacheConfig {
    std::int32_t num_blocks = 1024;     // physical blocks the backend allocates
    std::int32_t block_size = 16;       // tokens per block: 8, 16 or 32
    bool enable_prefix_caching = true;  // reuse full blocks across requests with the same prefix
    std::int32_t num_swap_blocks = 0;   // host blocks for preemption by swap (0: no swapping)

    // One line per problem, each saying which field is wrong, its value, and what to use instead.
    // Empty when the configuration is valid.
    std::vector<std::string> validate() const;
};

}  // namespace kvscope
