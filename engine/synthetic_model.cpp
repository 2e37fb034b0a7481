#include "engine/synthetic_model.h"

#include <cmath>
#include <cstring>
#include <optional>

#include "engine/error.h"
#include "engine/gguf_writer.h"
#include "engine/llama_file_type.h"
#include "engine/requantization.h"
#include "engine/rng.h"
#include "engine/unicode.h"
#include "kernels/quant.h"

namespace kvscope {
namespace {

// Bijective base-26 word for k: a, b, ..., z, aa, ab, ...
std::string word(std::int64_t k) {
    std::string s;
    for (++k; k > 0; k = (k - 1) / 26) s.insert(s.begin(), static_cast<char>('a' + (k - 1) % 26));
    return s;
}

// A SentencePiece-style vocabulary: <unk>, <s>, </s>, 256 byte tokens, "▁", then letter pieces.
void write_vocabulary(GgufWriter& w, std::int32_t vocab_size) {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<float> scores = {0, 0, 0};
    std::vector<std::int32_t> types = {2, 3, 3};  // unknown, control, control
    char hex[8];
    for (int b = 0; b < 256; ++b) {
        std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
        tokens.emplace_back(hex);
        scores.push_back(0);
        types.push_back(6);  // byte
    }
    // The space marker alone: a space before a digit, a symbol or a byte-spelled character is a
    // token of its own, as in real SentencePiece vocabularies (without it, its three bytes).
    tokens.emplace_back("\xE2\x96\x81");
    scores.push_back(-static_cast<float>(vocab_size));
    types.push_back(1);  // normal
    for (std::int64_t k = 0; static_cast<std::int32_t>(tokens.size()) < vocab_size; ++k) {
        const std::string piece = (k % 2 == 0 ? "\xE2\x96\x81" : "") + word(k / 2);
        tokens.push_back(piece);
        scores.push_back(-static_cast<float>(k));
        types.push_back(1);  // normal
    }
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_f32_array("tokenizer.ggml.scores", scores);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
}

// A GPT-2 byte-level BPE vocabulary: the 256 byte symbols, then letter words with and without
// the space marker "Ġ", each made by one merge of a shorter token and a letter, then ChatML
// special tokens (and <|endoftext|> as EOS).
void write_bpe_vocabulary(GgufWriter& w, std::int32_t vocab_size) {
    std::vector<std::string> tokens;
    std::vector<std::int32_t> types;
    std::vector<std::string> merges;
    for (int b = 0; b < 256; ++b) {
        std::string symbol;
        utf8_append(symbol, byte_to_codepoint(static_cast<std::uint8_t>(b)));
        tokens.push_back(symbol);
        types.push_back(1);
    }
    std::string space;
    utf8_append(space, byte_to_codepoint(' '));
    const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    const auto num_tokens = static_cast<std::size_t>(vocab_size) - specials.size();
    for (std::int64_t k = 0; tokens.size() < num_tokens; ++k) {
        // word(k / 2) with (even k) or without (odd k) the space marker; its prefix came before.
        // Single letters are byte symbols already.
        const std::string base = word(k / 2);
        if (k % 2 == 1 && base.size() == 1) continue;
        const std::string text = (k % 2 == 0 ? space : "") + base;
        const std::string left = text.substr(0, text.size() - 1);
        merges.push_back(left + " " + text.substr(text.size() - 1));
        tokens.push_back(text);
        types.push_back(1);
    }
    const auto eos = static_cast<std::uint32_t>(tokens.size());
    for (const std::string& special : specials) {
        tokens.push_back(special);
        types.push_back(3);  // control
    }
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "qwen2");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_string_array("tokenizer.ggml.merges", merges);
    w.set_u32("tokenizer.ggml.eos_token_id", eos + 2);  // <|im_end|>, as Qwen2 chat models
    w.set_u32("tokenizer.ggml.padding_token_id", eos);
    w.set_u32("tokenizer.ggml.bos_token_id", eos);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    w.set_string("tokenizer.chat_template",
                 "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                 "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                 "{% endif %}");
}

// Deterministic pseudo-random rows: row r of tensor t depends only on (seed, t, r).
class TensorFiller {
public:
    TensorFiller(std::uint64_t seed, std::uint64_t tensor_index, TensorType type, std::int64_t cols, float scale)
        : seed_(seed ^ (tensor_index * 0x9E3779B97F4A7C15ull)),
          type_(type),
          cols_(cols),
          scale_(scale),
          row_bytes_(row_bytes(type, cols)) {}

