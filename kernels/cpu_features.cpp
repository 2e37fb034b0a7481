#include "kernels/cpu_features.h"

#include <cstdlib>
#include <string>

namespace kvscope {
namespace {

SimdLevel parse_level(const char* text, SimdLevel fallback) {
    if (text == nullptr) return fallback;
    const std::string s(text);
    if (s == "scalar") return SimdLevel::Scalar;
    if (s == "avx2") return SimdLevel::Avx2;
    if (s == "avx512") return SimdLevel::Avx512;
    return fallback;
}

}  // namespace

SimdLevel detect_simd_level() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vnni");
    if (avx512) return SimdLevel::Avx512;
    if (avx2) return SimdLevel::Avx2;
#endif
    return SimdLevel::Scalar;
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
