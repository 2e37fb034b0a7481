#pragma once
// The oracle for LoRA: a copy of a base model GGUF whose adapted weights are merged,
// W' = W + scale · B·A in f32 (scale = alpha / rank), written independently of
// engine/lora_adapter from the adapter file's own tensors, for the naive reference forward.

#include <cstdint>
#include <vector>

#include "engine/gguf.h"

namespace kvscope::test {

// The merged model's GGUF bytes (every other tensor and all metadata copied as they are).
std::vector<std::uint8_t> merge_lora(const GgufFile& base, const GgufFile& adapter);

}  // namespace kvscope::test
