#pragma once
// kvscope-cli quantize: a GGUF file written again with its weights re-quantised, as llama.cpp's
// llama-quantize does for a plain type, by the same rule and quantisers as a load-time
// re-quantisation (engine/requantization.h), so loading the output runs exactly what loading the
// input with ModelLoadOptions::weight_type would.

#include <cstdint>
#include <string>

#include "engine/gguf.h"
#include "kernels/tensor_type.h"

namespace kvscope {

struct QuantizeFileResult {
    int num_converted = 0;  // 2-D tensors that changed type
    int num_tensors = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0;  // tensor data
};

// Writes `in` to `out_path`: the metadata in order (general.file_type set to llama.cpp's value
// for `target`), then every tensor in order, the 2-D ones that requantizes() converted row by row
// (dequantised to f32, quantised to `target`, on `threads` threads; <= 0: all cores) and streamed,
// the rest copied. With `k_quant_medium` (target Q4_K or Q5_K) the weights take llama.cpp's "_M"
// mixture (k_quant_medium_type; the file must be a model this engine reads, for its layer
// count). Atomic (GgufWriter). Throws ConfigError for a target that is not a re-quantisation
// target (or not Q4_K/Q5_K with k_quant_medium), ModelError for a mixture of a file that is not a
// model, FileError when writing fails.
QuantizeFileResult quantize_file(const GgufFile& in, TensorType target, const std::string& out_path, int threads,
                                 bool k_quant_medium = false);

}  // namespace kvscope
