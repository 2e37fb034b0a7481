#pragma once
// How GoogleTest prints the kernels' enums when they are test parameters (found by argument-
// dependent lookup): by name, where it would otherwise list their bytes in each test's name.

#include <ostream>

#include "kernels/cpu_features.h"
#include "kernels/tensor_type.h"

namespace kvscope {

inline void PrintTo(SimdLevel level, std::ostream* os) {
    *os << simd_level_name(level);
}

inline void PrintTo(TensorType type, std::ostream* os) {
    *os << type_name(type);
}

}  // namespace kvscope
