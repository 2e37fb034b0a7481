// The paged forward pass against the naive reference forward pass of
// tests/support/reference_model: logits of every computed row, for one sequence and for mixed
// batches of prefills, chunked prefills and decodes over shuffled block tables, at every block
// size and cache dtype; on the embedded model and on synthetic llama / qwen2 models. Every test
// runs on each backend of tests/support/backends.h (CPU; the CUDA backend on its host emulation;
// the CUDA backend on a GPU, skipped with the reason when there is none).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "engine/model.h"
#include "engine/synthetic_model.h"
#include "kernels/backend.h"
#include "tests/support/backends.h"
#include "tests/support/paths.h"
#include "tests/support/reference_model.h"

namespace kvscope {
namespace forward_test {

struct SeqState {
    std::vector<std::int32_t> tokens;
    std::int32_t computed = 0;
    std::vector<std::int32_t> blocks;
};

// Drives a backend over several sequences with hand-made block tables and schedules.
class PagedRunner {
public:
    PagedRunner(const std::string& backend, const Model& model, std::int32_t block_size, TensorType dtype,
                std::int32_t num_blocks, std::uint32_t seed)
        : model_(model), block_size_(block_size), rng_(seed) {
        backend_ = test::make_test_backend(backend, model.shape(), model.weights(),
                                           KvCacheSpec{num_blocks, block_size, dtype});
        for (std::int32_t b = 0; b < num_blocks; ++b) free_.push_back(b);
        std::shuffle(free_.begin(), free_.end(), rng_);  // physical blocks in random order
    }

    // One step: `chunks[i]` new tokens of sequence i (0 = not scheduled). Returns the logits of
    // every computed row (all_rows) or of each scheduled sequence's last row.
    std::vector<std::vector<float>> step(std::vector<SeqState>& seqs, const std::vector<std::int32_t>& chunks,
                                         bool all_rows, std::vector<std::pair<int, int>>* row_ids) {
        std::vector<std::int32_t> token_ids, positions, query_start{0}, seq_lens, logits_rows;
        std::vector<std::int64_t> slots;
        std::vector<int> scheduled;
        std::int32_t max_blocks = 1;
        for (std::size_t i = 0; i < seqs.size(); ++i) {
            if (chunks[i] == 0) continue;
            SeqState& s = seqs[i];
            const std::int32_t end = s.computed + chunks[i];
            while (std::int32_t(s.blocks.size()) * block_size_ < end) {
                s.blocks.push_back(free_.back());
                free_.pop_back();
            }
            max_blocks = std::max(max_blocks, std::int32_t(s.blocks.size()));
            for (std::int32_t p = s.computed; p < end; ++p) {
                if (all_rows || p == end - 1) {
                    logits_rows.push_back(std::int32_t(token_ids.size()));
                    if (row_ids) row_ids->emplace_back(int(i), p);
                }
                token_ids.push_back(s.tokens[std::size_t(p)]);
                positions.push_back(p);
                slots.push_back(std::int64_t(s.blocks[std::size_t(p / block_size_)]) * block_size_ + p % block_size_);
            }
            query_start.push_back(std::int32_t(token_ids.size()));
            seq_lens.push_back(end);
            scheduled.push_back(int(i));
        }
        std::vector<std::int32_t> tables(scheduled.size() * std::size_t(max_blocks), -1);
        for (std::size_t k = 0; k < scheduled.size(); ++k) {
            const auto& b = seqs[std::size_t(scheduled[k])].blocks;
            std::copy(b.begin(), b.end(), tables.begin() + std::ptrdiff_t(k * std::size_t(max_blocks)));
        }
        const std::size_t vocab = std::size_t(model_.shape().vocab_size);
        std::vector<float> logits(logits_rows.size() * vocab);
        const ForwardBatch batch{token_ids, positions,  slots,       query_start, seq_lens,
                                 tables,    max_blocks, logits_rows, {}};
        backend_->forward(batch, logits);
        for (std::size_t k = 0; k < scheduled.size(); ++k) {
            seqs[std::size_t(scheduled[k])].computed += chunks[std::size_t(scheduled[k])];
        }
        std::vector<std::vector<float>> rows;
        for (std::size_t r = 0; r < logits_rows.size(); ++r) {
            rows.emplace_back(logits.begin() + std::ptrdiff_t(r * vocab),
                              logits.begin() + std::ptrdiff_t((r + 1) * vocab));
        }
        return rows;
    }

