#pragma once
// Synthetic LoRA adapters: GGUF adapter files (engine/lora_adapter.h's layout) with random A and
// B at a given rank for the projections of a base model, for tests and benchmarks. Written by
// `kvscope-cli make-lora`; never committed.

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/lora.h"

namespace kvscope {

class GgufFile;

struct SyntheticLoraSpec {
    std::int32_t rank = 16;
    float alpha = 16.0f;
    std::vector<LoraTarget> targets = {LoraTarget::Q, LoraTarget::K, LoraTarget::V, LoraTarget::O};
    std::uint64_t seed = 1;

    // Throws ConfigError naming the bad field.
    void validate() const;
};

// "q", "k", "v", "o", "gate", "up", "down" -> the target; ConfigError for anything else.
LoraTarget parse_lora_target(const std::string& name);

// Writes an adapter for every layer of `base` (a model GGUF) to `path` atomically: A uniform in
// [-s, s] with s = sqrt(3 / in) (x·Aᵀ keeps unit scale), B uniform in [-s, s] with
// s = 0.5 · sqrt(3 / rank), both F32. Throws ModelError when `base` lacks a targeted tensor.
void write_synthetic_lora(const SyntheticLoraSpec& spec, const GgufFile& base, const std::string& path);

}  // namespace kvscope
