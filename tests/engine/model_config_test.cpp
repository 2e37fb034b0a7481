// Model-level checks of a GGUF file: each way a well-formed file can fail to be a runnable model
// gets a ModelError whose one-line message names the problem, the key or tensor, and the file.

#include "engine/model_config.h"

#include <gtest/gtest.h>

#include <cmath>

#include <functional>

#include "engine/error.h"
#include "engine/gguf_writer.h"
#include "engine/model.h"
#include "engine/synthetic_model.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace model_config_test {

struct Tweak {
    std::function<void(GgufWriter&)> metadata;  // after copying the metadata
    std::function<bool(const GgufTensorInfo&, std::vector<std::int64_t>&, TensorType&)> tensor;  // false: drop it
};

// Copies the tiny synthetic model into a new file, changing what `tweak` says.
std::string rewrite(const Tweak& tweak, const std::string& name) {
    const auto dir = test::temp_dir();
    SyntheticModelSpec spec = synthetic_preset("tiny");
    write_synthetic_model(spec, (dir / "base.gguf").string());
    const GgufFile base = GgufFile::open((dir / "base.gguf").string());
    GgufWriter w;
    for (const auto& [key, value] : base.metadata()) w.set(key, value);
    if (tweak.metadata) tweak.metadata(w);
    for (const GgufTensorInfo& t : base.tensors()) {
        std::vector<std::int64_t> shape = t.shape;
        TensorType type = t.type;
        if (tweak.tensor && !tweak.tensor(t, shape, type)) continue;
        std::int64_t elements = 1;
        for (std::int64_t d : shape) elements *= d;
        std::vector<std::uint8_t> bytes(row_bytes(type, shape[0]) * std::size_t(elements / shape[0]), 0);
        w.add_tensor(t.name, shape, type, bytes);
    }
    const std::string path = (dir / name).string();
    w.write(path);
    return path;
}

std::string load_error(const std::string& path) {
    try {
        Model::load(path);
    } catch (const ModelError& e) {
        return e.what();
    }
    return "loaded";
}

void expect_message(const std::string& message, std::initializer_list<const char*> parts) {
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const char* p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
}

TEST(ModelConfig, ReadsTheEmbeddedModelsHyperparameters) {
    const GgufFile file = GgufFile::open(test::stories260k_path().string());
    const ModelConfig c = read_model_config(file);
    EXPECT_EQ(c.architecture, Architecture::Llama);
    EXPECT_EQ(c.shape.num_layers, 5);
    EXPECT_EQ(c.shape.dim, 64);
    EXPECT_EQ(c.shape.ffn_dim, 172);
    EXPECT_EQ(c.shape.num_heads, 8);
    EXPECT_EQ(c.shape.num_kv_heads, 4);
    EXPECT_EQ(c.shape.head_dim, 8);
    EXPECT_EQ(c.shape.vocab_size, 512);
    EXPECT_EQ(c.shape.rope_dim, 8);
    EXPECT_EQ(c.shape.rope_style, RopeStyle::Normal);
    EXPECT_FLOAT_EQ(c.shape.rms_eps, 1e-5f);
    EXPECT_FLOAT_EQ(c.shape.rope_freq_base, 10000.0f);
    EXPECT_EQ(c.shape.max_context, 2048);
    EXPECT_EQ(c.weight_type, TensorType::F32);
    EXPECT_FALSE(c.has_qkv_bias);
}

TEST(ModelConfig, TheUnchangedCopyLoads) {
    EXPECT_EQ(load_error(rewrite({}, "same.gguf")), "loaded");
}

TEST(ModelConfig, UnsupportedArchitecture) {
    const auto msg =
        load_error(rewrite({[](GgufWriter& w) { w.set_string("general.architecture", "gemma"); }, {}}, "gemma.gguf"));
    expect_message(msg, {"gemma.gguf", "architecture 'gemma' is not supported", "llama, qwen2"});
}

