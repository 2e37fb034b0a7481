#include "engine/llama_file_type.h"

namespace kvscope {
namespace {

struct FileType {
    std::uint32_t id;
    TensorType type;
    bool k_quant_medium;
    std::string_view name;
};

constexpr FileType kFileTypes[] = {
    {0, TensorType::F32, false, "all F32"},        {1, TensorType::F16, false, "F16"},
    {2, TensorType::Q4_0, false, "Q4_0"},          {3, TensorType::Q4_1, false, "Q4_1"},
    {7, TensorType::Q8_0, false, "Q8_0"},          {8, TensorType::Q5_0, false, "Q5_0"},
    {9, TensorType::Q5_1, false, "Q5_1"},          {14, TensorType::Q4_K, false, "Q4_K - Small"},
    {15, TensorType::Q4_K, true, "Q4_K - Medium"}, {16, TensorType::Q5_K, false, "Q5_K - Small"},
    {17, TensorType::Q5_K, true, "Q5_K - Medium"}, {18, TensorType::Q6_K, false, "Q6_K"},
    {32, TensorType::BF16, false, "BF16"},
};

}  // namespace

std::uint32_t llama_file_type(TensorType type, bool k_quant_medium) {
    for (const FileType& f : kFileTypes) {
        if (f.type == type && f.k_quant_medium == k_quant_medium) return f.id;
    }
    return 1024;
}

std::string_view llama_file_type_name(std::int64_t file_type) {
    for (const FileType& f : kFileTypes) {
        if (f.id == file_type) return f.name;
    }
    return {};
}

}  // namespace kvscope
