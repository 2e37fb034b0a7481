#pragma once

#include <cstdint>

namespace kvscope {

// A whole-block KV copy (all layers, K and V) the backend does before the step that writes into
// `dst`: copy-on-write of a block that several sequences share.
struct BlockCopy {
    std::int32_t src = -1;
    std::int32_t dst = -1;
    friend bool operator==(const BlockCopy&, const BlockCopy&) = default;
};

}  // namespace kvscope
