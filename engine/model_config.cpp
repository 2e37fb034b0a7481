#include "engine/model_config.h"

#include <cmath>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "engine/llama_file_type.h"

namespace kvscope {

namespace {

std::string shape_string(const std::vector<std::int64_t>& shape) {
    std::ostringstream s;
    s << '[';
    for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

class ConfigReader {
public:
    ConfigReader(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

    std::int32_t positive_int(const std::string& suffix, std::optional<std::int64_t> fallback = std::nullopt) const {
        const std::string key = arch_ + "." + suffix;
        std::optional<std::int64_t> v = file_.get_int(key);
        if (!v) v = fallback;
        if (!v) v = file_.require_int(key);  // throws: missing required key
        if (*v <= 0 || *v > (std::int64_t{1} << 30)) {
            fail("key '" + key + "' has the value " + std::to_string(*v) + ", which is not a valid size");
        }
        return static_cast<std::int32_t>(*v);
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw ModelError(file_.name() + ": " + what + "; the file is inconsistent — re-convert the model");
    }

    // Checks that `name` exists with `expected` shape and a computable type; returns it.
    const GgufTensorInfo& tensor(const std::string& name, const std::vector<std::int64_t>& expected,
                                 const std::string& why) const {
        const GgufTensorInfo* t = file_.find_tensor(name);
        if (t == nullptr) {
            throw ModelError(file_.name() + ": missing tensor '" + name + "' that a " + arch_ +
                             " model needs; the file is incomplete or not a " + arch_ + " model");
        }
        check(*t, expected, why);
        return *t;
    }

    void check(const GgufTensorInfo& t, const std::vector<std::int64_t>& expected, const std::string& why) const {
        if (t.shape != expected) {
            fail("tensor '" + t.name + "' has shape " + shape_string(t.shape) + " but " + why + " need " +
                 shape_string(expected));
        }
        if (!type_info(t.type).computable) {
            throw ModelError(file_.name() + ": tensor '" + t.name + "' has type " + std::string(type_name(t.type)) +
                             ", which kvscope cannot compute (supported: " + std::string(computable_type_names()) +
                             "); use a file quantised to one of those (e.g. Q4_K_M, Q8_0 or F16)");
        }
    }

private:
    const GgufFile& file_;
    std::string arch_;
};

}  // namespace

std::string layer_tensor_name(int layer, const char* suffix) {
    return "blk." + std::to_string(layer) + "." + suffix;
}

ModelConfig read_model_config(const GgufFile& file) {
    ModelConfig c;
    c.architecture_name = file.require_string("general.architecture");
    if (c.architecture_name == "llama") {
        c.architecture = Architecture::Llama;
    } else if (c.architecture_name == "qwen2") {
        c.architecture = Architecture::Qwen2;
    } else {
        throw ModelError(file.name() + ": model architecture '" + c.architecture_name +
                         "' is not supported (supported: llama, qwen2); use a Llama-, Mistral-, TinyLlama-, "
                         "SmolLM- or Qwen2-family model");
    }
    const ConfigReader r(file, c.architecture_name);
    if (file.get_int(c.architecture_name + ".expert_count").value_or(0) > 0) {
        throw ModelError(file.name() + ": mixture-of-experts models are not supported; use a dense model");
    }
    c.name = file.get_string("general.name").value_or(file.name());

    ModelShape& s = c.shape;
    s.num_layers = r.positive_int("block_count");
    s.dim = r.positive_int("embedding_length");
    s.ffn_dim = r.positive_int("feed_forward_length");
    s.num_heads = r.positive_int("attention.head_count");
    s.num_kv_heads = r.positive_int("attention.head_count_kv", s.num_heads);
    if (s.dim % s.num_heads != 0 && !file.get_int(c.architecture_name + ".attention.key_length")) {
        r.fail("embedding_length " + std::to_string(s.dim) + " is not a multiple of head_count " +
               std::to_string(s.num_heads));
    }
    s.head_dim = r.positive_int("attention.key_length", s.dim / s.num_heads);
    if (r.positive_int("attention.value_length", s.head_dim) != s.head_dim) {
        r.fail("attention.value_length differs from attention.key_length, which this engine does not support");
    }
    if (s.num_heads % s.num_kv_heads != 0) {
        r.fail("head_count " + std::to_string(s.num_heads) + " is not a multiple of head_count_kv " +
               std::to_string(s.num_kv_heads));
    }
    s.rope_dim = r.positive_int("rope.dimension_count", s.head_dim);
    if (s.rope_dim > s.head_dim || s.rope_dim % 2 != 0) {
        r.fail("rope.dimension_count " + std::to_string(s.rope_dim) + " must be even and at most the head size " +
               std::to_string(s.head_dim));
    }
    s.rope_freq_base = static_cast<float>(file.get_float(c.architecture_name + ".rope.freq_base").value_or(10000.0));
    const std::string scaling = file.get_string(c.architecture_name + ".rope.scaling.type").value_or("none");
    if (scaling == "linear") {
        const double factor = file.get_float(c.architecture_name + ".rope.scaling.factor").value_or(1.0);
        if (factor <= 0) r.fail("rope.scaling.factor must be positive");
        s.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (scaling != "none" && scaling != "") {
        throw ModelError(file.name() + ": rope scaling '" + scaling +
                         "' is not supported (supported: none, linear); use a model without it");
    }
    s.rope_style = c.architecture == Architecture::Qwen2 ? RopeStyle::Neox : RopeStyle::Normal;
    s.rms_eps = static_cast<float>(file.require_float(c.architecture_name + ".attention.layer_norm_rms_epsilon"));
    if (!(s.rms_eps > 0.0f) || !std::isfinite(s.rms_eps)) {  // NaN or <= 0: every RMSNorm would be NaN
        r.fail("attention.layer_norm_rms_epsilon is " + std::to_string(s.rms_eps) + "; it must be a positive number");
    }
    if (!(s.rope_freq_base > 0.0f) || !std::isfinite(s.rope_freq_base)) {
        r.fail("rope.freq_base is " + std::to_string(s.rope_freq_base) + "; it must be a positive number");
    }
    s.max_context = r.positive_int("context_length", 2048);

    // Tensors: presence, shapes (GGUF order: innermost first) and computable types.
    const std::string hp = "the hyperparameters (embedding " + std::to_string(s.dim) + ", heads " +
                           std::to_string(s.num_heads) + "/" + std::to_string(s.num_kv_heads) + ", head size " +
                           std::to_string(s.head_dim) + ", feed-forward " + std::to_string(s.ffn_dim) + ")";
    const GgufTensorInfo* embd = file.find_tensor("token_embd.weight");
    if (embd == nullptr) r.tensor("token_embd.weight", {}, hp);  // throws: missing tensor
    if (embd->shape.size() != 2) {
        r.fail("tensor 'token_embd.weight' has shape " + shape_string(embd->shape) +
               " but must be 2-D [embedding, vocabulary]");
    }
    s.vocab_size = static_cast<std::int32_t>(embd->shape[1]);
    r.check(*embd, {s.dim, s.vocab_size}, hp);
    const std::int64_t q_dim = s.q_dim(), kv_dim = s.kv_dim();
    r.tensor("output_norm.weight", {s.dim}, hp);
    if (const GgufTensorInfo* out = file.find_tensor("output.weight")) {
        r.check(*out, {s.dim, s.vocab_size},
                "the embedding's vocabulary of " + std::to_string(s.vocab_size) + " tokens");
    } else {
        c.tied_embeddings = true;
    }
    if (const GgufTensorInfo* f = file.find_tensor("rope_freqs.weight")) r.check(*f, {s.rope_dim / 2}, hp);
    c.has_qkv_bias = file.find_tensor(layer_tensor_name(0, "attn_q.bias")) != nullptr;
    for (int l = 0; l < s.num_layers; ++l) {
        auto name = [l](const char* suffix) { return layer_tensor_name(l, suffix); };
        r.tensor(name("attn_norm.weight"), {s.dim}, hp);
        r.tensor(name("attn_q.weight"), {s.dim, q_dim}, hp);
        r.tensor(name("attn_k.weight"), {s.dim, kv_dim}, hp);
        r.tensor(name("attn_v.weight"), {s.dim, kv_dim}, hp);
        r.tensor(name("attn_output.weight"), {q_dim, s.dim}, hp);
        r.tensor(name("ffn_norm.weight"), {s.dim}, hp);
        r.tensor(name("ffn_gate.weight"), {s.dim, s.ffn_dim}, hp);
        r.tensor(name("ffn_up.weight"), {s.dim, s.ffn_dim}, hp);
        r.tensor(name("ffn_down.weight"), {s.ffn_dim, s.dim}, hp);
        if (c.has_qkv_bias) {
            r.tensor(name("attn_q.bias"), {q_dim}, hp);
            r.tensor(name("attn_k.bias"), {kv_dim}, hp);
            r.tensor(name("attn_v.bias"), {kv_dim}, hp);
        }
    }

    if (const GgufValue* ftype = file.find("general.file_type")) {
        if (const std::optional<std::int64_t> n = ftype->as_int()) c.file_type = std::string(llama_file_type_name(*n));
    }

    // Totals, and the type holding most weight bytes.
    std::map<TensorType, std::uint64_t> bytes_by_type;
    for (const GgufTensorInfo& t : file.tensors()) {
        c.num_params += t.num_elements();
        c.weight_bytes += t.num_bytes;
        if (t.shape.size() == 2) bytes_by_type[t.type] += t.num_bytes;
    }
    std::uint64_t most = 0;
    for (const auto& [type, bytes] : bytes_by_type) {
        if (bytes > most) most = bytes, c.weight_type = type;
    }
    return c;
}

}  // namespace kvscope
