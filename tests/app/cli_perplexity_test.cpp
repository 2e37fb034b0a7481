// kvscope-cli perplexity end to end, against llama.cpp's llama-perplexity: the embedded
// stories260K on resources/texts/kite_story.txt with -c 128 gave, per chunk and in the end (its default
// F16 KV cache, 1 thread; see docs/PERFORMANCE.md "Perplexity"),
//   [1]5.8971,[2]5.1109,[3]6.0527,[4]5.2238,[5]5.0851,[6]5.3428,[7]5.1727
//   Final estimate: PPL = 5.1727 +/- 0.43788
// and the JSON output, the scoring choice, KL divergence from a base run, and the errors.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/cli_run.h"
#include "tests/support/paths.h"

namespace {

using kvscope::test::CliResult;

CliResult run(const std::vector<std::string>& args) {
    return kvscope::test::run_cli(KVSCOPE_CLI, args);
}

const std::string kStory = KVSCOPE_SAMPLE_TEXT;
const std::vector<double> kLlamaRunning = {5.8971, 5.1109, 6.0527, 5.2238, 5.0851, 5.3428, 5.1727};
constexpr double kLlamaPpl = 5.1727, kLlamaError = 0.43788;

TEST(CliPerplexity, AgreesWithLlamaPerplexityChunkByChunk) {
    for (const std::string dtype : {"f32", "f16"}) {
        SCOPED_TRACE("cache dtype " + dtype);
        const CliResult r = run({"perplexity", "--file", kStory, "--ctx", "128", "--cache-dtype", dtype});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        std::vector<double> running;
        const std::regex chunk(R"(\[(\d+)\]([0-9.]+),)");
        for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), chunk); it != std::sregex_iterator(); ++it) {
            EXPECT_EQ(std::stoi((*it)[1]), static_cast<int>(running.size()) + 1);
            running.push_back(std::stod((*it)[2]));
        }
        ASSERT_EQ(running.size(), kLlamaRunning.size()) << r.out;
        for (std::size_t i = 0; i < running.size(); ++i)
            EXPECT_NEAR(running[i], kLlamaRunning[i], 5e-4 * kLlamaRunning[i]);
        std::smatch final;
        ASSERT_TRUE(std::regex_search(r.out, final, std::regex(R"(Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+))")))
            << r.out;
        EXPECT_NEAR(std::stod(final[1]), kLlamaPpl, 2e-4 * kLlamaPpl);
        EXPECT_NEAR(std::stod(final[2]), kLlamaError, 2e-3 * kLlamaError);
        EXPECT_NE(r.err.find("7 chunks of 128, scoring 63 tokens of each"), std::string::npos) << r.err;
    }
}

