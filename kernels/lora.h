#pragma once
// LoRA adapters as the backends see them. For a base projection y = x·Wᵀ with W (out, in), an
// adapter holds a low-rank pair A (rank, in) and B (out, rank) and a scale (alpha / rank); the
// adapted projection is y = x·Wᵀ + scale · (x·Aᵀ)·Bᵀ. The delta is computed beside the base
// matmul, for the token rows of the sequences that use the adapter, never merged into W.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace kvscope {

class ThreadPool;

// The projections of a layer an adapter may adapt, in the order of LoraLayer's pairs.
enum class LoraTarget : std::int32_t { Q, K, V, O, Gate, Up, Down };
inline constexpr int kNumLoraTargets = 7;

struct LoraPair {
    const float* a = nullptr;  // (rank, in)
    const float* b = nullptr;  // (out, rank)
    std::int32_t rank = 0;
    std::int32_t in = 0;
    std::int32_t out = 0;
    float scale = 0.0f;  // alpha / rank

    bool present() const { return a != nullptr; }
};

using LoraLayer = std::array<LoraPair, kNumLoraTargets>;

// Views of one adapter's pairs (memory the engine's LoraAdapter owns), per layer.
struct LoraWeights {
    std::vector<LoraLayer> layers;  // (num_layers)

    const LoraPair& pair(std::size_t layer, LoraTarget t) const {
        return layers[layer][static_cast<std::size_t>(t)];
    }
    std::int32_t max_rank() const;
};

// Token rows [begin, end) of a step that use adapter slot `slot`.
struct LoraRun {
    std::int32_t begin = 0;
    std::int32_t end = 0;
    std::int32_t slot = 0;
};

// The maximal runs of rows with the same adapter, from each row's slot (-1: none; those rows
// get no run). `out` is cleared first and must have room for rows.size() runs (no allocation).
void lora_runs(std::span<const std::int32_t> row_slots, std::vector<LoraRun>& out);

// Scratch floats lora_delta needs for num_rows rows of a pair of rank `rank` and `out` outputs.
std::size_t lora_scratch_floats(std::int32_t rank, std::int32_t out, std::int64_t num_rows);

// y(num_rows, p.out) += p.scale · (x(num_rows, p.in)·Aᵀ)·Bᵀ, x and y row-major with strides
// p.in and p.out, through the float matmuls (split over the pool by output rows).
// tmp: lora_scratch_floats(p.rank, p.out, num_rows) floats, 64-byte aligned. Does not allocate.
void lora_delta(ThreadPool& pool, const LoraPair& p, const float* x, std::int64_t num_rows, float* y, float* tmp);

}  // namespace kvscope