    std::mt19937& rng() { return rng_; }

private:
    const Model& model_;
    std::int32_t block_size_;
    std::mt19937 rng_;
    std::unique_ptr<Backend> backend_;
    std::vector<std::int32_t> free_;
};

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

std::int32_t argmax(const std::vector<float>& v) {
    return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// Largest |logit| of a row: errors are measured relative to it.
float scale_of(const std::vector<float>& v) {
    float m = 1.0f;
    for (float x : v) m = std::max(m, std::abs(x));
    return m;
}

// Relative tolerance per cache dtype. The reference stores K/V rounded through the same dtype,
// so what remains is float rounding, plus, for f16 and q8_0, an input that differs in its last
// bits landing on the other side of a rounding step now and then (one step: 2^-11 relative for
// f16; 1/127 of a 32-value block's largest value for q8_0).
float tolerance(TensorType dtype) {
    switch (dtype) {
        case TensorType::F16:
            return 1e-3f;
        case TensorType::Q8_0:
            return 1e-2f;
        default:
            return 2e-4f;
    }
}

std::shared_ptr<const Model> stories() {
    return Model::load(test::stories260k_path().string());
}

class Forward : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { KVSCOPE_SKIP_UNLESS_AVAILABLE(GetParam()); }
};

TEST_P(Forward, EveryPromptPositionMatchesTheReference) {
    auto model = stories();
    test::ReferenceModel ref(model->gguf());
    const std::vector<std::int32_t> tokens =
        model->tokenizer().encode("Once upon a time, there was a little dog named Max. He liked to run.", true, false);
    const auto expected = ref.forward(tokens);
    for (std::int32_t block_size : {8, 16, 32}) {
        PagedRunner runner(GetParam(), *model, block_size, TensorType::F32, 64, 7);
        std::vector<SeqState> seqs{{tokens, 0, {}}};
        const auto rows = runner.step(seqs, {std::int32_t(tokens.size())}, /*all_rows=*/true, nullptr);
        ASSERT_EQ(rows.size(), tokens.size());
        for (std::size_t p = 0; p < tokens.size(); ++p) {
            EXPECT_LT(max_abs_diff(rows[p], expected[p]), tolerance(TensorType::F32) * scale_of(expected[p]))
                << "block size " << block_size << ", position " << p;
            EXPECT_EQ(argmax(rows[p]), argmax(expected[p])) << "position " << p;
        }
    }
}

// Random sequences, scheduled in random chunks (decodes, whole and chunked prefills mixed in
// every step), compared row by row with the reference's logits at the same positions.
void check_mixed_batches(const std::string& backend, const Model& model, std::int32_t block_size, TensorType dtype,
                         std::uint32_t seed) {
    test::ReferenceModel ref(model.gguf());
    ref.set_cache_type(dtype);
    PagedRunner runner(backend, model, block_size, dtype, 256, seed);
    std::uniform_int_distribution<std::int32_t> token(3, model.shape().vocab_size - 1);
    std::vector<SeqState> seqs(5);
    std::vector<std::vector<std::vector<float>>> expected;
    for (auto& s : seqs) {
        const std::int32_t len = std::uniform_int_distribution<std::int32_t>(2, 70)(runner.rng());
        for (std::int32_t i = 0; i < len; ++i) s.tokens.push_back(token(runner.rng()));
        expected.push_back(ref.forward(s.tokens));
    }
    int steps = 0;
    float worst = 0;
    for (bool work = true; work; ++steps) {
        work = false;
        std::vector<std::int32_t> chunks;
        for (const auto& s : seqs) {
            const std::int32_t left = std::int32_t(s.tokens.size()) - s.computed;
            const bool run = left > 0 && std::uniform_int_distribution<int>(0, 3)(runner.rng()) > 0;
            chunks.push_back(run ? std::uniform_int_distribution<std::int32_t>(1, left)(runner.rng()) : 0);
            work = work || left > 0;
        }
        if (!work) break;
        std::vector<std::pair<int, int>> ids;
        const auto rows = runner.step(seqs, chunks, /*all_rows=*/steps % 2 == 0, &ids);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const auto& want = expected[std::size_t(ids[r].first)][std::size_t(ids[r].second)];
            worst = std::max(worst, max_abs_diff(rows[r], want) / scale_of(want));
            ASSERT_LT(max_abs_diff(rows[r], want), tolerance(dtype) * scale_of(want))
                << "seq " << ids[r].first << " position " << ids[r].second << " block size " << block_size << " dtype "
                << type_name(dtype);
        }
    }
    std::printf("%s, block size %d, cache %s: largest relative logit error %.2e\n", backend.c_str(), block_size,
                std::string(type_name(dtype)).c_str(), double(worst));
}

TEST_P(Forward, MixedChunkedBatchesMatchTheReferenceAtEveryBlockSizeAndCacheDtype) {
    auto model = stories();
    std::uint32_t seed = 1;
    for (std::int32_t block_size : {8, 16, 32}) {
        for (TensorType dtype : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
            check_mixed_batches(GetParam(), *model, block_size, dtype, seed++);
        }
    }
}

std::shared_ptr<const Model> synthetic(const std::string& arch, TensorType type, bool tied) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.architecture = arch;
    spec.weight_type = type;
    spec.tied_embeddings = tied;
    spec.num_heads = 4;
    spec.num_kv_heads = 1;  // GQA 4:1
    spec.seed = 11;
    const auto path = test::temp_dir() / ("model-" + arch + ".gguf");
    write_synthetic_model(spec, path.string());
    return Model::load(path.string());
}

TEST_P(Forward, Qwen2WithBiasesNeoxRopeAndTiedEmbeddingsMatchesTheReference) {
    auto model = synthetic("qwen2", TensorType::F32, true);
    EXPECT_TRUE(model->config().has_qkv_bias);
    EXPECT_TRUE(model->config().tied_embeddings);
    check_mixed_batches(GetParam(), *model, 16, TensorType::F32, 3);
}

