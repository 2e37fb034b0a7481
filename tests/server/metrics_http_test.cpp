// GET /metrics read back with the Prometheus text reader: vLLM's names, types and labels, and
// counters and histogram counts equal to what was sent; the reader and the number format on
// hand-written text; a monitor on one kept-alive connection answered while every other worker
// thread is held; a probe on a new connection answered while a hundred connections hold threads.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <future>

#include "app/server/prometheus.h"
#include "app/server/prometheus_text.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace metrics_http_test {

using nlohmann::json;
using server::PromText;

PromText scrape(httplib::Client& client) {
    const httplib::Result r = client.Get("/metrics");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
    return PromText::parse(r->body);
}

TEST(MetricsHttp, CountersAndHistogramsMatchWhatWasSent) {
    TestServer server;
    auto client = server.client();
    // Distinct prompts of known lengths, exact output lengths; one stopped by a stop string.
    struct Sent {
        std::string prompt;
        int max_tokens;
    };
    const std::vector<Sent> sent = {{"Once upon a time", 7}, {"The cat sat on the mat", 5}, {"Lily and Tom went", 9}};
    std::int64_t prompt_tokens = 0, generated = 0;
    for (const Sent& s : sent) {
        const HttpReply r =
            post_json(*client, "/v1/completions",
                      {{"prompt", s.prompt}, {"max_tokens", s.max_tokens}, {"ignore_eos", true}, {"n", 1}});
        ASSERT_EQ(r.status, 200) << r.text;
        prompt_tokens += r.body["usage"]["prompt_tokens"].get<std::int64_t>();
        generated += r.body["usage"]["completion_tokens"].get<std::int64_t>();
    }
    EXPECT_EQ(generated, 7 + 5 + 9);
    const HttpReply stopped =
        post_json(*client, "/v1/completions",
                  {{"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}, {"stop", "Lily"}});
    ASSERT_EQ(stopped.status, 200);
    const std::int64_t stopped_tokens = stopped.body["usage"]["completion_tokens"];
    server.wait_idle();

    const PromText m = scrape(*client);
    const server::PromLabels model = {{"model_name", "stories260K"}};
    EXPECT_EQ(m.value("vllm:generation_tokens_total", model), double(generated + stopped_tokens));
    // The last request's prompt is the first one's: its whole blocks could hit the cache, but a
    // 5-token prompt fills none, so every prompt token was computed.
    EXPECT_EQ(m.value("vllm:prompt_tokens_total", model), double(prompt_tokens + 5));
    EXPECT_EQ(m.value("vllm:prefix_cache_queries_total", model), double(prompt_tokens + 5));
    EXPECT_EQ(m.value("vllm:prefix_cache_hits_total", model), 0.0);
    EXPECT_EQ(m.value("vllm:request_success_total", {{"finished_reason", "length"}}), 3.0);
    EXPECT_EQ(m.value("vllm:request_success_total", {{"finished_reason", "stop"}}), 1.0);
    EXPECT_EQ(m.value("vllm:request_success_total", {{"finished_reason", "abort"}}), 0.0);
    EXPECT_EQ(m.value("vllm:num_requests_running", model), 0.0);
    EXPECT_EQ(m.value("vllm:num_requests_waiting", model), 0.0);
    EXPECT_EQ(m.value("vllm:kv_cache_usage_perc", model), 0.0);
    EXPECT_EQ(m.value("vllm:num_preemptions_total", model), 0.0);

    // Histograms: one observation per request (ITL: per token after the first).
    for (const char* name :
         {"vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds", "vllm:request_queue_time_seconds",
          "vllm:request_prompt_tokens", "vllm:request_generation_tokens", "vllm:request_params_max_tokens",
          "vllm:request_params_n", "vllm:request_inference_time_seconds", "vllm:request_max_num_generation_tokens"}) {
        const auto h = m.histogram(name, model);
        ASSERT_TRUE(h) << name;
        EXPECT_EQ(h->count, 4.0) << name;
        EXPECT_EQ(m.type(name), "histogram") << name;
        // Cumulative buckets, +Inf last and equal to the count.
        for (std::size_t i = 1; i < h->buckets.size(); ++i) EXPECT_GE(h->buckets[i].second, h->buckets[i - 1].second);
        EXPECT_TRUE(std::isinf(h->buckets.back().first)) << name;
        EXPECT_EQ(h->buckets.back().second, h->count) << name;
    }
    const auto itl = m.histogram("vllm:inter_token_latency_seconds", model);
    ASSERT_TRUE(itl);
    EXPECT_EQ(itl->count, double(generated + stopped_tokens - 4));
    EXPECT_EQ(m.histogram("vllm:time_per_output_token_seconds", model)->count, itl->count);
    EXPECT_EQ(m.histogram("vllm:request_generation_tokens", model)->sum, double(generated + stopped_tokens));
    EXPECT_EQ(m.histogram("vllm:request_prompt_tokens", model)->sum, double(prompt_tokens + 5));
    EXPECT_EQ(m.histogram("vllm:request_params_max_tokens", model)->sum, double(7 + 5 + 9 + 20));
    // vLLM's TTFT buckets, as dashboards know them.
    const auto ttft = m.histogram("vllm:time_to_first_token_seconds", model);
    ASSERT_EQ(ttft->buckets.size(), 23u);
    EXPECT_EQ(ttft->buckets.front().first, 0.001);
    EXPECT_EQ(ttft->buckets[21].first, 2560.0);

    EXPECT_EQ(m.type("vllm:prompt_tokens_total"), "counter");
    EXPECT_EQ(m.type("vllm:num_requests_running"), "gauge");
    EXPECT_EQ(m.value("vllm:cache_config_info", {{"num_gpu_blocks", "256"}, {"block_size", "16"}}), 1.0);
    EXPECT_EQ(m.value("kvscope:kv_cache_blocks", {{"state", "active"}}), 0.0);
    EXPECT_EQ(m.sum("kvscope:kv_cache_blocks"), 256.0);
    EXPECT_EQ(m.value("kvscope:kv_cache_fragmentation_perc"), 0.0);
    // Every sample carries the model and engine labels.
    for (const server::PromSample& s : m.samples()) {
        EXPECT_EQ(s.labels.at("model_name"), "stories260K") << s.name;
        EXPECT_EQ(s.labels.at("engine"), "0") << s.name;
    }
}

TEST(MetricsHttp, GaugesFollowARunningRequest) {
    TestServer server;
    // A streaming client that holds its request open until the scrape below is done.
    std::promise<void> started, scraped;
    std::thread streamer([&] {
        auto c = server.client();
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.body =
            json{{"prompt", "Once upon a time"}, {"max_tokens", 1800}, {"ignore_eos", true}, {"stream", true}}.dump();
        req.set_header("Content-Type", "application/json");
        bool first = true;
        req.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) {
            if (first) {
                first = false;
                started.set_value();
                scraped.get_future().wait();
            }
            return false;  // then leave
        };
        c->send(req);
    });
    started.get_future().wait();
    auto client = server.client();
    const PromText m = scrape(*client);
    scraped.set_value();
    streamer.join();
    EXPECT_EQ(m.value("vllm:num_requests_running"), 1.0);
    EXPECT_EQ(m.value("vllm:num_requests_waiting"), 0.0);
    EXPECT_GT(*m.value("vllm:kv_cache_usage_perc"), 0.0);
    EXPECT_GT(*m.value("kvscope:kv_cache_blocks", {{"state", "active"}}), 0.0);
    EXPECT_EQ(server.wait_idle().engine.metrics.request_success_abort, 1);
}

// A TCP connection that sends nothing: it holds one of the server's worker threads until the
// server's read timeout (5 s) gives up on it.
struct SilentConnection {
    int fd = -1;
    explicit SilentConnection(int port) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    ~SilentConnection() { ::close(fd); }
};

// The attached workbench polls /metrics and /v1/kv/snapshot 10 times a second over one kept-alive
// connection. With every other worker thread held and more connections queued for one, its 20
// polls in a row are all answered (with httplib's default the server closed the connection after
// 5 requests, and the reconnection waited behind the queued ones past the client's timeout); a
// new connection is not (the case that shows the threads are held).
TEST(MetricsHttp, AKeptAliveMonitorIsAnsweredWhileEveryOtherThreadIsHeld) {
    server::ServerOptions o;
    o.num_threads = 3;
    TestServer server(o);
    std::unique_ptr<httplib::Client> monitor = server.client();
    monitor->set_keep_alive(true);
    monitor->set_read_timeout(2, 0);
    ASSERT_EQ(get(*monitor, "/metrics").status, 200);  // the connection, on a thread of its own

    // Two hold the other workers, two wait for one (as a load's streams do).
    const SilentConnection a(server.http.port()), b(server.http.port());
    const SilentConnection c(server.http.port()), d(server.http.port());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (int i = 0; i < 20; ++i) {
        const httplib::Result r = monitor->Get(i % 2 ? "/metrics" : "/v1/kv/snapshot");
        ASSERT_TRUE(r) << "poll " << i << ": " << httplib::to_string(r.error());
        EXPECT_EQ(r->status, 200);
    }
    std::unique_ptr<httplib::Client> newcomer = server.client();
    newcomer->set_read_timeout(1, 0);
    EXPECT_FALSE(newcomer->Get("/metrics"));  // queued behind the held threads
}

// A probe or a scrape on a new connection is answered at once while 100 connections hold
// threads (as 100 streams do): each connection gets a thread of its own, up to --http-threads
// (512). With httplib's fixed pool of 64 threads, the probe waited behind them.
TEST(MetricsHttp, ANewConnectionIsAnsweredWhileAHundredOthersHoldThreads) {
    TestServer server;
    std::vector<std::unique_ptr<SilentConnection>> held;
    for (int i = 0; i < 100; ++i) held.push_back(std::make_unique<SilentConnection>(server.http.port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const char* path : {"/health", "/metrics"}) {
        std::unique_ptr<httplib::Client> probe = server.client();
        // Well before the held connections' 5 s read timeout ends (which would free threads).
        probe->set_connection_timeout(3, 0);
        probe->set_read_timeout(3, 0);
        const auto start = std::chrono::steady_clock::now();
        const httplib::Result r = probe->Get(path);
        std::printf("%s answered in %.0f ms\n", path,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        ASSERT_TRUE(r) << path << ": " << httplib::to_string(r.error());
        EXPECT_EQ(r->status, 200) << path;
    }
}

TEST(PromText, ReadsSamplesLabelsEscapesAndHistograms) {
    const std::string text =
        "# HELP a_total Things.\n"
        "# TYPE a_total counter\n"
        "a_total{x=\"1\",y=\"q\\\"uo\\\\te\\n\"} 3\n"
        "a_total{x=\"2\"} 4.5 1700000000000\n"
        "  \n"
        "# a comment\n"
        "g NaN\n"
        "h_bucket{le=\"0.5\"} 1\r\n"
        "h_bucket{le=\"+Inf\"} 3\n"
        "h_sum 2.25\n"
        "h_count 3\n"
        "llamacpp:tokens_predicted_total 12\n";
    const PromText m = PromText::parse(text);
    EXPECT_EQ(m.type("a_total"), "counter");
    EXPECT_EQ(m.help("a_total"), "Things.");
    EXPECT_EQ(m.value("a_total", {{"x", "1"}}), 3.0);
    EXPECT_EQ(m.find("a_total", {{"x", "1"}}).front()->labels.at("y"), "q\"uo\\te\n");
    EXPECT_EQ(m.sum("a_total"), 7.5);
    EXPECT_TRUE(std::isnan(*m.value("g")));
    EXPECT_EQ(m.value("llamacpp:tokens_predicted_total"), 12.0);
    EXPECT_FALSE(m.value("missing"));
    const auto h = m.histogram("h");
    ASSERT_TRUE(h);
    ASSERT_EQ(h->buckets.size(), 2u);
    EXPECT_EQ(h->buckets[0], (std::pair<double, double>{0.5, 1}));
    EXPECT_TRUE(std::isinf(h->buckets[1].first));
    EXPECT_EQ(h->sum, 2.25);
    EXPECT_EQ(h->count, 3.0);
}

TEST(PromText, RejectsMalformedLines) {
    for (const char* bad : {"x{a=\"1\" 2\n", "x 1 2 3\n", "x{a=1} 2\n", "1x 2\n", "x\n", "x abc\n", "x{a=\"1\"\n"}) {
        EXPECT_THROW(PromText::parse(bad), server::PromParseError) << bad;
    }
}

TEST(PromText, NumbersAreWrittenAsPrometheusClientWritesThem) {
    EXPECT_EQ(server::prometheus_number(0), "0.0");
    EXPECT_EQ(server::prometheus_number(3), "3.0");
    EXPECT_EQ(server::prometheus_number(2560), "2560.0");
    EXPECT_EQ(server::prometheus_number(0.001), "0.001");
    EXPECT_EQ(server::prometheus_number(0.075), "0.075");
    EXPECT_EQ(server::prometheus_number(0.0001), "0.0001");
    EXPECT_EQ(server::prometheus_number(1e-5), "1e-05");
    EXPECT_EQ(server::prometheus_number(1e20), "1e+20");
    EXPECT_EQ(server::prometheus_number(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(server::prometheus_number(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(server::prometheus_number(std::nan("")), "NaN");
}

}  // namespace metrics_http_test
}  // namespace kvscope::test
