#pragma once
// The default model compiled into the binaries (resources/models/stories260K.gguf).

#include <cstdint>
#include <span>
#include <string_view>

namespace kvscope {

// What users type (or see) to mean the embedded model instead of a path.
inline constexpr std::string_view kEmbeddedModelName = "embedded:stories260K";

// The GGUF file's bytes, 64-byte aligned, valid for the life of the program.
std::span<const std::uint8_t> embedded_model_bytes();

}  // namespace kvscope
