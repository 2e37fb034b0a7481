// Re-quantising weights at load (ModelLoadOptions::weight_type): which weights change type, that
// the Model owns the converted bytes, and that the engine then runs what the naive reference runs
// with every weight sent through the same round trip: greedy tokens on the embedded model, and
// logits of a synthetic model stored as F32.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/engine.h"
#include "engine/error.h"
#include "engine/synthetic_model.h"
#include "kernels/quant.h"
#include "tests/support/paths.h"
#include "tests/support/reference_model.h"
#include "tests/support/run_alone.h"

namespace kvscope {
namespace model_requant_test {

std::vector<const WeightTensor*> all_weights(const ModelWeights& w) {
    std::vector<const WeightTensor*> out{&w.token_embedding, &w.output};
    for (const LayerWeights& l : w.layers) {
        for (const WeightTensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down})
            out.push_back(t);
    }
    return out;
}

bool inside_file(const Model& model, const void* p) {
    const auto* begin =
        reinterpret_cast<const std::uint8_t*>(model.gguf().tensor_data(model.gguf().tensors()[0]).data());
    const auto* q = static_cast<const std::uint8_t*>(p);
    return q >= begin - (1 << 20) && q < begin + model.gguf().file_size();
}

std::vector<std::int32_t> engine_greedy(std::shared_ptr<const Model> model, const std::vector<std::int32_t>& prompt,
                                        int num_new) {
    Engine engine(model, EngineConfig{});
    Request r;
    r.prompt_token_ids = prompt;
    r.params.temperature = 0;
    r.params.max_tokens = num_new;
    r.params.ignore_eos = true;
    return test::run_alone(engine, r);
}

TEST(ModelRequant, TheTargetsAreF16Q80TheKQuantsAndQ40) {
    const std::vector<TensorType> want = {TensorType::F16,  TensorType::Q8_0, TensorType::Q6_K,
                                          TensorType::Q5_K, TensorType::Q4_K, TensorType::Q4_0};
    EXPECT_EQ(std::vector<TensorType>(requantization_targets().begin(), requantization_targets().end()), want);
    EXPECT_EQ(requantization_target_list(), "F16, Q8_0, Q6_K, Q5_K, Q4_K or Q4_0");
    for (TensorType refused :
         {TensorType::F32, TensorType::BF16, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_K}) {
        ModelLoadOptions options;
        options.weight_type = refused;
        try {
            Model::load("", options);
            FAIL() << type_name(refused) << " accepted";
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("choose F16, Q8_0, Q6_K, Q5_K, Q4_K or Q4_0"), std::string::npos)
                << e.what();
        }
    }
}

TEST(ModelRequant, WeightsWhoseRowsFitTheBlocksChangeTypeIntoOwnedBuffers) {
    ModelLoadOptions options;
    options.weight_type = TensorType::Q8_0;
    auto model = Model::load("", options);
    EXPECT_EQ(model->requantized_to(), TensorType::Q8_0);
    // stories260K: 64-wide rows fit Q8_0's 32-element blocks; ffn_down's 172-wide rows do not.
    int converted = 0;
    for (const WeightTensor* t : all_weights(model->weights())) {
        if (t->cols % 32 == 0) {
            EXPECT_EQ(t->type, TensorType::Q8_0);
            EXPECT_FALSE(inside_file(*model, t->data));
            ++converted;
        } else {
            EXPECT_EQ(t->type, TensorType::F32);
            EXPECT_TRUE(inside_file(*model, t->data));
        }
    }
    EXPECT_EQ(converted, 2 + 5 * 6);
    // token_embd and output are separate tensors here (not tied): 32 buffers.
    EXPECT_EQ(model->num_requantized_weights(), 32);
    // Each Q8_0 value is within half a quantisation step (block max / 127 / 2) of the stored one.
    const auto& stored = *model->gguf().find_tensor("blk.0.attn_q.weight");
    const float* f32 = reinterpret_cast<const float*>(model->gguf().tensor_data(stored).data());
    std::vector<float> row(64);
    dequantize_row(TensorType::Q8_0, model->weights().layers[0].wq.data, row.data(), 64);
    for (int block = 0; block < 2; ++block) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(f32[block * 32 + i]));
        for (int i = 0; i < 32; ++i) EXPECT_LE(std::abs(row[block * 32 + i] - f32[block * 32 + i]), amax / 127 * 0.51f);
    }
}

TEST(ModelRequant, GreedyTokensMatchTheReferenceWithTheSameRoundTrip) {
    const std::vector<std::int32_t> prompt = Model::load("")->tokenizer().encode("Once upon a time", true, false);
    for (TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
        ModelLoadOptions options;
        options.weight_type = type;
        std::vector<double> fractions;
        options.on_progress = [&](double f, const std::string&) { fractions.push_back(f); };
        auto model = Model::load("", options);
        ASSERT_FALSE(fractions.empty());
        EXPECT_TRUE(std::is_sorted(fractions.begin(), fractions.end()));
        EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
        test::ReferenceModel ref(model->gguf(), type);
        EXPECT_EQ(engine_greedy(model, prompt, 24), ref.greedy(prompt, 24)) << type_name(type);
    }
}