TEST(ModelConfig, MissingRequiredKey) {
    Tweak t;
    t.metadata = [](GgufWriter& w) {
        GgufWriter copy;
        for (const auto& [key, value] : w.metadata()) {
            if (key != "llama.block_count") copy.set(key, value);
        }
        w = copy;
    };
    expect_message(load_error(rewrite(t, "nokey.gguf")), {"nokey.gguf", "missing required key 'llama.block_count'"});
}

TEST(ModelConfig, KeyOfTheWrongType) {
    const auto msg = load_error(
        rewrite({[](GgufWriter& w) { w.set_string("llama.embedding_length", "sixty-four"); }, {}}, "type.gguf"));
    expect_message(msg, {"type.gguf", "llama.embedding_length", "string"});
}

TEST(ModelConfig, MissingTensor) {
    Tweak t;
    t.tensor = [](const GgufTensorInfo& info, auto&, auto&) { return info.name != "blk.1.ffn_up.weight"; };
    expect_message(load_error(rewrite(t, "notensor.gguf")), {"missing tensor 'blk.1.ffn_up.weight'"});
}

TEST(ModelConfig, ShapeThatContradictsTheHyperparameters) {
    Tweak t;
    t.tensor = [](const GgufTensorInfo& info, std::vector<std::int64_t>& shape, auto&) {
        if (info.name == "blk.0.attn_k.weight") shape = {64, 64};  // kv_dim is 32
        return true;
    };
    expect_message(load_error(rewrite(t, "shape.gguf")),
                   {"tensor 'blk.0.attn_k.weight' has shape [64, 64]", "need [64, 32]", "re-convert"});
}

TEST(ModelConfig, HeadCountsThatDoNotDivide) {
    const auto msg =
        load_error(rewrite({[](GgufWriter& w) { w.set_u32("llama.attention.head_count_kv", 3); }, {}}, "heads.gguf"));
    expect_message(msg, {"head_count 4 is not a multiple of head_count_kv 3"});
}

TEST(ModelConfig, TensorTypeKvscopeCannotCompute) {
    Tweak t;
    t.tensor = [](const GgufTensorInfo& info, std::vector<std::int64_t>& shape, TensorType& type) {
        if (info.name == "blk.0.ffn_gate.weight") {
            type = TensorType::IQ4_NL;  // block 32: 64 columns fit
        }
        return true;
    };
    expect_message(load_error(rewrite(t, "iq.gguf")),
                   {"tensor 'blk.0.ffn_gate.weight' has type IQ4_NL", "cannot compute", "Q8_0"});
}

TEST(ModelConfig, MixtureOfExpertsIsRefused) {
    const auto msg = load_error(rewrite({[](GgufWriter& w) { w.set_u32("llama.expert_count", 8); }, {}}, "moe.gguf"));
    expect_message(msg, {"mixture-of-experts"});
}

TEST(ModelConfig, AnEpsilonOrRopeBaseThatIsNotPositiveIsRefused) {
    for (float bad : {std::nanf(""), -1e-5f, 0.0f}) {
        expect_message(
            load_error(rewrite({[bad](GgufWriter& w) { w.set_f32("llama.attention.layer_norm_rms_epsilon", bad); }, {}},
                               "eps.gguf")),
            {"attention.layer_norm_rms_epsilon is", "must be a positive number"});
        expect_message(
            load_error(rewrite({[bad](GgufWriter& w) { w.set_f32("llama.rope.freq_base", bad); }, {}}, "rope.gguf")),
            {"rope.freq_base is", "must be a positive number"});
    }
}

TEST(ModelConfig, TokenizerLargerThanTheEmbedding) {
    Tweak t;
    t.tensor = [](const GgufTensorInfo& info, std::vector<std::int64_t>& shape, auto&) {
        if (info.name == "token_embd.weight" || info.name == "output.weight") shape[1] = 400;
        return true;
    };
    expect_message(load_error(rewrite(t, "vocab.gguf")), {"the tokenizer has 512 tokens but the embedding only 400"});
}

}  // namespace model_config_test
}  // namespace kvscope