    void operator()(std::uint64_t byte_offset, std::span<std::uint8_t> out) const {
        // One row of floats per thread, shared by every tensor: a filler per tensor waits in the
        // writer until its turn, and a buffer each would add up (layers x 7 rows).
        thread_local std::vector<float> row;
        row.resize(static_cast<std::size_t>(cols_));
        const std::uint64_t first_row = byte_offset / row_bytes_;
        const std::size_t num_rows = out.size() / row_bytes_;
        for (std::size_t i = 0; i < num_rows; ++i) {
            SequenceRandom random(seed_, first_row + i);
            for (float& v : row) v = static_cast<float>((2.0 * random.uniform01() - 1.0) * scale_);
            quantize_row(type_, row.data(), out.data() + i * row_bytes_, cols_);
        }
    }

private:
    std::uint64_t seed_;
    TensorType type_;
    std::int64_t cols_;
    float scale_;
    std::size_t row_bytes_;
};

// Filled as it is written (not held: thousands of norm vectors of a huge shape add up).
void add_constant(GgufWriter& w, const std::string& name, std::int64_t n, float value) {
    w.add_tensor(name, {n}, TensorType::F32, [value](std::uint64_t, std::span<std::uint8_t> out) {
        for (std::size_t i = 0; i + sizeof(float) <= out.size(); i += sizeof(float)) {
            std::memcpy(out.data() + i, &value, sizeof(float));
        }
    });
}

}  // namespace

void SyntheticModelSpec::validate() const {
    auto fail = [](const std::string& what) { throw ConfigError("synthetic model: " + what); };
    if (architecture != "llama" && architecture != "qwen2") fail("architecture must be llama or qwen2");
    if (num_layers < 1 || dim < 1 || ffn_dim < 1 || num_heads < 1 || num_kv_heads < 1) {
        fail("layers, dim, ffn, heads and kv heads must be positive");
    }
    if (dim % num_heads != 0)
        fail("dim " + std::to_string(dim) + " is not a multiple of heads " + std::to_string(num_heads));
    if (num_heads % num_kv_heads != 0) fail("heads must be a multiple of kv heads");
    if ((dim / num_heads) % 2 != 0) fail("the head size dim / heads must be even");
    if (vocab_size < 300) fail("vocab must be at least 300 (3 special + 256 byte tokens + pieces)");
    if (context_length < 16) fail("context must be at least 16");
    if (tokenizer != "llama" && tokenizer != "gpt2") fail("tokenizer must be llama or gpt2");
    if (k_quant_medium && weight_type != TensorType::Q4_K && weight_type != TensorType::Q5_K)
        fail("the _M mixture is made over Q4_K or Q5_K weights, not " + std::string(type_name(weight_type)));
    if (!type_info(weight_type).computable || weight_type == TensorType::Q8_1 || weight_type == TensorType::Q8_K) {
        fail("weight type " + std::string(type_name(weight_type)) + " cannot be written; use one of " +
             std::string(computable_type_names()));
    }
    // K-quant rows that do not fill their 256-element blocks are written as Q8_0 (32).
    const std::int64_t block = std::min<std::int64_t>(type_info(weight_type).block_elems, 32);
    if (dim % block != 0 || ffn_dim % block != 0) {
        fail("dim and ffn must be multiples of " + std::to_string(block) + " for " +
             std::string(type_name(weight_type)) + " weights");
    }
}

TensorType synthetic_weight_type(const SyntheticModelSpec& spec, const std::string& name, int layer,
                                 std::int64_t cols) {
    const TensorType type =
        spec.k_quant_medium ? k_quant_medium_type(spec.weight_type, name, layer, spec.num_layers, spec.tied_embeddings)
                            : spec.weight_type;
    return cols % type_info(type).block_elems == 0 ? type : TensorType::Q8_0;
}

bool parse_synthetic_weight_type(const std::string& text, SyntheticModelSpec& spec) {
    // A mixture named as --weight-type and quantize name it; otherwise any one tensor type.
    if (const std::optional<WeightConversion> c = parse_weight_conversion(text); c && c->k_quant_medium) {
        spec.weight_type = c->base;
        spec.k_quant_medium = true;
        return true;
    }
    const std::optional<TensorType> t = parse_tensor_type(text);
    if (!t) return false;
    spec.weight_type = *t;
    spec.k_quant_medium = false;
    return true;
}

SyntheticModelSpec synthetic_preset(const std::string& name) {
    SyntheticModelSpec s;
    s.name = name;
    if (name == "llama-3.2-1b") {
        s.num_layers = 16, s.dim = 2048, s.ffn_dim = 8192, s.num_heads = 32, s.num_kv_heads = 8;
        s.vocab_size = 128256, s.context_length = 131072, s.rope_freq_base = 500000.0f, s.tied_embeddings = true;
    } else if (name == "tinyllama-1.1b") {
        s.num_layers = 22, s.dim = 2048, s.ffn_dim = 5632, s.num_heads = 32, s.num_kv_heads = 4;
        s.vocab_size = 32000, s.context_length = 2048;
    } else if (name == "qwen2.5-0.5b") {
        s.architecture = "qwen2";
        s.num_layers = 24, s.dim = 896, s.ffn_dim = 4864, s.num_heads = 14, s.num_kv_heads = 2;
        s.vocab_size = 151936, s.context_length = 32768, s.rope_freq_base = 1000000.0f, s.tied_embeddings = true;
        s.rms_eps = 1e-6f;
        s.tokenizer = "gpt2";
    } else if (name == "smollm-135m") {
        s.num_layers = 30, s.dim = 576, s.ffn_dim = 1536, s.num_heads = 9, s.num_kv_heads = 3;
        s.vocab_size = 49152, s.context_length = 2048, s.tied_embeddings = true;
    } else if (name == "tiny") {
        s.num_layers = 2, s.dim = 64, s.ffn_dim = 128, s.num_heads = 4, s.num_kv_heads = 2, s.vocab_size = 512;
    } else {
        std::string names;
        for (const std::string& n : synthetic_preset_names()) names += (names.empty() ? "" : ", ") + n;
        throw ConfigError("unknown model preset '" + name + "'; use one of " + names);
    }
    return s;
}