TEST(ModelRequant, LogitsFollowTheRoundTripNotTheStoredWeights) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.dim = 256, spec.ffn_dim = 512, spec.num_heads = 4, spec.num_kv_heads = 2;
    const auto path = test::temp_dir() / "f32.gguf";
    write_synthetic_model(spec, path.string());
    const std::vector<std::int32_t> tokens{1, 300, 301, 302, 303, 304, 305, 306};
    for (TensorType type :
         {TensorType::F16, TensorType::Q8_0, TensorType::Q6_K, TensorType::Q5_K, TensorType::Q4_K, TensorType::Q4_0}) {
        ModelLoadOptions options;
        options.weight_type = type;
        auto model = Model::load(path.string(), options);
        ASSERT_EQ(model->weights().layers[0].wq.type, type);  // 256-wide rows fit every target's blocks
        const auto want = test::ReferenceModel(model->gguf(), type).forward(tokens).back();
        const auto stored = test::ReferenceModel(model->gguf()).forward(tokens).back();
        auto backend = make_cpu_backend(model->shape(), model->weights(), KvCacheSpec{1, 16, TensorType::F32},
                                        CpuBackendOptions{1});
        std::vector<std::int32_t> positions(tokens.size()), start{0, std::int32_t(tokens.size())};
        std::vector<std::int64_t> slots(tokens.size());
        for (std::size_t i = 0; i < tokens.size(); ++i) positions[i] = std::int32_t(i), slots[i] = std::int64_t(i);
        const std::vector<std::int32_t> lens{std::int32_t(tokens.size())}, table{0},
            rows{std::int32_t(tokens.size()) - 1};
        std::vector<float> got(want.size());
        backend->forward(ForwardBatch{tokens, positions, slots, start, lens, table, 1, rows, {}}, got);
        double err_want = 0, err_stored = 0, scale = 1;
        for (std::size_t i = 0; i < want.size(); ++i) {
            err_want = std::max(err_want, double(std::abs(got[i] - want[i])));
            err_stored = std::max(err_stored, double(std::abs(got[i] - stored[i])));
            scale = std::max(scale, double(std::abs(want[i])));
        }
        // F16 rows meet f32 activations (exact products); the others meet 8-bit activations.
        EXPECT_LT(err_want, (type == TensorType::F16 ? 1e-3 : 0.03) * scale) << type_name(type);
        if (type == TensorType::Q4_0 || type == TensorType::Q4_K) {
            EXPECT_LT(err_want, 0.5 * err_stored) << type_name(type) << " logits do not follow the round trip";
        }
    }
}

// The rows of a weight are split between the load's threads: any count writes the same bytes, and
// the loaded size counts each converted weight at its new size (summed here from the file's own
// tensor list).
TEST(ModelRequant, ThreadsWriteTheSameBytesAndTheLoadedSizeCountsThem) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.dim = 256, spec.ffn_dim = 512, spec.num_heads = 4, spec.num_kv_heads = 2;
    const auto path = test::temp_dir() / "f32-threads.gguf";
    write_synthetic_model(spec, path.string());
    for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0}) {
        ModelLoadOptions one, three;
        one.weight_type = three.weight_type = type;
        one.threads = 1;
        three.threads = 3;
        auto a = Model::load(path.string(), one), b = Model::load(path.string(), three);
        const auto wa = all_weights(a->weights()), wb = all_weights(b->weights());
        ASSERT_EQ(wa.size(), wb.size());
        for (std::size_t i = 0; i < wa.size(); ++i) {
            ASSERT_EQ(wa[i]->type, type);
            const std::size_t bytes = static_cast<std::size_t>(wa[i]->rows) * row_bytes(type, wa[i]->cols);
            EXPECT_EQ(std::memcmp(wa[i]->data, wb[i]->data, bytes), 0) << type_name(type) << " weight " << i;
        }
        std::uint64_t want = 0;
        for (const GgufTensorInfo& t : a->gguf().tensors()) {
            want += t.shape.size() == 2 ? static_cast<std::uint64_t>(t.shape[1]) * row_bytes(type, t.shape[0])
                                        : t.num_bytes;
        }
        EXPECT_EQ(a->loaded_weight_bytes(), want) << type_name(type);
        EXPECT_LT(a->loaded_weight_bytes(), a->config().weight_bytes);
        // the estimate the settings dialog shows before loading says the same
        const RequantizationEstimate e = estimate_requantization(a->gguf(), type);
        EXPECT_EQ(e.weight_bytes, want) << type_name(type);
        EXPECT_EQ(e.num_converted, a->num_requantized_weights()) << type_name(type);
    }
}

}  // namespace model_requant_test
}  // namespace kvscope