TEST(CliPerplexity, JsonHoldsTheEstimateAndEveryChunk) {
    const CliResult r = run({"perplexity", "--file", kStory, "--ctx", "128", "--chunks", "5", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["context"], 128);
    EXPECT_EQ(j["num_chunks"], 5);
    EXPECT_EQ(j["scored_tokens"], 5 * 63);
    EXPECT_EQ(j["score"], "second-half");
    EXPECT_EQ(j["cache_dtype"], "F32");
    EXPECT_EQ(j["weight_type"], "F32");
    ASSERT_EQ(j["chunks"].size(), 5u);
    double nll = 0.0;
    for (std::size_t i = 0; i < 5; ++i) {
        const nlohmann::json& c = j["chunks"][i];
        EXPECT_EQ(c["index"], i + 1);
        EXPECT_NEAR(c["running_ppl"].get<double>(), kLlamaRunning[i], 5e-4 * kLlamaRunning[i]);
        EXPECT_NEAR(std::exp(c["nll_mean"].get<double>()), c["ppl"].get<double>(), 1e-9 * c["ppl"].get<double>());
        nll += c["nll_mean"].get<double>() / 5;  // every chunk scores as many tokens
    }
    EXPECT_NEAR(j["nll_mean"].get<double>(), nll, 1e-9);
    EXPECT_NEAR(j["ppl"].get<double>(), std::exp(nll), 1e-9 * std::exp(nll));
    EXPECT_EQ(j["ppl"], j["chunks"][4]["running_ppl"]);
    EXPECT_GT(j["ppl_error"].get<double>(), 0.0);
    EXPECT_GT(j["text_tokens"].get<int>(), 7 * 128);
}

TEST(CliPerplexity, ScoringEveryTokenAndReQuantisedWeights) {
    const CliResult all = run({"perplexity", "--file", kStory, "--ctx", "128", "--score", "all", "--json"});
    ASSERT_EQ(all.exit_code, 0) << all.err;
    const nlohmann::json a = nlohmann::json::parse(all.out);
    EXPECT_EQ(a["scored_tokens"], 7 * 127);
    // Early tokens see little context: scoring them too raises the perplexity.
    EXPECT_GT(a["ppl"].get<double>(), kLlamaPpl);

    const CliResult q8 = run({"perplexity", "--file", kStory, "--ctx", "128", "--weight-type", "q8_0", "--json"});
    ASSERT_EQ(q8.exit_code, 0) << q8.err;
    const nlohmann::json q = nlohmann::json::parse(q8.out);
    EXPECT_EQ(q["weight_type"], "Q8_0");
    EXPECT_NEAR(q["ppl"].get<double>(), kLlamaPpl, 0.02 * kLlamaPpl);
    EXPECT_NE(q["ppl"].get<double>(), kLlamaPpl);
}

TEST(CliPerplexity, KlDivergenceFromABaseRun) {
    const auto dir = kvscope::test::temp_dir();
    const std::string base = (dir / "story.kvkld").string();
    const CliResult write = run({"perplexity", "--file", kStory, "--ctx", "128", "--kl-divergence-base", base});
    ASSERT_EQ(write.exit_code, 0) << write.err;
    EXPECT_NE(write.err.find("wrote the distributions of 441 positions"), std::string::npos) << write.err;

    // The same model against itself: nothing moves (the stored log-probs are rounded to 16 bits).
    const CliResult self = run({"perplexity", "--kl-divergence", base, "--json"});
    ASSERT_EQ(self.exit_code, 0) << self.err;
    const nlohmann::json s = nlohmann::json::parse(self.out);
    EXPECT_EQ(s["num_chunks"], 7);
    EXPECT_EQ(s["scored_tokens"], 441);
    EXPECT_NEAR(s["ppl"].get<double>(), kLlamaPpl, 2e-4 * kLlamaPpl);
    const nlohmann::json& sk = s["kl_divergence"];
    EXPECT_EQ(sk["positions"], 441);
    EXPECT_LT(sk["kld_mean"].get<double>(), 1e-6);
    EXPECT_EQ(sk["same_top"], 1.0);
    EXPECT_NEAR(sk["ln_ppl_ratio"].get<double>(), 0.0, 1e-5);
    EXPECT_NEAR(sk["base_ppl"].get<double>(), kLlamaPpl, 2e-4 * kLlamaPpl);

    // Q4_0 weights against the F32 base: its perplexity is that of a plain Q4_0 run, its
    // distributions measurably elsewhere.
    const CliResult q4 = run({"perplexity", "--kl-divergence", base, "--weight-type", "q4_0", "--json"});
    ASSERT_EQ(q4.exit_code, 0) << q4.err;
    const nlohmann::json q = nlohmann::json::parse(q4.out);
    const CliResult plain = run({"perplexity", "--file", kStory, "--ctx", "128", "--weight-type", "q4_0", "--json"});
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_EQ(q["ppl"], nlohmann::json::parse(plain.out)["ppl"]);
    const nlohmann::json& qk = q["kl_divergence"];
    EXPECT_GT(qk["kld_mean"].get<double>(), 0.01);
    EXPECT_LT(qk["same_top"].get<double>(), 1.0);
    EXPECT_NEAR(std::exp(qk["ln_ppl_ratio"].get<double>()), q["ppl"].get<double>() / qk["base_ppl"].get<double>(),
                1e-6);
    EXPECT_LE(qk["kld_percentiles"]["p50"].get<double>(), qk["kld_percentiles"]["p99"].get<double>());
    ASSERT_EQ(q["chunks"].size(), 7u);
    EXPECT_TRUE(q["chunks"][0].contains("kld_mean"));

    // The text report.
    const CliResult text = run({"perplexity", "--kl-divergence", base, "--weight-type", "q4_0"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("mean KLD"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("same top token"), std::string::npos) << text.out;

    // What does not fit the base is refused.
    const CliResult with_file = run({"perplexity", "--kl-divergence", base, "--file", kStory});
    EXPECT_EQ(with_file.exit_code, 2);
    EXPECT_NE(with_file.err.find("takes the text, its chunks and what is scored from the base file"), std::string::npos)
        << with_file.err;
    const std::string other = (dir / "vocab600.gguf").string();
    ASSERT_EQ(run({"make-model", "--preset", "tiny", "--vocab", "600", "--out", other}).exit_code, 0);
    const CliResult vocab = run({"perplexity", "--kl-divergence", base, "--model", other});
    EXPECT_EQ(vocab.exit_code, 1);
    EXPECT_NE(vocab.err.find("a vocabulary of 512 tokens, this model has 600"), std::string::npos) << vocab.err;
    const CliResult not_base = run({"perplexity", "--kl-divergence", kStory});
    EXPECT_EQ(not_base.exit_code, 1);
    EXPECT_NE(not_base.err.find("not a usable KL-divergence base file"), std::string::npos) << not_base.err;
}

TEST(CliPerplexity, BadInputSaysWhatToChange) {
    const auto dir = kvscope::test::temp_dir();
    const std::string empty = (dir / "empty.txt").string();
    std::ofstream(empty).close();
    struct Case {
        std::vector<std::string> args;
        int exit_code;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{"perplexity"}, 2, "--file PATH is required"},
        {{"perplexity", "--file", (dir / "absent.txt").string()}, 1, "cannot open the text file"},
        {{"perplexity", "--file", empty}, 1, "the text file is empty"},
        {{"perplexity", "--file", kStory, "--score", "most"}, 2, "--score: expected second-half or all, got 'most'"},
        {{"perplexity", "--file", kStory, "--ctx", "4096"}, 1, "fewer than one chunk of 4096"},
        {{"perplexity", "--file", kStory, "--ctx", "2"}, 2, "--ctx"},
        {{"perplexity", "--file", kStory, "--ctx", "128", "--max-model-len", "128"},
         1,
         "needs a context of at least 129"},
    };
    for (const Case& c : cases) {
        const CliResult r = run(c.args);
        EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << r.err;
    }
}

}  // namespace
