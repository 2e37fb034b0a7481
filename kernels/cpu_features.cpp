#include "kernels/cpu_features.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace kvscope {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not know "f16c".
bool cpu_has_f16c() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}
#endif

SimdLevel parse_level(const char* text, SimdLevel fallback) {
    if (text == nullptr) return fallback;
    const std::string s(text);
    if (s == "scalar") return SimdLevel::Scalar;
    if (s == "avx2") return SimdLevel::Avx2;
    if (s == "avx512") return SimdLevel::Avx512;
    return fallback;
}

SimdLevel probe_simd_level() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vnni");
    if (avx512) return SimdLevel::Avx512;
    if (avx2) return SimdLevel::Avx2;
#endif
    return SimdLevel::Scalar;
}

}  // namespace

// Probed once: CPUID traps to the hypervisor in a VM (microseconds), and the kernels' checks
// call this on every row call.
SimdLevel detect_simd_level() {
    static const SimdLevel level = probe_simd_level();
    return level;
}

SimdLevel active_simd_level() {
    static const SimdLevel level = [] {
        const SimdLevel best = detect_simd_level();
        const SimdLevel wanted = parse_level(std::getenv("KVSCOPE_SIMD"), best);
        return wanted < best ? wanted : best;
    }();
    return level;
}

std::string_view simd_level_name(SimdLevel level) {
    switch (level) {
        case SimdLevel::Scalar:
            return "scalar";
        case SimdLevel::Avx2:
            return "avx2";
        case SimdLevel::Avx512:
            return "avx512";
    }
    return "unknown";
}

}  // namespace kvscope
