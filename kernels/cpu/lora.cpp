#include "kernels/lora.h"

#include <algorithm>

#include "kernels/check.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"

namespace kvscope {

std::int32_t LoraWeights::max_rank() const {
    std::int32_t rank = 0;
    for (const LoraLayer& layer : layers) {
        for (const LoraPair& p : layer) rank = std::max(rank, p.rank);
    }
    return rank;
}

void lora_runs(std::span<const std::int32_t> row_slots, std::vector<LoraRun>& out) {
    KV_CHECK(out.capacity() >= row_slots.size());
    out.clear();
    for (std::size_t r = 0; r < row_slots.size(); ++r) {
        const std::int32_t slot = row_slots[r];
        if (slot < 0) continue;
        if (!out.empty() && out.back().slot == slot && out.back().end == static_cast<std::int32_t>(r)) {
            ++out.back().end;
        } else {
            out.push_back(LoraRun{static_cast<std::int32_t>(r), static_cast<std::int32_t>(r) + 1, slot});
        }
    }
}

namespace {

std::size_t round_up_16(std::size_t floats) {
    return (floats + 15) / 16 * 16;  // 64 bytes
}

}  // namespace

std::size_t lora_scratch_floats(std::int32_t rank, std::int32_t out, std::int64_t num_rows) {
    const auto rows = static_cast<std::size_t>(num_rows);
    return round_up_16(rows * static_cast<std::size_t>(rank)) + round_up_16(rows * static_cast<std::size_t>(out));
}

void lora_delta(ThreadPool& pool, const LoraPair& p, const float* x, std::int64_t num_rows, float* y, float* tmp) {
    KV_CHECK(p.present() && p.rank > 0);
    float* xa = tmp;                                                                     // (num_rows, rank)
    float* delta = tmp + round_up_16(static_cast<std::size_t>(num_rows) * p.rank);  // (num_rows, out)
    // 1. xa = x·Aᵀ (the F32 weight path reads activations as they are: no scratch)
    matmul(pool, WeightTensor{TensorType::F32, p.rank, p.in, p.a}, x, num_rows, xa, nullptr);
    // 2. xa *= scale, on the small side
    const std::int64_t n = num_rows * p.rank;
    for (std::int64_t i = 0; i < n; ++i) xa[i] *= p.scale;
    // 3. y += xa·Bᵀ
    matmul(pool, WeightTensor{TensorType::F32, p.out, p.rank, p.b}, xa, num_rows, delta, nullptr);
    add_inplace(y, delta, num_rows * p.out);
}

}  // namespace kvscope
