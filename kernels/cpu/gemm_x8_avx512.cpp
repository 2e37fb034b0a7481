// AVX-512 level kernels over packed weights: the tiles of gemm_x8_tiles.h with VNNI's dpbusd
// (u8 x s8 products summed into i32 lanes in one instruction), two groups at a time in 512-bit
// vectors (gemm_x8_pairs.h) and an odd last group in 256-bit ones. Compiled with the AVX-512
// flags (F/BW/VL/DQ/VNNI); only called on CPUs that have them.
//
// KVSCOPE_AVX512_EMULATED: tests/kernels/gemm_x8_avx512_emu_test.cpp compiles this file once more with the
// intrinsics emulated by SIMDe, to check it on CPUs without AVX-512.

// GCC 12's avx512fintrin.h trips -Wuninitialized in its _mm512_undefined_* helpers once they are
// inlined here (GCC bug 105593); the warnings are about the header, not this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(KVSCOPE_AVX512_EMULATED)
#define KVSCOPE_GEMM_X8_LIST kGemmX8Avx512Emulated
#else
#include <immintrin.h>
#define KVSCOPE_GEMM_X8_LIST kGemmX8Avx512
#endif

#define KVSCOPE_GEMM_VNNI 1
#include "kernels/cpu/gemm_x8_tiles.h"

namespace kvscope::cpu {

extern const GemmX8Kernels KVSCOPE_GEMM_X8_LIST;
constinit const GemmX8Kernels KVSCOPE_GEMM_X8_LIST = kGemmX8Tiles;

}  // namespace kvscope::cpu
