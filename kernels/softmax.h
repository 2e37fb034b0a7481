#pragma once
// Numerically stable softmax: x[i] <- e^(x[i] - max) / sum_j e^(x[j] - max).
//
// Entries may be -inf (probability exactly 0) but not +inf or nan. A row whose entries are all
// -inf has no distribution: it becomes all zeros. n >= 1.

#include <cstdint>

#include "kernels/cpu_features.h"

namespace kvscope {

// x: (n), in place.
void softmax(float* x, std::int64_t n);
void softmax(float* x, std::int64_t n, SimdLevel level);

}  // namespace kvscope
