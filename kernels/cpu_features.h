#pragma once
// Which SIMD paths this CPU can run. Kernels compiled per target (files *_avx2.cpp,
// *_avx512.cpp) are only called when the running CPU has the features.

#include <string_view>

namespace kvscope {

enum class SimdLevel {
    Scalar = 0,  // portable C++, any x86-64 (and any other CPU)
    Avx2 = 1,    // AVX2 + FMA + F16C
    Avx512 = 2,  // AVX-512 F/BW/VL/DQ + VNNI (on top of the AVX2 set)
};

// The best level this CPU supports.
SimdLevel detect_simd_level();

// The level kernels use: detect_simd_level(), lowered by the environment variable
// KVSCOPE_SIMD=scalar|avx2|avx512 (never raised above what the CPU has). Read once.
SimdLevel active_simd_level();

std::string_view simd_level_name(SimdLevel level);

}  // namespace kvscope
