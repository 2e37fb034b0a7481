#include "engine/requantization.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <vector>

#include "kernels/quant.h"

namespace kvscope {
namespace {

constexpr TensorType kRequantizationTargets[] = {TensorType::F16,  TensorType::Q8_0, TensorType::Q6_K,
                                                 TensorType::Q5_K, TensorType::Q4_K, TensorType::Q4_0};

// llama.cpp's use_more_bits: the first and last eighth of n, and every third one between.
bool more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::span<const TensorType> requantization_targets() {
    return kRequantizationTargets;
}

bool is_requantization_target(TensorType type) {
    return std::find(std::begin(kRequantizationTargets), std::end(kRequantizationTargets), type) !=
           std::end(kRequantizationTargets);
}

std::string requantization_target_list() {
    std::string out;
    const std::size_t n = std::size(kRequantizationTargets);
    for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) out += i + 1 == n ? " or " : ", ";
        out += type_name(kRequantizationTargets[i]);
    }
    return out;
}

bool requantizes(TensorType stored, std::int64_t cols, TensorType target) {
    return stored != target && cols % type_info(target).block_elems == 0;
}

TensorType k_quant_medium_type(TensorType base, const std::string& name, int layer, int num_layers, bool tied) {
    const bool output = name == "output.weight" || (tied && name == "token_embd.weight");
    const bool more = layer >= 0 && more_bits(layer, num_layers) &&
                      (ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight"));
    return output || more ? TensorType::Q6_K : base;
}

int weight_layer(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    int layer = 0;
    const char* end = name.data() + name.size();
    const auto [ptr, ec] = std::from_chars(name.data() + 4, end, layer);
    return ec == std::errc() && ptr != end && *ptr == '.' ? layer : -1;
}

std::string WeightConversion::name() const {
    return std::string(type_name(base)) + (k_quant_medium ? "_M" : "");
}

std::optional<WeightConversion> parse_weight_conversion(std::string_view text) {
    const bool medium = text.size() > 2 && (text.ends_with("_m") || text.ends_with("_M"));
    const std::optional<TensorType> base = parse_tensor_type(medium ? text.substr(0, text.size() - 2) : text);
    if (!base || !is_requantization_target(*base)) return std::nullopt;
    if (medium && *base != TensorType::Q4_K && *base != TensorType::Q5_K) return std::nullopt;
    return WeightConversion{*base, medium};
}

void requantize_rows(TensorType from, const std::uint8_t* src, TensorType to, std::uint8_t* dst, std::int64_t cols,
                     std::int64_t rows, ThreadPool& pool) {
    const std::size_t src_row = row_bytes(from, cols), dst_row = row_bytes(to, cols);
    pool.parallel_for(rows, [&](std::int64_t begin, std::int64_t end) {
        std::vector<float> row(static_cast<std::size_t>(cols));
        for (std::int64_t r = begin; r < end; ++r) {
            dequantize_row(from, src + static_cast<std::size_t>(r) * src_row, row.data(), cols);
            quantize_row(to, row.data(), dst + static_cast<std::size_t>(r) * dst_row, cols);
        }
    });
}

RequantizationEstimate estimate_requantization(const GgufFile& file, TensorType target, bool k_quant_medium) {
    int num_layers = 0;
    for (const GgufTensorInfo& t : file.tensors()) num_layers = std::max(num_layers, weight_layer(t.name) + 1);
    const bool tied = file.find_tensor("output.weight") == nullptr;
    RequantizationEstimate e;
    for (const GgufTensorInfo& t : file.tensors()) {
        const bool matrix = t.shape.size() == 2;
        e.num_matrices += matrix ? 1 : 0;
        const TensorType to =
            k_quant_medium ? k_quant_medium_type(target, t.name, weight_layer(t.name), num_layers, tied) : target;
        if (matrix && requantizes(t.type, t.shape[0], to)) {
            e.weight_bytes += static_cast<std::uint64_t>(t.shape[1]) * row_bytes(to, t.shape[0]);
            ++e.num_converted;
        } else {
            e.weight_bytes += t.num_bytes;
        }
    }
    return e;
}

}  // namespace kvscope
