#pragma once
// The CPU backend's view of the model's weights: every 2-D weight as a MatmulWeight, packed into
// memory the backend owns where a packed format exists (kernels/packed_weight.h), otherwise read
// in place (the mapped file). Packing happens once, at backend construction, over the pool.

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
    // pack = false: every weight is read as stored (for measurements of the packing itself).
    CpuWeights(const ModelWeights& weights, ThreadPool& pool, bool pack);
    ~CpuWeights();
    CpuWeights(const CpuWeights&) = delete;
    CpuWeights& operator=(const CpuWeights&) = delete;

    const CpuLayerWeights& layer(std::size_t l) const { return layers_[l]; }
    const MatmulWeight& output() const { return output_; }
    std::size_t packed_bytes() const { return packed_size_; }

private:
    struct Free {
        void operator()(std::uint8_t* p) const;
    };
    std::vector<CpuLayerWeights> layers_;
    MatmulWeight output_;
    std::unique_ptr<std::uint8_t, Free> packed_;
    std::size_t packed_size_ = 0;
};

}  // namespace kvscope
