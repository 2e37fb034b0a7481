#pragma once
// llama.cpp's llama_ftype values (GGUF general.file_type) for the weight types this engine runs:
// one table, read both ways. Writers of synthetic models set it; readers show its name.

#include <cstdint>
#include <string_view>

#include "kernels/tensor_type.h"

namespace kvscope {

// The file type of a file whose 2-D weights are all of `type` (uniform K-quant files are the
// "_S" variants' closest kin), or with k_quant_medium the "_M" mixture over Q4_K or Q5_K; 1024
// (LLAMA_FTYPE_GUESSED) for a type without one.
std::uint32_t llama_file_type(TensorType type, bool k_quant_medium);

// llama.cpp's name of a file type ("Q4_K - Medium"); empty for one not in the table.
std::string_view llama_file_type_name(std::int64_t file_type);

}  // namespace kvscope
