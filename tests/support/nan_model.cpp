#include "tests/support/nan_model.h"

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "resources/embedded_model.h"

namespace kvscope::test {

std::shared_ptr<const Model> model_with_a_nan_token(std::int32_t token) {
    static std::mutex mutex;
    static std::map<std::int32_t, std::vector<std::uint8_t>> files;  // the bytes each model maps
    std::lock_guard lock(mutex);
    std::vector<std::uint8_t>& bytes = files[token];
    if (bytes.empty()) {
        const GgufFile in = GgufFile::from_memory(embedded_model_bytes(), "stories260K.gguf");
        GgufWriter w;
        for (const auto& [key, value] : in.metadata()) w.set(key, value);
        for (const GgufTensorInfo& t : in.tensors()) {
            const std::span<const std::uint8_t> data = in.tensor_data(t);
            if (t.name != "token_embd.weight") {
                w.add_tensor(t.name, t.shape, t.type, data);
                continue;
            }
            if (t.type != TensorType::F32) throw std::logic_error("the embedded model's embedding is not F32");
            std::vector<std::uint8_t> embedding(data.begin(), data.end());
            const float nan = std::nanf("");
            std::memcpy(embedding.data() + std::size_t(token) * std::size_t(t.shape[0]) * sizeof(float), &nan,
                        sizeof nan);
            w.add_tensor(t.name, t.shape, t.type, embedding);
        }
        bytes = w.to_bytes();
    }
    return Model::load(GgufFile::from_memory(bytes, "nan.gguf"));
}

}  // namespace kvscope::test
