// AVX2 kernels over packed weights: maddubs + madd (see gemm_x8_tiles.h). Compiled with
// -mavx2 -mfma -mf16c; only called on CPUs that have them.

#include <immintrin.h>

#include "kernels/cpu/gemm_x8_tiles.h"

namespace kvscope::cpu {

constinit const GemmX8Kernels kGemmX8Avx2 = kGemmX8Tiles;

}  // namespace kvscope::cpu
