// LoRA in the paged forward pass against the naive reference forward pass run on merged weights
// (tests/support/lora_merge: W + scale·B·A in f32): logits of every computed row, for sequences
// of the base model and of two adapters mixed in the same steps (random chunked prefills and
// decodes), on synthetic llama and qwen2 models with adapters on all seven projections. Each
// sequence is compared with the reference run of its adapter alone, so mixed batches equal each
// request alone. Runs on every backend of tests/support/backends.h that can run here (the CUDA
// backend's LoRA GEMMs on its host emulation too).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "engine/lora_adapter.h"
#include "engine/model.h"
#include "engine/synthetic_lora.h"
#include "engine/synthetic_model.h"
#include "kernels/backend.h"
#include "tests/support/backends.h"
#include "tests/support/lora_merge.h"
#include "tests/support/paths.h"
#include "tests/support/reference_model.h"

namespace kvscope {
namespace lora_forward_test {

constexpr std::int32_t kBlockSize = 16;
constexpr std::int32_t kBlocksPerSeq = 8;  // room for 128 tokens

struct Seq {
    std::vector<std::int32_t> tokens;
    std::int32_t slot = -1;  // LoRA slot, -1: the base model
    std::int32_t computed = 0;
};

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

float scale_of(const std::vector<float>& v) {
    float m = 1.0f;
    for (float x : v) m = std::max(m, std::abs(x));
    return m;
}

// One step: chunks[i] new tokens of seqs[i] (sequence i owns blocks [i * 8, i * 8 + 8)). Returns
// the logits of every computed row (all_rows) or of each scheduled sequence's last row, with
// (sequence, position) of each.
std::vector<std::vector<float>> step(Backend& backend, std::int32_t vocab, std::vector<Seq>& seqs,
                                     const std::vector<std::int32_t>& chunks, bool all_rows,
                                     std::vector<std::pair<int, int>>& ids) {
    std::vector<std::int32_t> token_ids, positions, query_start{0}, seq_lens, logits_rows, tables, slots;
    std::vector<std::int64_t> slot_mapping;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        if (chunks[i] == 0) continue;
        Seq& s = seqs[i];
        const std::int32_t end = s.computed + chunks[i];
        for (std::int32_t p = s.computed; p < end; ++p) {
            if (all_rows || p == end - 1) {
                logits_rows.push_back(std::int32_t(token_ids.size()));
                ids.emplace_back(int(i), p);
            }
            token_ids.push_back(s.tokens[std::size_t(p)]);
            positions.push_back(p);
            slot_mapping.push_back(std::int64_t(i) * kBlocksPerSeq * kBlockSize + p);
        }
        query_start.push_back(std::int32_t(token_ids.size()));
        seq_lens.push_back(end);
        slots.push_back(s.slot);
        for (std::int32_t b = 0; b < kBlocksPerSeq; ++b) tables.push_back(std::int32_t(i) * kBlocksPerSeq + b);
    }
    std::vector<float> logits(logits_rows.size() * std::size_t(vocab));
    backend.forward(ForwardBatch{token_ids, positions, slot_mapping, query_start, seq_lens, tables, kBlocksPerSeq,
                                 logits_rows, slots},
                    logits);
    for (std::size_t i = 0; i < seqs.size(); ++i) seqs[i].computed += chunks[i];
    std::vector<std::vector<float>> rows;
    for (std::size_t r = 0; r < logits_rows.size(); ++r) {
        rows.emplace_back(logits.begin() + std::ptrdiff_t(r * std::size_t(vocab)),
                          logits.begin() + std::ptrdiff_t((r + 1) * std::size_t(vocab)));
    }
    return rows;
}

class LoraForward : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { KVSCOPE_SKIP_UNLESS_AVAILABLE(GetParam()); }

