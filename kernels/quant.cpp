// Dispatch of the row kernels: one table per SIMD level, built once from the per-level kernel
// lists (kernels/cpu/quant_kernels.h). Level L's table is level L-1's with L's kernels laid
// over it, so a kernel a level lacks falls back to the best one below.

#include "kernels/quant.h"

#include <cstdint>

#include "kernels/check.h"
#include "kernels/cpu/quant_kernels.h"

namespace kvscope {
namespace {

constexpr std::uint32_t kNumTypeIds = 40;  // GGUF type ids are below this
constexpr int kNumLevels = 3;

struct Tables {
    TypeKernels by_level[kNumLevels][kNumTypeIds];  // indexed by SimdLevel, then type id
    bool present[kNumTypeIds];                      // the type has kernels
    SimdLevel best;                                 // the CPU's level
    SimdLevel active;                               // active_simd_level()
};

// Lay the non-null kernels of `list` over `table` (whose types the scalar list defined).
void overlay(TypeKernels* table, const bool* present, const cpu::KernelList& list) {
    for (int i = 0; i < list.num_entries; ++i) {
        const TypeKernels& e = list.entries[i];
        const auto id = static_cast<std::uint32_t>(e.type);
        KV_CHECK_MSG(id < kNumTypeIds && present[id], "SIMD kernels for a type the scalar list lacks");
        TypeKernels& t = table[id];
        if (e.dequantize != nullptr) t.dequantize = e.dequantize;
        if (e.quantize != nullptr) t.quantize = e.quantize;
        if (e.vec_dot != nullptr) t.vec_dot = e.vec_dot;
        if (e.vec_dot_f32 != nullptr) t.vec_dot_f32 = e.vec_dot_f32;
    }
}

Tables build_tables() {
    Tables t{};
    for (int i = 0; i < cpu::kScalarKernels.num_entries; ++i) {
        const TypeKernels& e = cpu::kScalarKernels.entries[i];
        const auto id = static_cast<std::uint32_t>(e.type);
        KV_CHECK(id < kNumTypeIds && !t.present[id]);
        t.by_level[0][id] = e;
        t.present[id] = true;
    }
    for (std::uint32_t id = 0; id < kNumTypeIds; ++id) t.by_level[1][id] = t.by_level[0][id];
    overlay(t.by_level[1], t.present, cpu::kAvx2Kernels);
    overlay(t.by_level[1], t.present, cpu::kAvx2KKernels);
    for (std::uint32_t id = 0; id < kNumTypeIds; ++id) t.by_level[2][id] = t.by_level[1][id];
    overlay(t.by_level[2], t.present, cpu::kAvx512Kernels);
    t.best = detect_simd_level();
    t.active = active_simd_level();
    return t;
}

const Tables& tables() {
    static const Tables t = build_tables();
    return t;
}

const TypeKernels& lookup(const Tables& t, TensorType type, SimdLevel level) {
    const auto id = static_cast<std::uint32_t>(type);
    KV_CHECK_MSG(id < kNumTypeIds && t.present[id], "no row kernels for this tensor type (loaders must reject it)");
    return t.by_level[static_cast<int>(level)][id];
}

}  // namespace

const TypeKernels& type_kernels(TensorType type) {
    const Tables& t = tables();
    return lookup(t, type, t.active);
}

const TypeKernels& type_kernels(TensorType type, SimdLevel level) {
    const Tables& t = tables();
    KV_CHECK_MSG(level <= t.best, "asked for kernels of a SIMD level this CPU lacks");
    return lookup(t, type, level);
}

void dequantize_row(TensorType type, const void* src, float* dst, std::int64_t n) {
    KV_CHECK(n >= 0 && n % type_info(type).block_elems == 0);
    type_kernels(type).dequantize(src, dst, n);
}

void quantize_row(TensorType type, const float* src, void* dst, std::int64_t n) {
    KV_CHECK(n >= 0 && n % type_info(type).block_elems == 0);
    type_kernels(type).quantize(src, dst, n);
}

}  // namespace kvscope
