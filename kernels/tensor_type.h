#pragma once
// Tensor element types, numbered as GGUF (ggml) numbers them, with their block geometry.
// A quantised type packs `block_elems` consecutive elements of a row into `block_bytes` bytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kvscope {

enum class TensorType : std::uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

struct TensorTypeInfo {
    TensorType type;
    std::string_view name;    // as GGUF tools print it: "F32", "Q4_K", ...
    std::int64_t block_elems;  // elements per block (1 for plain types)
    std::size_t block_bytes;   // bytes per block
    bool computable;           // kvscope has dequantise + dot kernels for it
};

// Info for a GGUF type id; nullptr for an id GGUF does not define (or that was withdrawn).
const TensorTypeInfo* find_tensor_type(std::uint32_t id);

// Info for a known type.
const TensorTypeInfo& type_info(TensorType type);
inline std::string_view type_name(TensorType type) { return type_info(type).name; }

// Bytes of a row of `n` elements; n must be a multiple of the block size.
std::size_t row_bytes(TensorType type, std::int64_t n);

// "Q4_0", "q8_0", "f16", "bf16", ... -> type; nullopt if no type has that name.
std::optional<TensorType> parse_tensor_type(std::string_view name);

// Comma-separated names of the computable types, for error messages.
std::string_view computable_type_names();

}  // namespace kvscope
