// kvscope-cli perplexity end to end, against llama.cpp's llama-perplexity: the embedded
// stories260K on tests/data/kite_story.txt with -c 128 gave, per chunk and in the end (its default
// F16 KV cache, 1 thread; see docs/PERFORMANCE.md "Perplexity"),
//   [1]5.8971,[2]5.1109,[3]6.0527,[4]5.2238,[5]5.0851,[6]5.3428,[7]5.1727
//   Final estimate: PPL = 5.1727 +/- 0.43788
// and the JSON output, the scoring choice and the errors.

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

const std::string kStory = KVSCOPE_TEST_DATA "/kite_story.txt";
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
