#include "kernels/cpu/cpu_weights.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/thread_pool.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace kvscope {
namespace {

constexpr std::size_t kHugePage = 2u << 20;

// Every 2-D weight of the model, in one list (the layers' seven, then the output).
std::vector<MatmulWeight*> all_weights(std::vector<CpuLayerWeights>& layers, MatmulWeight& output) {
    std::vector<MatmulWeight*> out;
    for (CpuLayerWeights& l : layers) {
        for (MatmulWeight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) out.push_back(w);
    }
    out.push_back(&output);
    return out;
}

}  // namespace

void CpuWeights::Free::operator()(std::uint8_t* p) const {
    std::free(p);
}

CpuWeights::CpuWeights(const ModelWeights& weights, ThreadPool& pool, bool pack) {
    for (const LayerWeights& l : weights.layers) {
        layers_.push_back(CpuLayerWeights{{l.wq}, {l.wk}, {l.wv}, {l.wo}, {l.ffn_gate}, {l.ffn_up}, {l.ffn_down}});
    }
    output_ = MatmulWeight{weights.output};
    if (!pack) return;

    // 1. room for every weight, packed or as stored, in one block of huge pages where the OS gives
    //    them. The decode step streams all of it, and it streams faster from memory of our own
    //    than from the file's mapping: on a 2-core Zen 5 VM an F32 TinyLlama generated 11.5-12.4
    //    tokens/s from a copy against 4.6-6.4 from the mapped page cache (docs/PERFORMANCE.md).
    std::vector<MatmulWeight*> list = all_weights(layers_, output_);
    std::vector<std::size_t> offsets;
    std::size_t total = 0;
    for (MatmulWeight* w : list) {
        offsets.push_back(total);
        total += (kvscope::packed_bytes(w->w) + 63) / 64 * 64;
    }
    if (total == 0) return;
    const std::size_t rounded = (total + kHugePage - 1) / kHugePage * kHugePage;
    packed_.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kHugePage, rounded)));
    if (!packed_) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(packed_.get(), rounded, MADV_HUGEPAGE);
#endif

    // 2. pack, or copy, each weight with its rows split over the pool
    for (std::size_t i = 0; i < list.size(); ++i) {
        MatmulWeight& w = *list[i];
        std::uint8_t* dst = packed_.get() + offsets[i];
        w.format = packed_format(w.w);
        if (w.format != PackedFormat::None) {
            pool.parallel_for(w.w.rows / kPackRows,
                              [&](std::int64_t begin, std::int64_t end) { pack_weight(w.w, dst, begin, end); });
            w.packed = dst;
            continue;
        }
        if (w.w.rows == 0 || w.w.data == nullptr) continue;  // nothing to copy
        const std::size_t row = kvscope::packed_bytes(w.w) / static_cast<std::size_t>(w.w.rows);
        const auto* src = static_cast<const std::uint8_t*>(w.w.data);
        pool.parallel_for(w.w.rows, [&](std::int64_t begin, std::int64_t end) {
            std::memcpy(dst + begin * row, src + begin * row, static_cast<std::size_t>(end - begin) * row);
        });
        w.w.data = dst;
    }
}

CpuWeights::~CpuWeights() = default;

}  // namespace kvscope
