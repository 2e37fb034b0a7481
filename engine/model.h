#pragma once
// A loaded model: the mapped GGUF file, its validated configuration, views of its weights for
// the backends, its tokenizer and chat template. Immutable once loaded; shared by whoever runs it.

#include <memory>
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/gguf.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"
#include "kernels/model_weights.h"

namespace kvscope {

class Model {
public:
    // `source` is a path to a .gguf file, or kEmbeddedModelName / "" for the embedded default.
    // Throws FileError (unreadable or malformed file) or ModelError (cannot be run).
    static std::shared_ptr<const Model> load(const std::string& source);
    static std::shared_ptr<const Model> load(GgufFile file);

    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const GgufFile& gguf() const { return file_; }
    const ModelConfig& config() const { return config_; }
    const ModelShape& shape() const { return config_.shape; }
    const ModelWeights& weights() const { return weights_; }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    const ChatTemplate& chat_template() const { return chat_template_; }

private:
    explicit Model(GgufFile file);
    WeightTensor weight(const std::string& name) const;
    const float* f32_vector(const std::string& name);

    GgufFile file_;
    ModelConfig config_;
    ModelWeights weights_;
    std::vector<std::vector<float>> converted_;  // 1-D tensors not stored as F32, converted at load
    std::unique_ptr<Tokenizer> tokenizer_;
    ChatTemplate chat_template_;
};

}  // namespace kvscope
