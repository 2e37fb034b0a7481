#include "kernels/cpu/cpu_weights.h"

#include <cstdlib>
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

    // 1. room for every packable weight, in one block of huge pages where the OS gives them
    //    (the decode step streams all of it: fewer TLB misses)
    std::vector<MatmulWeight*> list = all_weights(layers_, output_);
    std::vector<std::size_t> offsets;
    for (MatmulWeight* w : list) {
        offsets.push_back(packed_size_);
        if (packed_format(w->w) != PackedFormat::None) packed_size_ += (kvscope::packed_bytes(w->w) + 63) / 64 * 64;
    }
    if (packed_size_ == 0) return;
    const std::size_t rounded = (packed_size_ + kHugePage - 1) / kHugePage * kHugePage;
    packed_.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kHugePage, rounded)));
    if (!packed_) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(packed_.get(), rounded, MADV_HUGEPAGE);
#endif

    // 2. pack, the groups of each weight split over the pool
    for (std::size_t i = 0; i < list.size(); ++i) {
        MatmulWeight& w = *list[i];
        w.format = packed_format(w.w);
        if (w.format == PackedFormat::None) continue;
        std::uint8_t* dst = packed_.get() + offsets[i];
        pool.parallel_for(w.w.rows / kPackRows,
                          [&](std::int64_t begin, std::int64_t end) { pack_weight(w.w, dst, begin, end); });
        w.packed = dst;
    }
}

CpuWeights::~CpuWeights() = default;

}  // namespace kvscope
