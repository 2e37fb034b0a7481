// quantize_file (kvscope-cli quantize): the file it writes holds, tensor for tensor, what a
// load-time re-quantisation of the input holds in memory (the same rule and quantisers, an
// independent path: Model::load's buffers); its metadata is the input's with llama.cpp's file
// type; the _M mixtures, written and at load, are make-model's; a failed write leaves nothing
// behind. parse_weight_conversion's names.

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "engine/model.h"
#include "engine/quantize_file.h"
#include "engine/requantization.h"
#include "engine/synthetic_model.h"
#include "kernels/quant.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace quantize_file_test {

std::string synthetic_f32(const char* name, std::int32_t ffn_dim, std::int32_t vocab_size) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.dim = 256, spec.ffn_dim = ffn_dim, spec.num_heads = 4, spec.num_kv_heads = 2, spec.num_layers = 2;
    spec.vocab_size = vocab_size;
    const auto path = (test::temp_dir() / name).string();
    write_synthetic_model(spec, path);
    return path;
}

// The weights the Model runs, by tensor name (all_weights of model_requant_test, with names).
const WeightTensor* weight_named(const Model& m, const std::string& name) {
    const ModelWeights& w = m.weights();
    if (name == "token_embd.weight") return &w.token_embedding;
    if (name == "output.weight") return &w.output;
    for (std::size_t l = 0; l < w.layers.size(); ++l) {
        const LayerWeights& lw = w.layers[l];
        const std::pair<const char*, const WeightTensor*> named[] = {
            {"attn_q.weight", &lw.wq},        {"attn_k.weight", &lw.wk},         {"attn_v.weight", &lw.wv},
            {"attn_output.weight", &lw.wo},   {"ffn_gate.weight", &lw.ffn_gate}, {"ffn_up.weight", &lw.ffn_up},
            {"ffn_down.weight", &lw.ffn_down}};
        for (const auto& [suffix, t] : named) {
            if (name == "blk." + std::to_string(l) + "." + suffix) return t;
        }
    }
    return nullptr;
}

TEST(QuantizeFile, TheFileHoldsWhatALoadTimeReQuantisationRuns) {
    // ffn 320: ffn_down's 320-wide rows fit 32-element blocks but not the K-quants' 256; a 20,000
    // token vocabulary: the embedding and output are written in several 4 MiB chunks (F16, Q8_0)
    const std::string in_path = synthetic_f32("qf-in.gguf", 320, 20000);
    const GgufFile in = GgufFile::open(in_path);
    for (TensorType target : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::F16}) {
        const std::string out_path = (test::temp_dir() / "qf-out.gguf").string();
        const QuantizeFileResult r = quantize_file(in, target, out_path, 3);
        const GgufFile out = GgufFile::open(out_path);
        ModelLoadOptions options;
        options.weight_type = target;
        const auto model = Model::load(in_path, options);
        EXPECT_EQ(r.num_converted, model->num_requantized_weights()) << type_name(target);
        EXPECT_EQ(r.num_tensors, int(in.tensors().size()));
        EXPECT_EQ(r.bytes_out, model->loaded_weight_bytes()) << type_name(target);
        ASSERT_EQ(out.tensors().size(), in.tensors().size());
        const bool k_quant = target == TensorType::Q4_K || target == TensorType::Q6_K;
        for (std::size_t i = 0; i < in.tensors().size(); ++i) {
            const GgufTensorInfo& a = in.tensors()[i];
            const GgufTensorInfo& b = out.tensors()[i];
            ASSERT_EQ(a.name, b.name);
            EXPECT_EQ(a.shape, b.shape) << a.name;
            const bool ffn_down = a.name.find("ffn_down") != std::string::npos;
            const TensorType want = a.shape.size() == 2 && !(k_quant && ffn_down) ? target : a.type;
            EXPECT_EQ(b.type, want) << a.name << " " << type_name(target);
            const auto bytes = out.tensor_data(b);
            if (const WeightTensor* w = weight_named(*model, a.name)) {
                ASSERT_EQ(w->type, b.type) << a.name;
                EXPECT_EQ(std::memcmp(bytes.data(), w->data, bytes.size()), 0) << a.name << " " << type_name(target);
            } else {
                const auto stored = in.tensor_data(a);  // 1-D: copied
                ASSERT_EQ(bytes.size(), stored.size()) << a.name;
                EXPECT_EQ(std::memcmp(bytes.data(), stored.data(), bytes.size()), 0) << a.name;
            }
        }
        // the metadata in order, general.file_type set as llama.cpp names the type
        ASSERT_EQ(out.metadata().size(), in.metadata().size() + (in.find("general.file_type") ? 0 : 1));
        for (std::size_t i = 0; i < in.metadata().size(); ++i) {
            EXPECT_EQ(out.metadata()[i].first, in.metadata()[i].first);
            if (in.metadata()[i].first != "general.file_type") {
                EXPECT_EQ(out.metadata()[i].second, in.metadata()[i].second) << in.metadata()[i].first;
            }
        }
        const std::int64_t want_file_type = target == TensorType::Q4_K   ? 14
                                            : target == TensorType::Q6_K ? 18
                                            : target == TensorType::Q8_0 ? 7
                                                                         : 1;
        EXPECT_EQ(out.get_int("general.file_type"), want_file_type) << type_name(target);
    }
}

