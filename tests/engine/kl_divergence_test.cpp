// KL divergence (engine/kl_divergence.h): the base file's round trip, its atomic writing and its
// validation; the comparison's statistics against plain loops; and the whole measurement — a base
// run of the embedded model, a Q4_0 re-quantised run compared with it — against the naive
// reference forward of both models.

#include "engine/kl_divergence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/perplexity.h"
#include "tests/support/paths.h"
#include "tests/support/reference_model.h"

namespace kvscope {
namespace kl_divergence_test {

std::vector<double> log_softmax(std::span<const float> logits) {
    const double max = *std::max_element(logits.begin(), logits.end());
    double total = 0.0;
    for (const float l : logits) total += std::exp(l - max);
    std::vector<double> out;
    for (const float l : logits) out.push_back(l - max - std::log(total));
    return out;
}

std::vector<float> random_logits(std::mt19937& rng, int vocab, double spread) {
    std::normal_distribution<float> normal(0.0f, static_cast<float>(spread));
    std::vector<float> logits(static_cast<std::size_t>(vocab));
    for (float& l : logits) l = normal(rng);
    return logits;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(KlBaseFile, RowsComeBackToWithinHalfAStepAndInAnyOrder) {
    const std::string path = (test::temp_dir() / "roundtrip.kvkld").string();
    const KlBaseLayout layout{300, 10, 5, 3};  // 4 rows per chunk
    std::vector<std::vector<std::int32_t>> chunks(3, std::vector<std::int32_t>(10));
    for (std::size_t c = 0; c < 3; ++c) {
        for (std::size_t j = 0; j < 10; ++j) chunks[c][j] = static_cast<std::int32_t>(c * 10 + j);
    }
    std::mt19937 rng(5);
    std::vector<std::vector<float>> rows;
    {
        KlBaseWriter writer(path, layout, chunks);
        std::vector<std::pair<std::size_t, std::int32_t>> order;
        for (std::size_t c = 0; c < 3; ++c) {
            for (std::int32_t e = 5; e < 9; ++e) order.emplace_back(c, e);
        }
        std::shuffle(order.begin(), order.end(), rng);
        rows.resize(12);
        for (const auto& [c, e] : order) {
            auto& logits = rows[c * 4 + static_cast<std::size_t>(e - 5)];
            logits = random_logits(rng, 300, 3.0);
            writer.write(c, e, logits);
        }
        writer.commit();
    }
    EXPECT_EQ(std::filesystem::file_size(path), layout.file_size());
    const KlBaseFile file = KlBaseFile::open(path);
    EXPECT_EQ(file.layout().vocab_size, 300);
    EXPECT_EQ(file.layout().first_entry, 5);
    EXPECT_EQ(file.chunks(), chunks);
    std::vector<double> decoded;
    for (std::size_t c = 0; c < 3; ++c) {
        for (std::int32_t e = 5; e < 9; ++e) {
            const std::vector<double> exact = log_softmax(rows[c * 4 + static_cast<std::size_t>(e - 5)]);
            const auto [low, high] = std::minmax_element(exact.begin(), exact.end());
            const double half_step = (*high - *low) / 65535.0 / 2.0;
            file.row(c, e, decoded);
            for (std::size_t i = 0; i < exact.size(); ++i) EXPECT_NEAR(decoded[i], exact[i], half_step * 1.01 + 1e-6);
        }
    }
}

TEST(KlBaseFile, AnUncommittedWriterLeavesNoFileAndTheOldOneWhole) {
    const std::string path = (test::temp_dir() / "uncommitted.kvkld").string();
    write_file_atomically(path, "old content");
    {
        KlBaseWriter writer(path, KlBaseLayout{8, 4, 0, 1}, {{1, 2, 3, 4}});
        writer.write(0, 0, std::vector<float>(8, 0.0f));
    }  // dropped before commit, as when scoring fails
    EXPECT_EQ(read_file(path), "old content");
    for (const auto& entry : std::filesystem::directory_iterator(test::temp_dir())) {
        EXPECT_EQ(entry.path().filename().string().find("uncommitted.kvkld.tmp"), std::string::npos);
    }
}

TEST(KlBaseFile, BadFilesAreRefusedSayingWhatIsWrong) {
    const auto dir = test::temp_dir();
    const std::string good = (dir / "good.kvkld").string();
    {
        KlBaseWriter writer(good, KlBaseLayout{8, 4, 0, 1}, {{1, 2, 3, 4}});
        for (std::int32_t e = 0; e < 3; ++e) writer.write(0, e, std::vector<float>(8, 1.0f));
        writer.commit();
    }
    const std::string bytes = read_file(good);
    const auto expect_refused = [&](const std::string& name, const std::string& content, const std::string& why) {
        const std::string path = (dir / name).string();
        write_file_atomically(path, content);
        try {
            KlBaseFile::open(path);
            ADD_FAILURE() << name << " was accepted";
        } catch (const FileError& e) {
            EXPECT_NE(std::string(e.what()).find("not a usable KL-divergence base file"), std::string::npos)
                << e.what();
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    expect_refused("magic.kvkld", "GGUF" + bytes.substr(4), "does not start with KVSKLD01");
    expect_refused("short.kvkld", bytes.substr(0, bytes.size() - 1), "may be truncated");
    std::string bad_token = bytes;
    bad_token[24] = 9;  // the first token, 9 in a vocabulary of 8
    expect_refused("token.kvkld", bad_token, "outside the vocabulary");
    EXPECT_THROW(KlBaseFile::open((dir / "absent.kvkld").string()), FileError);
}

TEST(KlAccumulator, StatisticsMatchPlainLoops) {
    std::mt19937 rng(11);
    KlAccumulator acc;
    std::vector<double> klds, ratios;
    double same = 0, dp2 = 0, nll_base = 0, nll = 0;
    constexpr int kPositions = 201;
    for (int i = 0; i < kPositions; ++i) {
        const std::vector<float> base_logits = random_logits(rng, 64, 2.0);
        std::vector<float> logits = base_logits;
        for (float& l : logits) l += std::normal_distribution<float>(0.0f, 0.3f)(rng);
        const std::vector<double> p = log_softmax(base_logits), q = log_softmax(logits);
        const auto token = static_cast<std::int32_t>(rng() % 64);
        double kld = 0;
        for (std::size_t k = 0; k < p.size(); ++k) kld += std::exp(p[k]) * (p[k] - q[k]);
        EXPECT_NEAR(acc.add(p, logits, token), kld, 1e-12);
        klds.push_back(kld);
        same += std::max_element(p.begin(), p.end()) - p.begin() == std::max_element(q.begin(), q.end()) - q.begin();
        const double dp = std::exp(q[static_cast<std::size_t>(token)]) - std::exp(p[static_cast<std::size_t>(token)]);
        dp2 += dp * dp;
        nll_base -= p[static_cast<std::size_t>(token)];
        nll -= q[static_cast<std::size_t>(token)];
        ratios.push_back(p[static_cast<std::size_t>(token)] - q[static_cast<std::size_t>(token)]);
    }
    const KlStats s = acc.stats();
    const double n = kPositions;
    double mean = 0;
    for (const double k : klds) mean += k / n;
    double var = 0;
    for (const double k : klds) var += (k - mean) * (k - mean) / (n - 1);
    EXPECT_EQ(s.num_positions, kPositions);
    EXPECT_NEAR(s.kld_mean, mean, 1e-12);
    EXPECT_NEAR(s.kld_mean_error, std::sqrt(var / n), 1e-9);
    std::vector<double> sorted = klds;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_NEAR(s.kld_min, sorted.front(), 1e-12);
    EXPECT_NEAR(s.kld_max, sorted.back(), 1e-12);
    ASSERT_EQ(s.kld_percentiles.size(), 8u);
    EXPECT_EQ(s.kld_percentiles[3].first, 50.0);
    EXPECT_NEAR(s.kld_percentiles[3].second, sorted[100], 1e-12);  // 201 values: the 101st
    EXPECT_EQ(s.kld_percentiles[4].first, 90.0);
    EXPECT_NEAR(s.kld_percentiles[4].second, sorted[180], 1e-12);  // rank 0.9 * 200 = 180
    EXPECT_NEAR(s.same_top, same / n, 1e-12);
    EXPECT_NEAR(s.delta_p_rms, std::sqrt(dp2 / n), 1e-12);
    EXPECT_NEAR(s.base_ppl, std::exp(nll_base / n), 1e-9);
    EXPECT_NEAR(s.ppl, std::exp(nll / n), 1e-9);
    double ratio = 0;
    for (const double r : ratios) ratio += r / n;
    EXPECT_NEAR(s.ln_ppl_ratio, ratio, 1e-12);
    EXPECT_NEAR(std::exp(s.ln_ppl_ratio), s.ppl / s.base_ppl, 1e-9);
}

// The whole measurement on the embedded model: F32 weights as the base, Q4_0 re-quantised weights
// compared with it, against the reference forward of each (the reference's Q4_0 model holds
// the same round-tripped weights).
TEST(KlDivergence, MatchesTheReferenceForwardOfBothModels) {
    const std::string text =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
        "friends. One day, she saw a big red ball under a tree and ran to get it. The ball was stuck, so she "
        "asked her mom for help. Her mom smiled and said, \"Let's get it together.\"";
    const auto base_model = Model::load("");
    ModelLoadOptions q4;
    q4.weight_type = TensorType::Q4_0;
    const auto quantised = Model::load("", q4);
    ASSERT_GT(quantised->num_requantized_weights(), 0);
    PerplexityOptions options;
    options.context = 32;
    const auto chunks =
        perplexity_chunks(base_model->tokenizer().encode(text, true, false), base_model->tokenizer(), options);
    ASSERT_GE(chunks.size(), 3u);
    const std::int32_t first = first_scored_entry(options);
    const KlBaseLayout layout{base_model->shape().vocab_size, options.context, first,
                              static_cast<std::int32_t>(chunks.size())};
    const std::string path = (test::temp_dir() / "embedded.kvkld").string();
    {
        Engine engine(base_model, EngineConfig{});
        KlBaseWriter writer(path, layout, chunks);
        run_perplexity(engine, chunks, options, {}, [&](std::size_t c, std::int32_t e, std::span<const float> logits) {
            writer.write(c, e, logits);
        });
        writer.commit();
    }
    const KlBaseFile base = KlBaseFile::open(path);
    KlAccumulator acc;
    std::vector<double> row;
    Engine engine(quantised, EngineConfig{});
    run_perplexity(engine, chunks, options, {}, [&](std::size_t c, std::int32_t e, std::span<const float> logits) {
        base.row(c, e, row);
        acc.add(row, logits, chunks[c][static_cast<std::size_t>(e) + 1]);
    });
    const KlStats got = acc.stats();

    test::ReferenceModel reference_base(base_model->gguf());
    test::ReferenceModel reference_q4(base_model->gguf(), TensorType::Q4_0);
    double kld_sum = 0, ratio_sum = 0;
    int positions = 0;
    for (const auto& chunk : chunks) {
        const auto p_rows = reference_base.forward(chunk);
        const auto q_rows = reference_q4.forward(chunk);
        for (std::int32_t j = first; j + 1 < options.context; ++j) {
            const std::vector<double> p = log_softmax(p_rows[static_cast<std::size_t>(j)]);
            const std::vector<double> q = log_softmax(q_rows[static_cast<std::size_t>(j)]);
            for (std::size_t k = 0; k < p.size(); ++k) kld_sum += std::exp(p[k]) * (p[k] - q[k]);
            const auto token = static_cast<std::size_t>(chunk[static_cast<std::size_t>(j) + 1]);
            ratio_sum += p[token] - q[token];
            ++positions;
        }
    }
    EXPECT_EQ(got.num_positions, positions);
    const double expected_kld = kld_sum / positions;
    EXPECT_GT(expected_kld, 1e-3);  // Q4_0 moves this model's distributions measurably
    // Both to 2 %: the engine quantises activations to Q8_0 for Q4_0 weights (as llama.cpp does) and
    // the reference does not, which moves ln(PPL ratio) by 1.2-1.5 % here (scalar, AVX2, AVX-512).
    EXPECT_NEAR(got.kld_mean, expected_kld, 0.02 * expected_kld);
    const double expected_ratio = ratio_sum / positions;
    EXPECT_NEAR(got.ln_ppl_ratio, expected_ratio, 0.02 * std::abs(expected_ratio));
}

}  // namespace kl_divergence_test
}  // namespace kvscope
