#include "engine/model.h"

#include <cstdint>
#include <cstring>

#include "engine/error.h"
#include "kernels/quant.h"
#include "resources/embedded_model.h"

namespace kvscope {

std::shared_ptr<const Model> Model::load(const std::string& source) {
    if (source.empty() || source == kEmbeddedModelName) {
        return load(GgufFile::from_memory(embedded_model_bytes(), std::string(kEmbeddedModelName)));
    }
    return load(GgufFile::open(source));
}

std::shared_ptr<const Model> Model::load(GgufFile file) {
    return std::shared_ptr<const Model>(new Model(std::move(file)));
}

Model::Model(GgufFile file)
    : file_(std::move(file)),
      config_(read_model_config(file_)),
      tokenizer_(std::make_unique<Tokenizer>(tokenizer_spec_from_gguf(file_))),
      chat_template_(ChatTemplate::for_model(file_.get_string("tokenizer.chat_template").value_or(""), *tokenizer_)) {
    if (tokenizer_->vocab_size() > config_.shape.vocab_size) {
        throw ModelError(file_.name() + ": the tokenizer has " + std::to_string(tokenizer_->vocab_size()) +
                         " tokens but the embedding only " + std::to_string(config_.shape.vocab_size) +
                         " rows; the file is inconsistent — re-convert the model");
    }
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
}

WeightTensor Model::weight(const std::string& name) const {
    const GgufTensorInfo* t = file_.find_tensor(name);  // presence and shape checked by read_model_config
    return WeightTensor{t->type, t->shape.size() > 1 ? t->shape[1] : 1, t->shape[0], file_.tensor_data(*t).data()};
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