TEST_P(Forward, QuantisedWeightsStayCloseToTheReference) {
    // The reference dequantises weights and keeps f32 activations; the engine quantises
    // activations to 8 bits for the integer dot products: logits agree to a few percent.
    // (q4_k_m: layer 1's attn_v and ffn_down and the output are Q6_K among Q4_K weights, so
    // q/k/v and gate/up/down mix activation types on the CPU: packed Q4_K takes Q8_0, Q6_K Q8_K)
    for (const char* type_text :
         {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m"}) {
        SyntheticModelSpec spec = synthetic_preset("tiny");
        spec.dim = 256, spec.ffn_dim = 512, spec.num_heads = 4, spec.num_kv_heads = 2;
        ASSERT_TRUE(parse_synthetic_weight_type(type_text, spec)) << type_text;
        const auto path = test::temp_dir() / "q.gguf";
        write_synthetic_model(spec, path.string());
        auto model = Model::load(path.string());
        test::ReferenceModel ref(model->gguf());
        std::vector<std::int32_t> tokens{1, 300, 301, 302, 303, 304, 305, 306};
        const auto expected = ref.forward(tokens);
        PagedRunner runner(GetParam(), *model, 16, TensorType::F32, 16, 5);
        std::vector<SeqState> seqs{{tokens, 0, {}}};
        const auto rows = runner.step(seqs, {std::int32_t(tokens.size())}, true, nullptr);
        for (std::size_t p = 0; p < tokens.size(); ++p) {
            float scale = 0;
            for (float v : expected[p]) scale = std::max(scale, std::abs(v));
            EXPECT_LT(max_abs_diff(rows[p], expected[p]), 0.05f * scale + 0.05f) << type_text << " position " << p;
        }
    }
}

// Teacher-forced decode steps of several sequences (one token each, as the engine's decode
// steps are): on CUDA they are padded to a graph bucket, run, captured the second time and
// replayed after, and the batch shrinks to a smaller bucket midway.
TEST_P(Forward, DecodeStepsReplayedFromGraphsMatchTheReference) {
    auto model = stories();
    test::ReferenceModel ref(model->gguf());
    PagedRunner runner(GetParam(), *model, 16, TensorType::F16, 64, 21);
    ref.set_cache_type(TensorType::F16);
    std::uniform_int_distribution<std::int32_t> token(3, model->shape().vocab_size - 1);
    std::vector<SeqState> seqs(3);
    std::vector<std::vector<std::vector<float>>> expected;
    const std::vector<std::int32_t> prompt_lens{5, 9, 14};
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        for (int t = 0; t < prompt_lens[i] + 16; ++t) seqs[i].tokens.push_back(token(runner.rng()));
        expected.push_back(ref.forward(seqs[i].tokens));
    }
    runner.step(seqs, prompt_lens, false, nullptr);
    for (int step = 0; step < 16; ++step) {
        const std::vector<std::int32_t> chunks = step < 8 ? std::vector<std::int32_t>{1, 1, 1} : std::vector{1, 0, 1};
        std::vector<std::pair<int, int>> ids;
        const auto rows = runner.step(seqs, chunks, false, &ids);
        ASSERT_EQ(rows.size(), ids.size());
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const auto& want = expected[std::size_t(ids[r].first)][std::size_t(ids[r].second)];
            ASSERT_LT(max_abs_diff(rows[r], want), tolerance(TensorType::F16) * scale_of(want))
                << "decode step " << step << " seq " << ids[r].first << " position " << ids[r].second;
        }
    }
}

// A long context decoded by few sequences: the CUDA backend splits the keys (split-K).
TEST_P(Forward, LongContextDecodeMatchesTheReference) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.num_heads = 4;
    spec.num_kv_heads = 1;
    spec.context_length = 4096;
    const auto path = test::temp_dir() / "long.gguf";
    write_synthetic_model(spec, path.string());
    auto model = Model::load(path.string());
    test::ReferenceModel ref(model->gguf());
    PagedRunner runner(GetParam(), *model, 16, TensorType::F32, 80, 8);
    std::uniform_int_distribution<std::int32_t> token(3, model->shape().vocab_size - 1);
    std::vector<SeqState> seqs(1);
    for (int t = 0; t < 1103; ++t) seqs[0].tokens.push_back(token(runner.rng()));
    const auto expected = ref.forward(seqs[0].tokens);
    for (std::int32_t chunk : {512, 512, 76}) runner.step(seqs, {chunk}, false, nullptr);
    for (int step = 0; step < 3; ++step) {
        std::vector<std::pair<int, int>> ids;
        const auto rows = runner.step(seqs, {1}, false, &ids);
        const auto& want = expected[std::size_t(ids[0].second)];
        ASSERT_LT(max_abs_diff(rows[0], want), tolerance(TensorType::F32) * scale_of(want))
            << "position " << ids[0].second;
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, Forward, ::testing::ValuesIn(test::backend_names()), test::param_name);

}  // namespace forward_test
}  // namespace kvscope
