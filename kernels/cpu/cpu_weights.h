#pragma once
// The CPU backend's view of the model's weights: every 2-D weight as a MatmulWeight in memory the
// backend owns, packed where a packed format exists (kernels/packed_weight.h) and copied as stored
// otherwise, or (pack = false) every one read in place from the mapped file. Packing and copying
// happen once, at backend construction, over the pool.

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/model_weights.h"
#include "kernels/packed_weight.h"

namespace kvscope {

class ThreadPool;

struct CpuLayerWeights {
    MatmulWeight wq, wk, wv, wo, ffn_gate, ffn_up, ffn_down;
};

class CpuWeights {
public:
    // pack = false: every weight is read as stored, in place (for measurements of the packing itself).
    CpuWeights(const ModelWeights& weights, ThreadPool& pool, bool pack);
    ~CpuWeights();
    CpuWeights(const CpuWeights&) = delete;
    CpuWeights& operator=(const CpuWeights&) = delete;

    const CpuLayerWeights& layer(std::size_t l) const { return layers_[l]; }
    const MatmulWeight& output() const { return output_; }

private:
    struct Free {
        void operator()(std::uint8_t* p) const;
    };
    std::vector<CpuLayerWeights> layers_;
    MatmulWeight output_;
    std::unique_ptr<std::uint8_t, Free> packed_;
};

}  // namespace kvscope
