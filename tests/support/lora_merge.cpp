#include "tests/support/lora_merge.h"

#include <cstring>
#include <stdexcept>

#include "engine/gguf_writer.h"
#include "kernels/quant.h"

namespace kvscope::test {
namespace {

std::vector<float> f32_tensor(const GgufFile& file, const GgufTensorInfo& t) {
    std::vector<float> out(static_cast<std::size_t>(t.num_elements()));
    const auto bytes = file.tensor_data(t);
    if (t.type == TensorType::F32) {
        std::memcpy(out.data(), bytes.data(), bytes.size());
    } else {
        dequantize_row(t.type, bytes.data(), out.data(), t.num_elements());
    }
    return out;
}

}  // namespace

std::vector<std::uint8_t> merge_lora(const GgufFile& base, const GgufFile& adapter) {
    const double alpha = *adapter.get_float("adapter.lora.alpha");
    GgufWriter w;
    for (const auto& [key, value] : base.metadata()) w.set(key, value);
    for (const GgufTensorInfo& t : base.tensors()) {
        const GgufTensorInfo* a = adapter.find_tensor(t.name + ".lora_a");
        const GgufTensorInfo* b = adapter.find_tensor(t.name + ".lora_b");
        if (a == nullptr || b == nullptr) {
            const auto bytes = base.tensor_data(t);
            w.add_tensor(t.name, t.shape, t.type, bytes);
            continue;
        }
        // W (out, in), A (rank, in), B (out, rank): W[o][i] += scale * sum_r B[o][r] * A[r][i]
        const std::int64_t in = t.shape[0], out = t.shape[1], rank = a->shape[1];
        if (a->shape[0] != in || b->shape[0] != rank || b->shape[1] != out) throw std::runtime_error("bad pair");
        std::vector<float> wf = f32_tensor(base, t);
        const std::vector<float> af = f32_tensor(adapter, *a), bf = f32_tensor(adapter, *b);
        const double scale = alpha / static_cast<double>(rank);
        for (std::int64_t o = 0; o < out; ++o) {
            for (std::int64_t i = 0; i < in; ++i) {
                double sum = 0;
                for (std::int64_t r = 0; r < rank; ++r) sum += double(bf[o * rank + r]) * af[r * in + i];
                wf[o * in + i] += static_cast<float>(scale * sum);
            }
        }
        w.add_tensor(t.name, t.shape, TensorType::F32,
                     std::span(reinterpret_cast<const std::uint8_t*>(wf.data()), wf.size() * sizeof(float)));
    }
    return w.to_bytes();
}

}  // namespace kvscope::test
