#pragma once
// A loaded model: the mapped GGUF file, its validated configuration, views of its weights for
// the backends, its tokenizer and chat template. Immutable once loaded; shared by whoever runs it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/gguf.h"
#include "engine/model_config.h"
#include "engine/model_load_options.h"
#include "engine/tokenizer.h"
#include "kernels/model_weights.h"
#include "kernels/thread_pool.h"

namespace kvscope {

// ModelError when the tokenizer has more tokens than the embedding has rows (what Model's
// constructor checks; kvscope-cli info asks it too).
void check_tokenizer_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& file_name);

class Model {
public:
    // `source` is a path to a .gguf file, or kEmbeddedModelName / "" for the embedded default.
    // Throws FileError (unreadable or malformed file), ModelError (cannot be run) or ConfigError
    // (bad options).
    static std::shared_ptr<const Model> load(const std::string& source, const ModelLoadOptions& options = {});
    static std::shared_ptr<const Model> load(GgufFile file, const ModelLoadOptions& options = {});

    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const GgufFile& gguf() const { return file_; }
    const ModelConfig& config() const { return config_; }
    const ModelShape& shape() const { return config_.shape; }
    const ModelWeights& weights() const { return weights_; }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    const ChatTemplate& chat_template() const { return chat_template_; }
    // The re-quantisation asked for at load (nullopt: weights as stored), and how many 2-D
    // weights it converted (weights already of that type, or whose rows do not fit its blocks,
    // are left as stored).
    std::optional<TensorType> requantized_to() const { return requantized_to_; }
    // The re-quantisation as llama.cpp names it ("Q4_K", "Q4_K_M" for the mixture over
    // requantized_to()); empty for weights as stored.
    std::string requantized_name() const;
    int num_requantized_weights() const { return static_cast<int>(requantized_.size()); }
    // Bytes of the weights as loaded: config().weight_bytes (as stored) with the re-quantised
    // weights counted at their new size.
    std::uint64_t loaded_weight_bytes() const { return loaded_weight_bytes_; }

private:
    Model(GgufFile file, const ModelLoadOptions& options);
    WeightTensor weight(const std::string& name);
    // The type the load converts weight `name` to (the mixture's choice for it), or nullopt.
    std::optional<TensorType> target_of(const std::string& name) const;
    // `stored` converted to `to` in a buffer the Model owns, or itself (nullopt, or rows that do
    // not fit, or already that type).
    WeightTensor requantize(const WeightTensor& stored, std::optional<TensorType> to);
    void report(const std::string& stage);
    const float* f32_vector(const std::string& name);

    GgufFile file_;
    ModelConfig config_;
    ModelWeights weights_;
    std::vector<std::vector<float>> converted_;           // 1-D tensors not stored as F32, converted at load
    std::vector<std::vector<std::uint8_t>> requantized_;  // 2-D weights re-quantised at load
    std::optional<TensorType> requantized_to_;
    ModelLoadOptions options_;
    std::uint64_t loaded_weight_bytes_ = 0;
    std::uint64_t bytes_done_ = 0;  // stored bytes of the weights visited so far (for progress)
    std::unique_ptr<ThreadPool> load_pool_;  // re-quantisation threads, during the load only
    std::unique_ptr<Tokenizer> tokenizer_;
    ChatTemplate chat_template_;
};

}  // namespace kvscope
