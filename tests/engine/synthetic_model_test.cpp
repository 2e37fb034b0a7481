// Synthetic models load and run: shapes from presets, deterministic weights, both tokenizer
// kinds (SentencePiece and GPT-2 byte-level BPE with ChatML), and clear errors for bad specs.

#include "engine/synthetic_model.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>
#include <iterator>
#include <set>

#include "engine/engine.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace synthetic_model_test {

std::string write(SyntheticModelSpec spec, const std::string& name) {
    const std::string path = (test::temp_dir() / name).string();
    write_synthetic_model(spec, path);
    return path;
}

std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

TEST(SyntheticModel, PresetShapesLoadAsThatArchitecture) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.architecture = "qwen2";
    spec.tokenizer = "gpt2";
    spec.num_layers = 3;
    auto model = Model::load(write(spec, "q.gguf"));
    EXPECT_EQ(model->config().architecture, Architecture::Qwen2);
    EXPECT_EQ(model->shape().num_layers, 3);
    EXPECT_EQ(model->shape().rope_style, RopeStyle::Neox);
    EXPECT_TRUE(model->config().has_qkv_bias);
    EXPECT_EQ(synthetic_preset("llama-3.2-1b").dim, 2048);
    EXPECT_EQ(synthetic_preset("qwen2.5-0.5b").tokenizer, "gpt2");
    EXPECT_THROW(synthetic_preset("gpt-5"), ConfigError);
}

TEST(SyntheticModel, WeightsAreAFunctionOfTheSeed) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.weight_type = TensorType::Q4_K;
    spec.dim = 256;
    spec.ffn_dim = 256;
    const std::string a = write(spec, "a.gguf"), b = write(spec, "b.gguf");
    EXPECT_EQ(bytes_of(a), bytes_of(b));
    spec.seed = 2;
    EXPECT_NE(bytes_of(a), bytes_of(write(spec, "c.gguf")));
}

TEST(SyntheticModel, TheQ4KMMixtureIsLlamaCppsLayerRecipe) {
    // llama.cpp's Q4_K_M over 16 layers: attn_v and ffn_down are Q6_K in layers 0, 1 (the first
    // eighth), 14, 15 (the last) and every third between from 4 (4, 7, 10, 13); the output is
    // Q6_K; everything else, token_embd included, Q4_K; general.file_type 15 (MOSTLY_Q4_K_M)
    SyntheticModelSpec spec = synthetic_preset("tiny");
    ASSERT_TRUE(parse_synthetic_weight_type("q4_k_m", spec));
    spec.num_layers = 16, spec.dim = 256, spec.ffn_dim = 256;
    const std::string path = write(spec, "m.gguf");
    const GgufFile file = GgufFile::open(path);
    auto type_of = [&](const std::string& name) {
        const GgufTensorInfo* t = file.find_tensor(name);
        EXPECT_NE(t, nullptr) << name;
        return t != nullptr ? t->type : TensorType::F32;
    };
    const std::set<int> six = {0, 1, 4, 7, 10, 13, 14, 15};
    for (int l = 0; l < 16; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const TensorType more = six.count(l) ? TensorType::Q6_K : TensorType::Q4_K;
        EXPECT_EQ(type_of(p + "attn_v.weight"), more) << l;
        EXPECT_EQ(type_of(p + "ffn_down.weight"), more) << l;
        for (const char* name :
             {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"})
            EXPECT_EQ(type_of(p + name), TensorType::Q4_K) << p << name;
    }
    EXPECT_EQ(type_of("output.weight"), TensorType::Q6_K);
    EXPECT_EQ(type_of("token_embd.weight"), TensorType::Q4_K);
    EXPECT_EQ(file.get_int("general.file_type"), 15);
    EXPECT_EQ(read_model_config(file).file_type, "Q4_K - Medium");  // llama.cpp's name, for display

    // tied: the embedding is the output, so it takes Q6_K; q5_k_m is the same over Q5_K
    SyntheticModelSpec tied = spec;
    ASSERT_TRUE(parse_synthetic_weight_type("q5_k_m", tied));
    tied.tied_embeddings = true;
    EXPECT_EQ(synthetic_weight_type(tied, "token_embd.weight", -1, 512), TensorType::Q6_K);
    EXPECT_EQ(synthetic_weight_type(tied, "blk.2.ffn_down.weight", 2, 512), TensorType::Q5_K);
    EXPECT_EQ(synthetic_weight_type(tied, "blk.15.attn_v.weight", 15, 512), TensorType::Q6_K);
    // A row of 576 (SmolLM's) does not fill 256-element blocks: Q8_0, as llama.cpp falls back.
    EXPECT_EQ(synthetic_weight_type(tied, "blk.2.ffn_down.weight", 2, 576), TensorType::Q8_0);

    // the mixture is of K-quants only, and unknown names are refused
    SyntheticModelSpec bad = synthetic_preset("tiny");
    EXPECT_FALSE(parse_synthetic_weight_type("q4_0_m", bad));
    bad.weight_type = TensorType::Q4_0;
    bad.k_quant_medium = true;
    EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(SyntheticModel, TheBpeVocabularyRoundTripsMergesAndChatsInChatMl) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.tokenizer = "gpt2";
    spec.vocab_size = 2000;
    auto model = Model::load(write(spec, "bpe.gguf"));
    const Tokenizer& tok = model->tokenizer();
    EXPECT_EQ(tok.model(), Tokenizer::Model::Bpe);
    const std::string text = "a cat ran to the big zoo, 42 times!\n";
    const auto ids = tok.encode(text, true, false);
    EXPECT_EQ(tok.decode(ids, false), text);
    EXPECT_LT(ids.size(), text.size());  // " to", " ca", ... are single merged tokens
    const auto to = tok.find_token(
        "\xC4\xA0"
        "to");
    ASSERT_TRUE(to.has_value());
    EXPECT_NE(std::find(ids.begin(), ids.end(), *to), ids.end());
    EXPECT_EQ(model->chat_template().kind(), ChatTemplateKind::ChatMl);
    const std::string prompt =
        model->chat_template().apply(std::vector<ChatMessage>{{"user", "hi"}}, /*add_generation_prompt=*/true);
    EXPECT_NE(prompt.find("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"), std::string::npos) << prompt;
    const auto chat_ids = tok.encode(prompt, true, /*parse_special=*/true);
    EXPECT_EQ(chat_ids.front(), *tok.find_token("<|im_start|>"));
    EXPECT_TRUE(tok.is_eog(*tok.find_token("<|im_end|>")));

    Engine engine(model, EngineConfig{});
    Request r;
    r.prompt_token_ids = chat_ids;
    r.params.max_tokens = 6;
    r.params.ignore_eos = true;
    const RequestId id = engine.add_request(r);
    std::size_t generated = 0;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            if (out.id == id) {
                for (const auto& s : out.samples) generated += s.new_token_ids.size();
            }
        }
    }
    EXPECT_EQ(generated, 6u);
}

