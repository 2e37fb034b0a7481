#pragma once
// SIMDe's emulation of the AVX-512 intrinsics (Debian's libsimde-dev), for the tests that compile
// an AVX-512 kernel file once more in portable C++ (the *_avx512_emu_test.cpp files). Including
// this sets KVSCOPE_HAVE_SIMDE (0 without SIMDe: the tests skip); with SIMDe it also defines
// KVSCOPE_AVX512_EMULATED, so the kernel file included next builds its emulated kernels. It
// takes over the intrinsics' names (SIMDe's native aliases), and adds, written lane by lane, the
// ones SIMDe 0.7 lacks. Test-only; speed is irrelevant.

#if __has_include(<simde/x86/avx512.h>)
#define KVSCOPE_HAVE_SIMDE 1
#else
#define KVSCOPE_HAVE_SIMDE 0
#endif

#if KVSCOPE_HAVE_SIMDE
#define KVSCOPE_AVX512_EMULATED 1

#include <immintrin.h>  // the real declarations first; SIMDe's aliases then take over the names
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"

namespace kvscope_emu {

template <typename To, typename From>
To bits_as(const From& from) {
    static_assert(sizeof(To) == sizeof(From));
    To to;
    std::memcpy(&to, &from, sizeof(To));
    return to;
}

struct F32x16 {
    float v[16];
};
struct I32x16 {
    std::int32_t v[16];
};

inline simde__m512 cvtepi32_ps(simde__m512i a) {
    const auto in = bits_as<I32x16>(a);
    F32x16 out;
    for (int i = 0; i < 16; ++i) out.v[i] = static_cast<float>(in.v[i]);
    return bits_as<simde__m512>(out);
}

inline simde__m512i cvtps_epi32(simde__m512 a) {  // round to nearest even, as MXCSR's default
    const auto in = bits_as<F32x16>(a);
    I32x16 out;
    for (int i = 0; i < 16; ++i) out.v[i] = static_cast<std::int32_t>(__builtin_nearbyintf(in.v[i]));
    return bits_as<simde__m512i>(out);
}

inline simde__m512 cvtph_ps(simde__m256i a) {
    std::uint16_t h[16];
    std::memcpy(h, &a, sizeof(h));
    F32x16 out;
    for (int i = 0; i < 16; ++i) out.v[i] = kvscope::fp16_to_f32(h[i]);
    return bits_as<simde__m512>(out);
}

inline float cvtsh_ss(unsigned short h) {
    return kvscope::fp16_to_f32(h);
}

inline simde__m256 extractf32x8_ps(simde__m512 a, int imm) {
    simde__m256 out;
    std::memcpy(&out, reinterpret_cast<const char*>(&a) + 32 * (imm & 1), sizeof(out));
    return out;
}

inline std::int32_t reduce_add_epi32(simde__m512i a) {
    const auto in = bits_as<I32x16>(a);
    std::int32_t s = 0;
    for (int i = 0; i < 16; ++i) s += in.v[i];
    return s;
}

// The 16 lanes of `a`, each a Lane, widened (sign or zero as Lane is) to 32 bits.
template <typename Lane, typename Vec>
simde__m512i widen_epi32(const Vec& a) {
    static_assert(sizeof(Vec) == 16 * sizeof(Lane));
    Lane in[16];
    std::memcpy(in, &a, sizeof(in));
    I32x16 out;
    for (int i = 0; i < 16; ++i) out.v[i] = in[i];
    return bits_as<simde__m512i>(out);
}

inline simde__m512i cvtepi8_epi32(simde__m128i a) {
    return widen_epi32<std::int8_t>(a);
}

inline simde__m512i cvtepu16_epi32(simde__m256i a) {
    return widen_epi32<std::uint16_t>(a);
}

}  // namespace kvscope_emu

#define _mm512_cvtepi32_ps kvscope_emu::cvtepi32_ps
#define _mm512_cvtps_epi32 kvscope_emu::cvtps_epi32
#define _mm512_cvtph_ps kvscope_emu::cvtph_ps
#define _cvtsh_ss kvscope_emu::cvtsh_ss
#define _mm512_extractf32x8_ps kvscope_emu::extractf32x8_ps
#define _mm512_reduce_add_epi32 kvscope_emu::reduce_add_epi32
#define _mm512_cvtepi8_epi32 kvscope_emu::cvtepi8_epi32
#define _mm512_cvtepu16_epi32 kvscope_emu::cvtepu16_epi32

#endif  // KVSCOPE_HAVE_SIMDE
