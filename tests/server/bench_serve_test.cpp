// bench serve against the in-process server: its counts agree with the workload and with the
// server's own /metrics; its statistics are vLLM's (hand-computed cases).

#include "app/server/bench_serve.h"

#include <gtest/gtest.h>

#include <cmath>

#include "app/server/prometheus_text.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace bench_serve_test {

server::BenchServeOptions options_for(const TestServer& s, int num_prompts) {
    server::BenchServeOptions o;
    o.url = s.url();
    o.workload.num_requests = num_prompts;
    o.workload.prompt_len = LengthDistribution::parse("uniform:40-60", "prompt");
    o.workload.output_len = LengthDistribution::parse("uniform:4-12", "output");
    o.workload.shared_prefix_fraction = 0.8;  // at least 32 tokens: two whole blocks
    o.workload.seed = 3;
    o.timeout_s = 60;
    return o;
}

TEST(BenchServe, CountsAgreeWithTheWorkloadAndTheServersMetrics) {
    TestServer server;
    server::BenchServeOptions o = options_for(server, 24);
    o.max_concurrency = 6;
    const auto prompts = server::make_bench_prompts(o.workload, embedded_model()->tokenizer(), false);
    ASSERT_EQ(prompts.size(), 24u);
    std::int64_t input = 0, output = 0, itls = 0;
    for (const auto& p : prompts) {
        EXPECT_EQ(p.token_ids.front(), embedded_model()->tokenizer().bos_id());
        input += p.prompt_len;
        output += p.output_len;
        itls += p.output_len - 1;
    }
    const server::BenchServeResult r = server::run_bench_serve(o, prompts);
    EXPECT_EQ(r.completed, 24);
    EXPECT_EQ(r.failed, 0);
    EXPECT_EQ(r.total_input_tokens, input);
    EXPECT_EQ(r.total_output_tokens, output);
    std::int64_t itl_count = 0;
    for (const auto& q : r.requests) {
        EXPECT_TRUE(q.success) << q.error;
        EXPECT_GT(q.ttft_s, 0);
        EXPECT_GE(q.latency_s, q.ttft_s);
        itl_count += static_cast<std::int64_t>(q.itl_s.size());
    }
    EXPECT_EQ(itl_count, itls);  // one event per token
    EXPECT_GT(r.duration_s, 0);
    EXPECT_DOUBLE_EQ(r.request_throughput, 24 / r.duration_s);
    EXPECT_DOUBLE_EQ(r.output_throughput, double(output) / r.duration_s);
    EXPECT_DOUBLE_EQ(r.total_token_throughput, double(input + output) / r.duration_s);
    EXPECT_LE(r.ttft.median_ms, r.ttft.percentiles_ms.at(0).second);

    auto client = server.client();
    const server::PromText m = server::PromText::parse(client->Get("/metrics")->body);
    EXPECT_EQ(m.value("vllm:generation_tokens_total"), double(output));
    EXPECT_EQ(m.value("vllm:request_success_total", {{"finished_reason", "length"}}), 24.0);
    // Most of each prompt is shared: the prefix cache served some of it.
    EXPECT_GT(*m.value("vllm:prefix_cache_hits_total"), 0.0);
    EXPECT_EQ(*m.value("vllm:prompt_tokens_total") + *m.value("vllm:prefix_cache_hits_total"), double(input));
    // Each request's usage told its share of those hits.
    EXPECT_EQ(double(r.total_cached_tokens), *m.value("vllm:prefix_cache_hits_total"));

    const nlohmann::json j = server::bench_json(o, r);
    EXPECT_EQ(j["completed"], 24);
    EXPECT_EQ(j["total_output_tokens"], output);
    EXPECT_EQ(j["output_lens"].size(), 24u);
    EXPECT_EQ(j["total_cached_input_tokens"], r.total_cached_tokens);
    for (const char* key :
         {"mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms",
          "mean_itl_ms", "median_itl_ms", "p99_itl_ms", "mean_e2el_ms", "median_e2el_ms", "p99_e2el_ms",
          "request_throughput", "output_throughput", "total_token_throughput", "duration"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    const std::string table = server::bench_table(o, r);
    EXPECT_NE(table.find("Successful requests:                     24"), std::string::npos) << table;
    EXPECT_NE(table.find("P99 TTFT (ms):"), std::string::npos);
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.2f", 100.0 * double(r.total_cached_tokens) / double(input));
    EXPECT_NE(table.find(std::string("Prefix cache hit rate (%):               ") + rate), std::string::npos) << table;
}

TEST(BenchServe, PoissonArrivalsTextPromptsAndChat) {
    TestServer server;
    for (const char* endpoint : {"/v1/completions", "/v1/chat/completions"}) {
        server::BenchServeOptions o = options_for(server, 8);
        o.endpoint = endpoint;
        o.text_prompts = true;
        o.workload.request_rate = 400;  // Poisson, about 20 ms for all
        const auto prompts = server::make_bench_prompts(o.workload, embedded_model()->tokenizer(), true);
        EXPECT_GT(prompts.back().arrival_s, 0.0);
        const server::BenchServeResult r = server::run_bench_serve(o, prompts);
        EXPECT_EQ(r.completed, 8) << endpoint;
        std::int64_t output = 0;
        for (const auto& p : prompts) output += p.output_len;
        EXPECT_EQ(r.total_output_tokens, output) << endpoint;
        for (const auto& q : r.requests) EXPECT_FALSE(q.generated_text.empty()) << endpoint;
        for (std::size_t i = 0; i < r.requests.size(); ++i) EXPECT_GE(r.requests[i].start_s, prompts[i].arrival_s);
    }
}

TEST(BenchServe, FailuresAreCountedNotFatal) {
    server::ServerOptions so;
    so.api_key = "secret";
    TestServer server(so);
    server::BenchServeOptions o = options_for(server, 3);
    o.model = "stories260K";  // (GET /v1/models would need the key too)
    const auto prompts = server::make_bench_prompts(o.workload, embedded_model()->tokenizer(), false);
    const server::BenchServeResult r = server::run_bench_serve(o, prompts);
    EXPECT_EQ(r.completed, 0);
    EXPECT_EQ(r.failed, 3);
    EXPECT_NE(r.requests[0].error.find("HTTP 401"), std::string::npos) << r.requests[0].error;
    o.api_key = "secret";
    EXPECT_EQ(server::run_bench_serve(o, prompts).completed, 3);
}

TEST(BenchStats, PercentilesInterpolateAsNumpy) {
    EXPECT_EQ(server::percentile({}, 50), 0.0);
    EXPECT_EQ(server::percentile({5}, 99), 5.0);
    EXPECT_DOUBLE_EQ(server::percentile({4, 1, 3, 2}, 50), 2.5);
    EXPECT_DOUBLE_EQ(server::percentile({1, 2, 3, 4}, 99), 3.97);
    EXPECT_DOUBLE_EQ(server::percentile({1, 2, 3, 4}, 0), 1.0);
    EXPECT_DOUBLE_EQ(server::percentile({1, 2, 3, 4}, 100), 4.0);
}

TEST(BenchStats, SummaryFollowsVllmsDefinitions) {
    server::BenchServeResult r;
    r.duration_s = 2.0;
    server::BenchRequestResult a, b, failed;
    a.success = true, a.prompt_len = 10, a.output_tokens = 5, a.ttft_s = 0.1, a.latency_s = 0.5,
    a.itl_s = {0.1, 0.1, 0.1, 0.1};
    b.success = true, b.prompt_len = 20, b.output_tokens = 1, b.ttft_s = 0.3, b.latency_s = 0.3;
    failed.error = "x";
    r.requests = {a, b, failed};
    server::summarize(r, {50, 99});
    EXPECT_EQ(r.completed, 2);
    EXPECT_EQ(r.failed, 1);
    EXPECT_EQ(r.total_input_tokens, 30);
    EXPECT_EQ(r.total_output_tokens, 6);
    EXPECT_EQ(r.total_cached_tokens, -1);  // no usage told it
    EXPECT_TRUE(server::bench_json({}, r)["total_cached_input_tokens"].is_null());
    EXPECT_EQ(server::bench_table({}, r).find("Prefix cache"), std::string::npos);
    r.requests[0].cached_tokens = 0;
    r.requests[1].cached_tokens = 16;
    r.requests[2].cached_tokens = 8;  // a failed request counts for nothing
    server::summarize(r, {50, 99});
    EXPECT_EQ(r.total_cached_tokens, 16);
    EXPECT_DOUBLE_EQ(r.request_throughput, 1.0);
    EXPECT_DOUBLE_EQ(r.output_throughput, 3.0);
    EXPECT_DOUBLE_EQ(r.total_token_throughput, 18.0);
    EXPECT_NEAR(r.ttft.mean_ms, 200.0, 1e-9);
    EXPECT_NEAR(r.ttft.std_ms, 100.0, 1e-9);   // population standard deviation
    EXPECT_NEAR(r.tpot.mean_ms, 100.0, 1e-9);  // (0.5 - 0.1) / 4; b has one token: no TPOT
    EXPECT_NEAR(r.itl.median_ms, 100.0, 1e-9);
    EXPECT_NEAR(r.e2el.mean_ms, 400.0, 1e-9);
    ASSERT_EQ(r.e2el.percentiles_ms.size(), 2u);
    EXPECT_NEAR(r.e2el.percentiles_ms[1].second, 300 + 200 * 0.99, 1e-9);
}

}  // namespace bench_serve_test
}  // namespace kvscope::test
