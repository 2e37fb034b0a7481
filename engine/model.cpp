#include "engine/model.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/error.h"
#include "kernels/quant.h"
#include "resources/embedded_model.h"

namespace kvscope {

void ModelLoadOptions::validate() const {
    if (weight_type && !is_requantization_target(*weight_type)) {
        throw ConfigError("weights cannot be re-quantised to " + std::string(type_name(*weight_type)) +
                          " at load; choose " + requantization_target_list() + ", or keep them as stored");
    }
    if (k_quant_medium && weight_type != TensorType::Q4_K && weight_type != TensorType::Q5_K) {
        throw ConfigError("the _M mixture is made over Q4_K or Q5_K weights, not " +
                          (weight_type ? std::string(type_name(*weight_type)) : std::string("weights as stored")));
    }
}

std::shared_ptr<const Model> Model::load(const std::string& source, const ModelLoadOptions& options) {
    options.validate();
    if (options.on_progress) options.on_progress(0.0, "reading " + source);
    if (source.empty() || source == kEmbeddedModelName) {
        return load(GgufFile::from_memory(embedded_model_bytes(), std::string(kEmbeddedModelName)), options);
    }
    return load(GgufFile::open(source), options);
}

std::shared_ptr<const Model> Model::load(GgufFile file, const ModelLoadOptions& options) {
    options.validate();
    return std::shared_ptr<const Model>(new Model(std::move(file), options));
}

void check_tokenizer_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& file_name) {
    if (tokenizer.vocab_size() > config.shape.vocab_size) {
        throw ModelError(file_name + ": the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                         " tokens but the embedding only " + std::to_string(config.shape.vocab_size) +
                         " rows; the file is inconsistent — re-convert the model");
    }
}

Model::Model(GgufFile file, const ModelLoadOptions& options)
    : file_(std::move(file)),
      config_(read_model_config(file_)),
      requantized_to_(options.weight_type),
      options_(options),
      loaded_weight_bytes_(config_.weight_bytes),
      tokenizer_(std::make_unique<Tokenizer>(tokenizer_spec_from_gguf(file_))),
      chat_template_(ChatTemplate::for_model(file_.get_string("tokenizer.chat_template").value_or(""), *tokenizer_)) {
    report("tokenizer and configuration read");
    if (requantized_to_) load_pool_ = std::make_unique<ThreadPool>(options.threads);
    check_tokenizer_fits(*tokenizer_, config_, file_.name());
    weights_.token_embedding = weight("token_embd.weight");
    weights_.output_norm = f32_vector("output_norm.weight");
    weights_.output = config_.tied_embeddings ? weights_.token_embedding : weight("output.weight");
    if (file_.find_tensor("rope_freqs.weight")) weights_.rope_freq_factors = f32_vector("rope_freqs.weight");
    for (int l = 0; l < config_.shape.num_layers; ++l) {
        auto name = [l](const char* suffix) { return layer_tensor_name(l, suffix); };
        LayerWeights w;
        w.attn_norm = f32_vector(name("attn_norm.weight"));
        w.wq = weight(name("attn_q.weight"));
        w.wk = weight(name("attn_k.weight"));
        w.wv = weight(name("attn_v.weight"));
        if (config_.has_qkv_bias) {
            w.bq = f32_vector(name("attn_q.bias"));
            w.bk = f32_vector(name("attn_k.bias"));
            w.bv = f32_vector(name("attn_v.bias"));
        }
        w.wo = weight(name("attn_output.weight"));
        w.ffn_norm = f32_vector(name("ffn_norm.weight"));
        w.ffn_gate = weight(name("ffn_gate.weight"));
        w.ffn_up = weight(name("ffn_up.weight"));
        w.ffn_down = weight(name("ffn_down.weight"));
        weights_.layers.push_back(w);
    }
    load_pool_.reset();
    bytes_done_ = config_.weight_bytes;
    report("weights ready");
    options_.on_progress = nullptr;  // the caller's callback is not kept beyond the load
}

std::string Model::requantized_name() const {
    if (!requantized_to_) return {};
    return WeightConversion{*requantized_to_, options_.k_quant_medium}.name();
}

void Model::report(const std::string& stage) {
    if (!options_.on_progress) return;
    const double total = static_cast<double>(std::max<std::uint64_t>(config_.weight_bytes, 1));
    options_.on_progress(std::min(1.0, static_cast<double>(bytes_done_) / total), stage);
}

WeightTensor Model::weight(const std::string& name) {
    const GgufTensorInfo* t = file_.find_tensor(name);  // presence and shape checked by read_model_config
    const WeightTensor stored{t->type, t->shape.size() > 1 ? t->shape[1] : 1, t->shape[0],
                              file_.tensor_data(*t).data()};
    const WeightTensor loaded = requantize(stored, target_of(name));
    bytes_done_ += t->num_bytes;
    if (requantized_to_) report("re-quantising " + name);
    return loaded;
}

std::optional<TensorType> Model::target_of(const std::string& name) const {
    if (!requantized_to_ || !options_.k_quant_medium) return requantized_to_;
    return k_quant_medium_type(*requantized_to_, name, weight_layer(name), config_.shape.num_layers,
                               config_.tied_embeddings);
}

// stored type -> f32 -> the target type, into a buffer this Model keeps, on the load's threads
WeightTensor Model::requantize(const WeightTensor& stored, std::optional<TensorType> to) {
    if (!to || !requantizes(stored.type, stored.cols, *to)) return stored;
    const TensorType target = *to;
    const std::size_t src_row = row_bytes(stored.type, stored.cols);
    const std::size_t dst_row = row_bytes(target, stored.cols);
    std::vector<std::uint8_t>& out = requantized_.emplace_back(dst_row * static_cast<std::size_t>(stored.rows));
    requantize_rows(stored.type, static_cast<const std::uint8_t*>(stored.data), target, out.data(), stored.cols,
                    stored.rows, *load_pool_);
    loaded_weight_bytes_ = loaded_weight_bytes_ + out.size() - src_row * static_cast<std::size_t>(stored.rows);
    return WeightTensor{target, stored.rows, stored.cols, out.data()};
}

// 1-D tensors (norms, biases, rope factors) as f32: in place when stored as F32, else converted.
const float* Model::f32_vector(const std::string& name) {
    const GgufTensorInfo* t = file_.find_tensor(name);
    const auto bytes = file_.tensor_data(*t);
    const bool aligned = reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0;
    if (t->type == TensorType::F32 && aligned) return reinterpret_cast<const float*>(bytes.data());
    std::vector<float>& out = converted_.emplace_back(static_cast<size_t>(t->num_elements()));
    if (t->type == TensorType::F32) {
        std::memcpy(out.data(), bytes.data(), bytes.size());
    } else {
        dequantize_row(t->type, bytes.data(), out.data(), t->num_elements());
    }
    return out.data();
}

}  // namespace kvscope
