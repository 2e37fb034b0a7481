// AVX-512 tiled GEMM for float-type weights (see gemm_float.h): gemm_float_tiles.h on 16-lane
// vectors. Compiled with the AVX-512 flags; only called on CPUs that have them.
//
// KVSCOPE_AVX512_EMULATED: tests/kernels/gemm_float_avx512_emu_test.cpp compiles this file once
// more with the intrinsics emulated by SIMDe, to check it on CPUs without AVX-512.

// GCC 12's avx512fintrin.h trips -Wuninitialized in its _mm512_undefined_* helpers once they are
// inlined here (GCC bug 105593); the warnings are about the header, not this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(KVSCOPE_AVX512_EMULATED)
#define KVSCOPE_GEMM_FLOAT_LIST kGemmFloatAvx512Emulated
#else
#include <immintrin.h>
#define KVSCOPE_GEMM_FLOAT_LIST kGemmFloatAvx512
#endif

#include <cstdint>

#include "kernels/cpu/gemm_float.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/fp16.h"

namespace kvscope::cpu {
namespace {

using Vec = __m512;
constexpr int kLanes = 16;
constexpr int kTileRows = 6;  // weight rows per tile (6 x 4 measured fastest of 4x3, 4x6, 3x8, 8x3)
constexpr int kTileX = 4;     // activation rows per tile: 24 accumulators

Vec vzero() {
    return _mm512_setzero_ps();
}
Vec vload(const float* p) {
    return _mm512_loadu_ps(p);
}
Vec vfmadd(Vec a, Vec b, Vec c) {
    return _mm512_fmadd_ps(a, b, c);
}
float vhsum(Vec v) {
    return avx2_hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

const __m256i* u16_at(const void* w, std::int64_t i) {
    return reinterpret_cast<const __m256i*>(static_cast<const std::uint16_t*>(w) + i);
}

// 16 weights at w + i -> f32, and one weight -> f32, per storage type
struct F32 {
    static Vec load(const void* w, std::int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(w) + i); }
    static float one(const void* w, std::int64_t i) { return static_cast<const float*>(w)[i]; }
    static constexpr std::int64_t kBytes = 4;
};
struct F16 {
    static Vec load(const void* w, std::int64_t i) { return _mm512_cvtph_ps(_mm256_loadu_si256(u16_at(w, i))); }
    static float one(const void* w, std::int64_t i) { return _cvtsh_ss(static_cast<const std::uint16_t*>(w)[i]); }
    static constexpr std::int64_t kBytes = 2;
};
struct BF16 {
    static Vec load(const void* w, std::int64_t i) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(u16_at(w, i))), 16));
    }
    static float one(const void* w, std::int64_t i) { return bf16_to_f32(static_cast<const std::uint16_t*>(w)[i]); }
    static constexpr std::int64_t kBytes = 2;
};

}  // namespace
}  // namespace kvscope::cpu

#include "kernels/cpu/gemm_float_tiles.h"

namespace kvscope::cpu {

extern const GemmFloatKernels KVSCOPE_GEMM_FLOAT_LIST;
constinit const GemmFloatKernels KVSCOPE_GEMM_FLOAT_LIST = {gemm<F32>, gemm<F16>, gemm<BF16>};

}  // namespace kvscope::cpu
