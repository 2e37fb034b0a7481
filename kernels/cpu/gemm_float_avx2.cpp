// AVX2 + FMA tiled GEMM for float-type weights (see gemm_float.h): gemm_float_tiles.h on 8-lane
// vectors. Compiled with -mavx2 -mfma -mf16c; only called on CPUs that have them.

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/simd_avx2.h"
#include "kernels/fp16.h"

namespace kvscope::cpu {
namespace {

using Vec = __m256;
constexpr int kLanes = 8;
constexpr int kTileRows = 4;  // weight rows per tile
constexpr int kTileX = 3;     // activation rows per tile: 12 accumulators

Vec vzero() {
    return _mm256_setzero_ps();
}
Vec vload(const float* p) {
    return _mm256_loadu_ps(p);
}
Vec vfmadd(Vec a, Vec b, Vec c) {
    return _mm256_fmadd_ps(a, b, c);
}
float vhsum(Vec v) {
    return avx2_hsum(v);
}

// 8 weights at w + i -> f32, and one weight -> f32, per storage type
struct F32 {
    static Vec load(const void* w, std::int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
    static float one(const void* w, std::int64_t i) { return static_cast<const float*>(w)[i]; }
    static constexpr std::int64_t kBytes = 4;
};
struct F16 {
    static Vec load(const void* w, std::int64_t i) {
        return _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(w) + i)));
    }
    static float one(const void* w, std::int64_t i) { return _cvtsh_ss(static_cast<const std::uint16_t*>(w)[i]); }
    static constexpr std::int64_t kBytes = 2;
};
struct BF16 {
    static Vec load(const void* w, std::int64_t i) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(w) + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static float one(const void* w, std::int64_t i) { return bf16_to_f32(static_cast<const std::uint16_t*>(w)[i]); }
    static constexpr std::int64_t kBytes = 2;
};

}  // namespace
}  // namespace kvscope::cpu

#include "kernels/cpu/gemm_float_tiles.h"

namespace kvscope::cpu {

constinit const GemmFloatKernels kGemmFloatAvx2 = {gemm<F32>, gemm<F16>, gemm<BF16>};

}  // namespace kvscope::cpu