// make-model writes each tensor by quantising the same f32 rows its F32 file holds, so the _M
// mixture of the F32 file must be make-model's q4_k_m / q5_k_m file, tensor for tensor.
TEST(QuantizeFile, TheMMixturesAreMakeModelsMixtures) {
    const auto dir = test::temp_dir();
    const auto f32_path = (dir / "qf-mix-f32.gguf").string();
    for (const char* type : {"q4_k_m", "q5_k_m"}) {
        for (bool tied : {false, true}) {
            SyntheticModelSpec spec = synthetic_preset("tiny");
            spec.dim = 256, spec.ffn_dim = 512, spec.num_heads = 4, spec.num_kv_heads = 2, spec.num_layers = 9;
            spec.tied_embeddings = tied;
            write_synthetic_model(spec, f32_path);
            ASSERT_TRUE(parse_synthetic_weight_type(type, spec));
            const auto want_path = (dir / "qf-mix-want.gguf").string();
            write_synthetic_model(spec, want_path);
            const auto got_path = (dir / "qf-mix-got.gguf").string();
            quantize_file(GgufFile::open(f32_path), spec.weight_type, got_path, 2, /*k_quant_medium=*/true);
            const GgufFile want = GgufFile::open(want_path), got = GgufFile::open(got_path);
            ASSERT_EQ(want.tensors().size(), got.tensors().size());
            int q6 = 0;
            for (std::size_t i = 0; i < want.tensors().size(); ++i) {
                const GgufTensorInfo& a = want.tensors()[i];
                const GgufTensorInfo& b = got.tensors()[i];
                ASSERT_EQ(a.name, b.name);
                EXPECT_EQ(a.type, b.type) << type << " " << a.name;
                q6 += b.type == TensorType::Q6_K ? 1 : 0;
                const auto x = want.tensor_data(a), y = got.tensor_data(b);
                ASSERT_EQ(x.size(), y.size()) << a.name;
                EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size()), 0) << type << " " << a.name;
            }
            // 9 layers: more bits in layers 0, 3, 6, 7, 8 (attn_v and ffn_down), and the output
            EXPECT_EQ(q6, 2 * 5 + 1) << type << (tied ? " tied" : "");
            EXPECT_EQ(got.get_int("general.file_type"), want.get_int("general.file_type"));

            // The same mixture at load: the Model holds make-model's tensors.
            ModelLoadOptions options;
            options.weight_type = spec.weight_type;
            options.k_quant_medium = true;
            const auto model = Model::load(f32_path, options);
            EXPECT_EQ(model->requantized_name(), std::string(type_name(spec.weight_type)) + "_M");
            std::uint64_t weight_bytes = 0;
            for (const GgufTensorInfo& a : want.tensors()) {
                weight_bytes += a.num_bytes;
                const WeightTensor* w = weight_named(*model, a.name);
                if (w == nullptr) continue;  // 1-D
                ASSERT_EQ(w->type, a.type) << type << " " << a.name;
                const auto x = want.tensor_data(a);
                EXPECT_EQ(std::memcmp(x.data(), w->data, x.size()), 0) << type << " at load: " << a.name;
            }
            EXPECT_EQ(model->loaded_weight_bytes(), weight_bytes) << type;
            // and the settings dialog's estimate of it, from the file's tensor list alone
            const RequantizationEstimate e = estimate_requantization(GgufFile::open(f32_path), spec.weight_type, true);
            EXPECT_EQ(e.weight_bytes, weight_bytes) << type;
            EXPECT_EQ(e.num_converted, model->num_requantized_weights()) << type;
        }
    }
    EXPECT_THROW(quantize_file(GgufFile::open(f32_path), TensorType::Q6_K, (dir / "x.gguf").string(), 1, true),
                 ConfigError);
    ModelLoadOptions bad;
    bad.k_quant_medium = true;
    EXPECT_THROW(Model::load(f32_path, bad), ConfigError);  // a mixture over weights as stored
    bad.weight_type = TensorType::Q6_K;
    EXPECT_THROW(Model::load(f32_path, bad), ConfigError);
}

