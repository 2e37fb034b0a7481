#pragma once

#include <cstdint>

namespace kvscope {

// Identifies one sequence (a request's sample; n > 1 sampling forks more) to the KV cache.
using SeqId = std::int64_t;

}  // namespace kvscope