TEST(SyntheticModel, TheSentencePieceVocabularySpellsASpaceBeforeADigitAsOneToken) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.vocab_size = 1000;
    auto model = Model::load(write(spec, "spm.gguf"));
    const Tokenizer& tok = model->tokenizer();
    const std::optional<std::int32_t> space = tok.find_token("\xE2\x96\x81");
    ASSERT_TRUE(space.has_value());
    // "a 1": "▁a", then the space alone (not its three byte tokens), then the digit's byte.
    const std::vector<std::int32_t> ids = tok.encode("a 1", /*add_special=*/false, false);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), *space), 1) << ::testing::PrintToString(ids);
    EXPECT_EQ(ids.size(), 3u) << ::testing::PrintToString(ids);
    std::string text = tok.decode(ids, false);
    EXPECT_EQ(text, " a 1");  // the dummy prefix, then the text as given
}

TEST(SyntheticModel, KQuantRowsThatDoNotFillTheirBlocksAreWrittenAsQ8_0AndRun) {
    SyntheticModelSpec spec = synthetic_preset("tiny");  // dim 64: no whole 256-element block
    ASSERT_TRUE(parse_synthetic_weight_type("q4_k_m", spec));
    spec.validate();
    const std::string path = write(spec, "fallback.gguf");
    const GgufFile file = GgufFile::open(path);
    for (const GgufTensorInfo& t : file.tensors()) {
        if (t.shape.size() == 2) {
            EXPECT_EQ(t.type, TensorType::Q8_0) << t.name;
        }
    }
    auto model = Model::load(path);
    Engine engine(model, EngineConfig{});
    Request r;
    r.prompt_token_ids = {1, 300, 301};
    r.params.max_tokens = 4;
    r.params.ignore_eos = true;
    engine.add_request(r);
    std::size_t generated = 0;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            for (const auto& s : out.samples) generated += s.new_token_ids.size();
        }
    }
    EXPECT_EQ(generated, 4u);
}

TEST(SyntheticModel, BadSpecsSayWhichFieldIsWrong) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.weight_type = TensorType::Q4_K;
    spec.ffn_dim = 100;  // not even Q8_0's 32, where rows that do not fill 256 fall back
    try {
        spec.validate();
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("multiples of 32 for Q4_K"), std::string::npos) << e.what();
    }
    spec = synthetic_preset("tiny");
    spec.num_kv_heads = 3;
    EXPECT_THROW(spec.validate(), ConfigError);
    spec = synthetic_preset("tiny");
    spec.tokenizer = "wordpiece";
    EXPECT_THROW(spec.validate(), ConfigError);
}

}  // namespace synthetic_model_test
}  // namespace kvscope
