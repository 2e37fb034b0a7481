// kvscope-cli bench ... run as a user runs them, tiny, on the embedded model: the JSON fields
// are there and the numbers keep their relations (tokens counted equal tokens asked for, rates
// equal counts over times, the roofline's ceiling is bandwidth over bytes per token). No timing
// is asserted beyond "positive".

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

struct RunResult {
    int exit_code = -1;
    std::string out;
};

RunResult run(const std::string& args) {
    const std::string cmd = std::string("'") + KVSCOPE_CLI + "' " + args + " 2>/dev/null";
    RunResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    std::array<char, 4096> buf{};
    for (std::size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.out.append(buf.data(), n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

nlohmann::json run_json(const std::string& args) {
    const RunResult r = run(args + " --json");
    EXPECT_EQ(r.exit_code, 0) << args;
    return nlohmann::json::parse(r.out);
}

void expect_model(const nlohmann::json& j) {
    EXPECT_EQ(j["model"]["path"], "embedded:stories260K");
    EXPECT_GT(j["model"]["params"].get<std::int64_t>(), 0);
    EXPECT_GT(j["model"]["weight_bytes"].get<std::int64_t>(), 0);
    EXPECT_EQ(j["model"]["weight_type"], "F32");
    EXPECT_TRUE(j["model"]["requantized_to"].is_null());
    EXPECT_EQ(j["model"]["loaded_weight_bytes"], j["model"]["weight_bytes"]);
}

TEST(BenchCli, LatencyRunsEachTestAndReportsRatesOfTheTokensAskedFor) {
    const auto j = run_json("bench latency --prompt-tokens 16 --gen-tokens 8 --repetitions 3 --threads 1,2");
    EXPECT_EQ(j["bench"], "latency");
    expect_model(j);
    const auto& results = j["results"];
    ASSERT_EQ(results.size(), 4u);  // (pp16, tg8) x (1, 2 threads)
    for (const auto& r : results) {
        const bool pp = r["test"] == "pp16";
        EXPECT_TRUE(pp || r["test"] == "tg8");
        EXPECT_EQ(r["n_prompt"], pp ? 16 : 0);
        EXPECT_EQ(r["n_gen"], pp ? 0 : 8);
        EXPECT_EQ(r["repetitions"], 3);
        ASSERT_EQ(r["seconds"].size(), 3u);
        const auto& tps = r["tokens_per_s"];
        double sum = 0;
        for (double s : r["seconds"]) {
            EXPECT_GT(s, 0);
            sum += (pp ? 16 : 8) / s;
        }
        EXPECT_NEAR(tps["mean"].get<double>(), sum / 3, 1e-6 * sum);
        EXPECT_LE(tps["min"].get<double>(), tps["mean"].get<double>());
        EXPECT_GE(tps["max"].get<double>(), tps["mean"].get<double>());
        EXPECT_GE(tps["stddev"].get<double>(), 0);
    }
    EXPECT_EQ(results[0]["threads"], 1);
    EXPECT_EQ(results[3]["threads"], 2);
}

TEST(BenchCli, LatencyDepthStartsGenerationAfterAnUntimedPrompt) {
    const auto j = run_json("bench latency --prompt-tokens 0 --gen-tokens 4 --depth 30 --repetitions 1 --threads 1");
    ASSERT_EQ(j["results"].size(), 1u);
    EXPECT_EQ(j["results"][0]["test"], "tg4 @ d30");
    EXPECT_EQ(j["results"][0]["depth"], 30);
    EXPECT_EQ(j["results"][0]["n_gen"], 4);
}

// --weight-type re-quantises at load: the JSON keeps the file's type and size and adds the target
// and the size as loaded (the embedded model: 32 of its F32 weights fit Q8_0's blocks, a quarter
// of the bytes each, plus a 2-byte scale per 32; ffn_down's 172-wide rows stay F32).
TEST(BenchCli, WeightTypeIsAppliedAndReported) {
    for (const char* sub : {"latency --prompt-tokens 8 --gen-tokens 2 --repetitions 1",
                            "throughput --num-prompts 2 --input-len 4 --output-len 2"}) {
        const auto j = run_json(std::string("bench ") + sub + " --threads 1 --weight-type q8_0");
        EXPECT_EQ(j["model"]["weight_type"], "F32") << sub;
        EXPECT_EQ(j["model"]["requantized_to"], "Q8_0") << sub;
        const auto stored = j["model"]["weight_bytes"].get<std::int64_t>();
        const auto loaded = j["model"]["loaded_weight_bytes"].get<std::int64_t>();
        EXPECT_LT(loaded, stored / 2) << sub;
        EXPECT_GT(loaded, stored / 5) << sub;
    }
    EXPECT_EQ(run("bench latency --weight-type q4_1").exit_code, 2);
}

TEST(BenchCli, BatchedCountsEveryPromptAndGeneratedToken) {
    const auto j = run_json("bench batched --npp 8,12 --ntg 4 --npl 1,3 --threads 1");
    expect_model(j);
    ASSERT_EQ(j["results"].size(), 4u);
    for (const auto& r : j["results"]) {
        const int pp = r["pp"], tg = r["tg"], b = r["batch"];
        EXPECT_EQ(r["prompt_tokens"], b * pp);
        EXPECT_EQ(r["gen_tokens"], b * tg);
        EXPECT_NEAR(r["pp_tokens_per_s"].get<double>(), b * pp / r["t_pp_s"].get<double>(), 1e-6 * b * pp * 1e6);
        EXPECT_NEAR(r["t_s"].get<double>(), r["t_pp_s"].get<double>() + r["t_tg_s"].get<double>(), 1e-9);
        EXPECT_GT(r["tg_tokens_per_s"].get<double>(), 0);
    }
}

TEST(BenchCli, BatchedSharedPromptComputesThePromptOnce) {
    const auto j = run_json("bench batched --npp 20 --ntg 3 --npl 4 --shared-prompt --threads 1");
    EXPECT_TRUE(j["shared_prompt"].get<bool>());
    ASSERT_EQ(j["results"].size(), 1u);
    EXPECT_EQ(j["results"][0]["prompt_tokens"], 20);
    EXPECT_EQ(j["results"][0]["gen_tokens"], 12);
}

TEST(BenchCli, ThroughputServesTheWholeWorkload) {
    const auto j = run_json(
        "bench throughput --num-prompts 6 --input-len 12 --output-len 5 --max-num-seqs 4 --threads 1 "
        "--shared-prefix-fraction 0.5");
    expect_model(j);
    EXPECT_EQ(j["num_requests"], 6);
    EXPECT_EQ(j["prompt_tokens"], 6 * 12);  // the drawn length, the BOS included
    EXPECT_EQ(j["output_tokens"], 6 * 5);
    EXPECT_EQ(j["requested_output_tokens"], 6 * 5);
    EXPECT_NEAR(j["requests_per_s"].get<double>(), 6 / j["elapsed_s"].get<double>(), 1e-3);
    EXPECT_GT(j["mean_batch_size"].get<double>(), 0);
    EXPECT_LE(j["mean_batch_size"].get<double>(), 4);  // --max-num-seqs
    EXPECT_GE(j["kv_usage_max"].get<double>(), j["kv_usage_mean"].get<double>());
    EXPECT_LE(j["kv_usage_max"].get<double>(), 1);
    EXPECT_GE(j["num_preemptions"].get<int>(), 0);
    EXPECT_EQ(j["workload"]["shared_prefix_fraction"], 0.5);
}

TEST(BenchCli, RooflineCeilingIsBandwidthOverBytesPerToken) {
    const auto j = run_json("bench roofline --gen-tokens 4 --probe-mib 8 --repetitions 1 --passes 1 --threads 1");
    expect_model(j);
    ASSERT_EQ(j["results"].size(), 1u);
    const auto& r = j["results"][0];
    const double bw = r["read_bytes_per_s"], per_token = r["bytes_per_token"];
    EXPECT_GT(bw, 0);
    EXPECT_GT(r["triad_bytes_per_s"].get<double>(), 0);
    // every weight except the embedding table is read once per token (the embedding: one row)
    EXPECT_GT(per_token, 0.5 * j["model"]["weight_bytes"].get<double>());
    EXPECT_NEAR(r["ceiling_tokens_per_s"].get<double>(), bw / per_token, 1e-9 * bw / per_token);
    EXPECT_NEAR(r["fraction"].get<double>(),
                r["tg_tokens_per_s"]["mean"].get<double>() / r["ceiling_tokens_per_s"].get<double>(), 1e-9);
}

TEST(BenchCli, TablesAndErrors) {
    const RunResult table = run("bench latency --prompt-tokens 8 --gen-tokens 0 --repetitions 1 --threads 1");
    EXPECT_EQ(table.exit_code, 0);
    EXPECT_NE(table.out.find(" pp8 |"), std::string::npos) << table.out;
    const RunResult help = run("bench --help");
    EXPECT_EQ(help.exit_code, 0);
    for (const char* sub : {"latency", "batched", "throughput", "roofline"}) {
        EXPECT_NE(help.out.find(sub), std::string::npos) << sub;
    }
    EXPECT_EQ(run("bench nonsense").exit_code, 2);
    EXPECT_EQ(run("bench latency --prompt-tokens x").exit_code, 2);
    EXPECT_EQ(run("bench latency --prompt-tokens 0 --gen-tokens 0").exit_code, 2);
}

}  // namespace
