// kvscope-cli make-trace, generate --trace-out and lab, run as a user runs them: a recorded
// batch replays under its own budget, a hand-built trace gives the hand-computed figures in the
// JSON, the table names every allocator, and bad input exits non-zero with a one-line message.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/cli_run.h"
#include "tests/support/paths.h"

namespace {

using RunResult = kvscope::test::CliResult;
using kvscope::test::json_lines;

RunResult run(const std::vector<std::string>& args) { return kvscope::test::run_cli(KVSCOPE_CLI, args); }

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(CliLab, GenerateRecordsItsBatchAndTheLabReplaysIt) {
    const auto trace = (kvscope::test::temp_dir() / "batch.jsonl").string();
    const RunResult g = run({"generate", "--prompt", "Once upon a time", "--prompt", "The cat sat", "--max-tokens", "8",
                             "--temperature", "0", "--ignore-eos", "--n", "2", "--kv-cache-blocks", "40",
                             "--block-size", "8", "--json", "--trace-out", trace});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    const auto results = json_lines(g.out);
    const auto lines = json_lines(read_file(trace));
    ASSERT_EQ(lines.size(), 3u);
    const nlohmann::json& header = lines[0];
    EXPECT_EQ(header["kvscope_trace"], 1);
    EXPECT_EQ(header["kv_cache_tokens"], 320);
    EXPECT_EQ(header["max_model_len"], 2048);
    EXPECT_EQ(header["kv_bytes_per_token"], 2 * 5 * 32 * 4);  // K and V, 5 layers, kv_dim 32, f32
    for (int i = 0; i < 2; ++i) {
        const nlohmann::json& r = lines[static_cast<std::size_t>(i) + 1];
        EXPECT_EQ(r["prompt_token_ids"], results[static_cast<std::size_t>(i)]["prompt_token_ids"]);
        EXPECT_EQ(r["n"], 2);
        EXPECT_EQ(r["output_len"], (std::vector<int>{8, 8}));
        EXPECT_EQ(r["output_token_ids"][0], results[static_cast<std::size_t>(i)]["token_ids"]);
    }
    EXPECT_EQ(lines[1]["arrival_s"], 0.0);

    const RunResult lab = run({"lab", "--trace", trace, "--json"});
    ASSERT_EQ(lab.exit_code, 0) << lab.err;
    const nlohmann::json report = nlohmann::json::parse(lab.out);
    EXPECT_EQ(report["config"]["budget_tokens"], 320);  // the trace's own budget
    EXPECT_EQ(report["config"]["bytes_per_token"], 1280);
    ASSERT_EQ(report["allocators"].size(), 9u);
    for (const nlohmann::json& a : report["allocators"]) {
        const nlohmann::json& t = a["totals"];
        if (a["name"] == "orca-max") continue;  // below
        EXPECT_EQ(t["finished"], 2) << a["name"];
        EXPECT_EQ(t["generated_tokens"], 32) << a["name"];
        double sum = 0;
        for (const char* part : {"token", "reserved", "internal", "external", "cached", "free"})
            sum += t["share"][part].get<double>();
        EXPECT_NEAR(sum, 1.0, 1e-9) << a["name"];
        EXPECT_EQ(a["series"]["step"].size(), a["series"]["token"].size());
    }
    // orca-max reserves 2048 > 320 slots: it refuses both requests.
    EXPECT_EQ(report["allocators"][0]["name"], "orca-max");
    EXPECT_EQ(report["allocators"][0]["totals"]["refused"], 2);
    EXPECT_NE(lab.err.find("orca-max refused 2 requests"), std::string::npos);
    // Paged, n = 2: the samples share their prompt blocks.
    EXPECT_GT(report["allocators"][3]["totals"]["mean_tokens"]["shared_saved"].get<double>(), 0);
}

// Prompt 10, output 5 (lab_replay_test's case): tokens 10..13 over four steps.
TEST(CliLab, AHandBuiltTraceGivesTheHandComputedFigures) {
    const auto dir = kvscope::test::temp_dir();
    const auto trace = (dir / "one.jsonl").string();
    std::ofstream(trace) << "{\"prompt_len\": 10, \"output_len\": 5}\n";
    const auto out = (dir / "report.json").string();
    const RunResult r = run({"lab", "--trace", trace, "--budget-tokens", "100", "--max-model-len", "64", "--allocators",
                             "oracle,paged-8", "--out", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("orca-oracle"), std::string::npos);
    EXPECT_NE(r.out.find("76.7%"), std::string::npos) << r.out;  // 46 / 60 token share of the oracle
    const nlohmann::json report = nlohmann::json::parse(read_file(out));
    const nlohmann::json& oracle = report["allocators"][0];
    EXPECT_NEAR(oracle["totals"]["token_share_of_used"].get<double>(), 46.0 / 60.0, 1e-12);
    EXPECT_EQ(oracle["series"]["token"], (std::vector<int>{10, 11, 12, 13, 0}));
    EXPECT_EQ(oracle["series"]["internal"], (std::vector<int>{1, 1, 1, 1, 0}));
    const nlohmann::json& paged = report["allocators"][1];
    EXPECT_EQ(paged["capacity_tokens"], 96);
    EXPECT_EQ(paged["series"]["internal"], (std::vector<int>{2, 2, 2, 2, 0}));
    EXPECT_EQ(report["config"]["bytes_per_token"], nullptr);

    // A budget in bytes at 1000 bytes a token: the same 100 tokens, and means in bytes.
    const RunResult b = run({"lab", "--trace", trace, "--budget-bytes", "100000", "--kv-bytes-per-token", "1000",
                             "--max-model-len", "64", "--allocators", "oracle", "--json"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    const nlohmann::json bytes = nlohmann::json::parse(b.out);
    EXPECT_EQ(bytes["config"]["budget_tokens"], 100);
    EXPECT_NEAR(bytes["allocators"][0]["totals"]["mean_bytes"]["token"].get<double>(), 46.0 / 5 * 1000, 1e-9);
}

// An arrival so late that its step number would overflow is refused, not replayed at step 0.
TEST(CliLab, AnArrivalPastTheStepCounterIsRefused) {
    const auto trace = (kvscope::test::temp_dir() / "late.jsonl").string();
    std::ofstream(trace) << "{\"arrival_s\": 0, \"prompt_len\": 5, \"output_len\": 3}\n"
                         << "{\"arrival_s\": 1e18, \"prompt_len\": 5, \"output_len\": 3}\n";
    const RunResult r = run({"lab", "--trace", trace, "--budget-tokens", "256", "--allocators", "oracle", "--json"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("trace request 2 arrives at 1e+18 s"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST(CliLab, MakeTraceWritesASyntheticTraceTheLabReads) {
    const auto trace = (kvscope::test::temp_dir() / "sharegpt.jsonl").string();
    const RunResult m = run({"make-trace", "--preset", "sharegpt", "--num-requests", "60", "--seed", "3",
                             "--request-rate", "4", "--out", trace});
    ASSERT_EQ(m.exit_code, 0) << m.err;
    const auto lines = json_lines(read_file(trace));
    ASSERT_EQ(lines.size(), 61u);
    EXPECT_EQ(lines[0]["max_model_len"], 2048);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        EXPECT_LE(lines[i]["prompt_token_ids"].size(), 1024u);
        EXPECT_LE(lines[i]["prompt_token_ids"].size() + lines[i]["output_len"].get<std::size_t>(), 2048u);
    }
    EXPECT_GT(lines[60]["arrival_s"].get<double>(), 0);
    const RunResult lab = run({"lab", "--trace", trace, "--budget-tokens", "8192", "--series-points", "0", "--json"});
    ASSERT_EQ(lab.exit_code, 0) << lab.err;
    const nlohmann::json report = nlohmann::json::parse(lab.out);
    EXPECT_FALSE(report["allocators"][0].contains("series"));
    EXPECT_EQ(report["trace"]["requests"], 60);

    // With --model, the requests fit that model's context unless --max-model-len says otherwise.
    const auto model = (kvscope::test::temp_dir() / "ctx64.gguf").string();
    ASSERT_EQ(run({"make-model", "--out", model, "--preset", "tiny", "--context", "64"}).exit_code, 0);
    const auto fitted = (kvscope::test::temp_dir() / "fitted.jsonl").string();
    const RunResult f = run({"make-trace", "--model", model, "--num-requests", "4", "--prompt-len", "100",
                             "--output-len", "10", "--out", fitted});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    const auto fitted_lines = json_lines(read_file(fitted));
    EXPECT_EQ(fitted_lines[0]["max_model_len"], 64);
    EXPECT_EQ(fitted_lines[1]["prompt_token_ids"].size(), 32u);  // cut to half the context
}

TEST(CliLab, BadInputExitsWithOneLine) {
    const auto dir = kvscope::test::temp_dir();
    const auto bad = (dir / "bad.jsonl").string();
    std::ofstream(bad) << "{\"prompt_len\": 4, \"output_len\": 2}\n{\"prompt_len\": 4}\n";
    RunResult r = run({"lab", "--trace", bad, "--budget-tokens", "100"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(bad + ":2: \"output_len\" is missing"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

    const auto good = (dir / "good.jsonl").string();
    std::ofstream(good) << "{\"prompt_len\": 4, \"output_len\": 2}\n";
    r = run({"lab", "--trace", good});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--budget-tokens"), std::string::npos) << r.err;
    r = run({"lab", "--trace", good, "--budget-bytes", "1M"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("bytes per token"), std::string::npos) << r.err;
    r = run({"lab", "--trace", good, "--budget-tokens", "100", "--allocators", "best-fit"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("allocator 'best-fit' is not known"), std::string::npos) << r.err;
    r = run({"lab", "--budget-tokens", "100"});
    EXPECT_EQ(r.exit_code, 2);
    r = run({"lab", "--trace", (dir / "missing.jsonl").string(), "--budget-tokens", "100"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot open the trace"), std::string::npos) << r.err;
    r = run({"lab", "--trace", dir.string(), "--budget-tokens", "100"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is a directory, not a trace"), std::string::npos) << r.err;
    r = run({"make-trace", "--preset", "reddit", "--out", (dir / "x.jsonl").string()});
    EXPECT_EQ(r.exit_code, 2);
    r = run({"lab", "--trace", good, "--budget-tokens", "100", "--budget-bytes", "1G", "--kv-bytes-per-token", "8"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("give --budget-tokens or --budget-bytes, not both"), std::string::npos) << r.err;
    // Negative ids are the lab's own placeholders: a trace may not use them.
    const auto negative = (dir / "negative.jsonl").string();
    std::ofstream(negative) << "{\"prompt_token_ids\": [1, -1, 2], \"output_len\": 3}\n";
    r = run({"lab", "--trace", negative, "--budget-tokens", "100"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(negative + ":1: \"prompt_token_ids[]\" is -1"), std::string::npos) << r.err;
}

}  // namespace