std::vector<std::string> synthetic_preset_names() {
    return {"llama-3.2-1b", "tinyllama-1.1b", "qwen2.5-0.5b", "smollm-135m", "tiny"};
}

void write_synthetic_model(const SyntheticModelSpec& spec, const std::string& path) {
    spec.validate();
    const std::string& a = spec.architecture;
    const std::int64_t head_dim = spec.dim / spec.num_heads;
    const std::int64_t q_dim = spec.dim, kv_dim = head_dim * spec.num_kv_heads;
    GgufWriter w;
    w.set_string("general.architecture", a);
    w.set_string("general.name", spec.name);
    w.set_u32("general.file_type", llama_file_type(spec.weight_type, spec.k_quant_medium));
    if (type_info(spec.weight_type).block_elems > 1) w.set_u32("general.quantization_version", 2);
    w.set_u32(a + ".block_count", static_cast<std::uint32_t>(spec.num_layers));
    w.set_u32(a + ".context_length", static_cast<std::uint32_t>(spec.context_length));
    w.set_u32(a + ".embedding_length", static_cast<std::uint32_t>(spec.dim));
    w.set_u32(a + ".feed_forward_length", static_cast<std::uint32_t>(spec.ffn_dim));
    w.set_u32(a + ".attention.head_count", static_cast<std::uint32_t>(spec.num_heads));
    w.set_u32(a + ".attention.head_count_kv", static_cast<std::uint32_t>(spec.num_kv_heads));
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", spec.rms_eps);
    w.set_f32(a + ".rope.freq_base", spec.rope_freq_base);
    w.set_u32(a + ".rope.dimension_count", static_cast<std::uint32_t>(head_dim));
    if (spec.tokenizer == "gpt2") {
        write_bpe_vocabulary(w, spec.vocab_size);
    } else {
        write_vocabulary(w, spec.vocab_size);
    }

    // Weights: uniform in [-s, s] with s = sqrt(3 / fan_in), so every projection keeps unit scale.
    std::uint64_t index = 0;
    int layer = -1;  // the block the tensors being added belong to
    auto matrix = [&](const std::string& name, std::int64_t rows, std::int64_t cols, float scale) {
        const TensorType type = synthetic_weight_type(spec, name, layer, cols);
        w.add_tensor(name, {cols, rows}, type, TensorFiller(spec.seed, index++, type, cols, scale));
    };
    auto fan_in = [](std::int64_t cols) { return static_cast<float>(std::sqrt(3.0 / double(cols))); };
    matrix("token_embd.weight", spec.vocab_size, spec.dim, 1.0f);
    add_constant(w, "output_norm.weight", spec.dim, 1.0f);
    if (!spec.tied_embeddings) matrix("output.weight", spec.vocab_size, spec.dim, fan_in(spec.dim));
    for (int l = 0; l < spec.num_layers; ++l) {
        layer = l;
        const std::string p = "blk." + std::to_string(l) + ".";
        add_constant(w, p + "attn_norm.weight", spec.dim, 1.0f);
        matrix(p + "attn_q.weight", q_dim, spec.dim, fan_in(spec.dim));
        matrix(p + "attn_k.weight", kv_dim, spec.dim, fan_in(spec.dim));
        matrix(p + "attn_v.weight", kv_dim, spec.dim, fan_in(spec.dim));
        if (a == "qwen2") {
            w.add_tensor(p + "attn_q.bias", {q_dim}, TensorType::F32,
                         TensorFiller(spec.seed, index++, TensorType::F32, q_dim, 0.1f));
            w.add_tensor(p + "attn_k.bias", {kv_dim}, TensorType::F32,
                         TensorFiller(spec.seed, index++, TensorType::F32, kv_dim, 0.1f));
            w.add_tensor(p + "attn_v.bias", {kv_dim}, TensorType::F32,
                         TensorFiller(spec.seed, index++, TensorType::F32, kv_dim, 0.1f));
        }
        matrix(p + "attn_output.weight", spec.dim, q_dim, fan_in(q_dim));
        add_constant(w, p + "ffn_norm.weight", spec.dim, 1.0f);
        matrix(p + "ffn_gate.weight", spec.ffn_dim, spec.dim, fan_in(spec.dim));
        matrix(p + "ffn_up.weight", spec.ffn_dim, spec.dim, fan_in(spec.dim));
        matrix(p + "ffn_down.weight", spec.dim, spec.ffn_dim, fan_in(spec.ffn_dim));
    }
    w.write(path);
}

}  // namespace kvscope