TEST(QuantizeFile, ConversionsAreNamedAsLlamaCppNamesFileTypes) {
    const auto q4km = parse_weight_conversion("q4_k_m");
    ASSERT_TRUE(q4km);
    EXPECT_EQ(q4km->base, TensorType::Q4_K);
    EXPECT_TRUE(q4km->k_quant_medium);
    EXPECT_EQ(q4km->name(), "Q4_K_M");
    EXPECT_EQ(parse_weight_conversion("Q5_K_M")->name(), "Q5_K_M");
    EXPECT_EQ(parse_weight_conversion("q8_0")->name(), "Q8_0");
    EXPECT_FALSE(parse_weight_conversion("q8_0")->k_quant_medium);
    for (const char* bad : {"q6_k_m", "q8_0_m", "q4_1", "f32", "_m", "", "q4_k_mm"}) {
        EXPECT_FALSE(parse_weight_conversion(bad)) << bad;
    }
    EXPECT_EQ(weight_layer("blk.12.attn_v.weight"), 12);
    EXPECT_EQ(weight_layer("output.weight"), -1);
    EXPECT_EQ(weight_layer("blk.x.attn_v.weight"), -1);
}

TEST(QuantizeFile, RefusesOtherTypesAndAFailedWriteLeavesNothing) {
    const std::string in_path = synthetic_f32("qf-in2.gguf", 256, 512);
    const GgufFile in = GgufFile::open(in_path);
    EXPECT_THROW(quantize_file(in, TensorType::Q4_1, (test::temp_dir() / "x.gguf").string(), 1), ConfigError);
    const auto dir = test::temp_dir() / "qf-missing-dir";
    std::filesystem::remove_all(dir);
    EXPECT_THROW(quantize_file(in, TensorType::Q4_0, (dir / "out.gguf").string(), 1), FileError);
    EXPECT_FALSE(std::filesystem::exists(dir));
}

// Rows of 64 elements hold no 256-element K-quant block: a "Q6_K" file would be a relabelled
// copy, so none is written.
TEST(QuantizeFile, AModelWithNoTensorToConvertIsRefusedAndNothingIsWritten) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.dim = 64, spec.ffn_dim = 128, spec.num_heads = 2, spec.num_kv_heads = 2, spec.num_layers = 1;
    const auto dir = test::temp_dir();
    write_synthetic_model(spec, (dir / "small.gguf").string());
    const GgufFile in = GgufFile::open((dir / "small.gguf").string());
    try {
        quantize_file(in, TensorType::Q6_K, (dir / "q6.gguf").string(), 1);
        ADD_FAILURE() << "a file was written with no tensor converted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("256-element blocks"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "q6.gguf"));
    EXPECT_GT(quantize_file(in, TensorType::Q8_0, (dir / "q8.gguf").string(), 1).num_converted, 0);
}

}  // namespace quantize_file_test
}  // namespace kvscope