    // `reload`: the first adapter is removed and added again (slot 2) before the run, so slot 0 is
    // released, slot 1 must be untouched by that, and slot 2 must be the first adapter.
    void check(const SyntheticModelSpec& spec, bool reload = false) {
        const auto dir = test::temp_dir();
        const std::string model_path = (dir / "base.gguf").string();
        write_synthetic_model(spec, model_path);
        const auto model = Model::load(model_path);
        std::vector<std::string> adapter_paths;
        for (std::uint64_t seed : {3, 4}) {
            SyntheticLoraSpec lora;
            lora.rank = seed == 3 ? 8 : 4;
            lora.alpha = seed == 3 ? 16.0f : 3.0f;
            lora.seed = seed;
            lora.targets = {LoraTarget::Q,    LoraTarget::K,  LoraTarget::V,   LoraTarget::O,
                            LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down};
            adapter_paths.push_back((dir / ("lora" + std::to_string(seed) + ".gguf")).string());
            write_synthetic_lora(lora, model->gguf(), adapter_paths.back());
        }

        // References: the base model and each adapter merged into it.
        std::vector<std::vector<std::uint8_t>> merged_bytes;
        std::vector<std::unique_ptr<test::ReferenceModel>> refs;  // by slot + 1
        refs.push_back(std::make_unique<test::ReferenceModel>(model->gguf()));
        std::vector<std::shared_ptr<const LoraAdapter>> adapters;
        for (const std::string& path : adapter_paths) {
            const GgufFile adapter_file = GgufFile::open(path);
            merged_bytes.push_back(test::merge_lora(model->gguf(), adapter_file));
            const GgufFile merged = GgufFile::from_memory(merged_bytes.back(), "merged");
            refs.push_back(std::make_unique<test::ReferenceModel>(merged));
            adapters.push_back(LoraAdapter::load(adapter_file, *model));
        }

        auto backend = test::make_test_backend(GetParam(), model->shape(), model->weights(),
                                               KvCacheSpec{8 * kBlocksPerSeq, kBlockSize, TensorType::F32});
        ASSERT_TRUE(backend->supports_lora()) << backend->name();
        for (const auto& a : adapters) backend->add_lora(a->weights());
        std::vector<std::int32_t> slot_of = {0, 1};  // backend slot of each adapter
        if (reload) {
            backend->remove_lora(0);
            backend->add_lora(adapters[0]->weights());
            slot_of = {2, 1};
        }

        std::mt19937 rng(11);
        std::uniform_int_distribution<std::int32_t> token(3, model->shape().vocab_size - 1);
        std::vector<Seq> seqs(6);
        std::vector<std::vector<std::vector<float>>> expected;
        for (std::size_t i = 0; i < seqs.size(); ++i) {
            Seq& s = seqs[i];
            const std::int32_t adapter = std::int32_t(i % 3) - 1;  // -1: the base model
            s.slot = adapter < 0 ? -1 : slot_of[std::size_t(adapter)];
            const std::int32_t len = std::uniform_int_distribution<std::int32_t>(2, 60)(rng);
            for (std::int32_t t = 0; t < len; ++t) s.tokens.push_back(token(rng));
            expected.push_back(refs[std::size_t(adapter + 1)]->forward(s.tokens));
        }
        // The adapters change the logits (the test would otherwise not see a missing delta).
        ASSERT_GT(max_abs_diff(refs[0]->forward(seqs[1].tokens).back(), expected[1].back()),
                  0.05f * scale_of(expected[1].back()));

        float worst = 0;
        for (int steps = 0;; ++steps) {
            bool work = false;
            std::vector<std::int32_t> chunks;
            for (const Seq& s : seqs) {
                const std::int32_t left = std::int32_t(s.tokens.size()) - s.computed;
                const bool run = left > 0 && std::uniform_int_distribution<int>(0, 3)(rng) > 0;
                chunks.push_back(run ? std::uniform_int_distribution<std::int32_t>(1, std::min(left, 9))(rng) : 0);
                work = work || left > 0;
            }
            if (!work) break;
            if (std::all_of(chunks.begin(), chunks.end(), [](std::int32_t c) { return c == 0; })) continue;
            std::vector<std::pair<int, int>> ids;
            const auto rows = step(*backend, model->shape().vocab_size, seqs, chunks, steps % 2 == 0, ids);
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const auto& want = expected[std::size_t(ids[r].first)][std::size_t(ids[r].second)];
                worst = std::max(worst, max_abs_diff(rows[r], want) / scale_of(want));
                ASSERT_LT(max_abs_diff(rows[r], want), 2e-4f * scale_of(want))
                    << "seq " << ids[r].first << " (slot " << seqs[std::size_t(ids[r].first)].slot << ") position "
                    << ids[r].second;
            }
        }
        std::printf("%s, %s: largest relative logit error %.2e\n", GetParam().c_str(), spec.architecture.c_str(),
                    double(worst));
    }
};

TEST_P(LoraForward, MixedAdaptersMatchMergedReferenceLlama) {
    SyntheticModelSpec spec;
    spec.seed = 5;
    check(spec);
}

TEST_P(LoraForward, MixedAdaptersMatchMergedReferenceQwen2) {
    SyntheticModelSpec spec;
    spec.architecture = "qwen2";
    spec.num_heads = 4;
    spec.num_kv_heads = 4;
    spec.seed = 6;
    check(spec);
}

TEST_P(LoraForward, ARemovedAdapterLeavesTheOthersAndAddsAgainUnderANewSlot) {
    SyntheticModelSpec spec;
    spec.seed = 7;
    check(spec, /*reload=*/true);
}

INSTANTIATE_TEST_SUITE_P(Backends, LoraForward, ::testing::ValuesIn(test::backend_names()), test::param_name);

}  // namespace lora_forward_test
}  // namespace kvscope
