// The workbench attached to servers over real loopback HTTP, and serving its own engine: a
// kvscope server started in-process (app/server, the embedded model, an ephemeral port) gives
// the same greedy chat tokens as the embedded engine, its block state reaches the inspector's
// snapshots and its /metrics the charts; a minimal llama.cpp-style /metrics endpoint fills the
// charts (and the inspector says why it shows no blocks); an unreachable URL fails at once with a
// message; the Serve switch runs HTTP completions through the workbench's engine, logged in the
// session, and stopping it aborts a request in flight and frees its blocks.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <qcustomplot.h>
#include <QApplication>
#include <QDialog>
#include <QJsonArray>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QUrl>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "app/bridge/engine_hub.h"
#include "app/bridge/remote_metrics.h"
#include "app/server/engine_loop.h"
#include "app/server/http_server.h"
#include "resources/embedded_model.h"
#include "tests/ui/local_server.h"
#include "tests/ui/qt_test_main.h"
#include "ui/batch_panel.h"
#include "ui/batch_run.h"
#include "ui/batch_workload.h"
#include "ui/charts_panel.h"
#include "ui/chat_panel.h"
#include "ui/inspector_panel.h"
#include "ui/main_window.h"
#include "ui/remote_controls.h"
#include "ui/request_listener.h"
#include "ui/request_log.h"
#include "ui/session.h"
#include "ui/session_export.h"
#include "ui/session_recorder.h"

namespace remote_attach_test {

using namespace kvscope;

EngineConfig testConfig() {
    EngineConfig c;
    c.num_kv_blocks = 256;
    c.num_threads = 1;
    return c;
}

class Collector : public QObject, public ui::RequestListener {
public:
    std::vector<std::int32_t> tokens;
    std::vector<SampleResult> scores;  // when the request asked for logprobs
    std::string text;
    RequestTimings timings;  // when finished
    bool finished = false;
    QString rejected;
    void requestAccepted(quint64, qint64) override {}
    void requestRejected(quint64, const QString& message) override {
        rejected = message;
        finished = true;
    }
    void requestOutput(const RequestOutput& out) override {
        for (const SequenceOutput& s : out.samples) {
            tokens.insert(tokens.end(), s.new_token_ids.begin(), s.new_token_ids.end());
            scores.insert(scores.end(), s.logprobs.begin(), s.logprobs.end());
            text += s.text_delta;
        }
        if (out.finished) {
            finished = true;
            timings = out.timings;
        }
    }
};

ui::ChatRequest greedyChat() {
    ui::ChatRequest chat;
    chat.messages = {{"user", "Once upon a time there was a little"}};
    chat.params.temperature = 0;
    chat.params.max_tokens = 24;
    return chat;
}

// A loopback port nothing listens on: bound (the kernel's choice) and held, never listened on, so
// a connection is refused and no other test's server can take the port while this one lives
// (closing it first would leave that race open: tests run in parallel).
class ClosedPort {
public:
    ClosedPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~ClosedPort() { ::close(fd_); }
    ClosedPort(const ClosedPort&) = delete;
    ClosedPort& operator=(const ClosedPort&) = delete;
    int port() const { return port_; }

private:
    int fd_;
    int port_ = 0;
};

// The value of the sample named exactly `name` (no labels given: any) in Prometheus text, read
// line by line: the tests' own reading, independent of server::PromText.
double metricValue(const std::string& text, const std::string& name) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name, 0) != 0 || (line[name.size()] != ' ' && line[name.size()] != '{')) continue;
        return std::stod(line.substr(line.rfind(' ') + 1));
    }
    return std::nan("");
}

// Waits for a batch run of `panel` to end.
bool runToEnd(ui::BatchPanel& panel) {
    return QTest::qWaitFor([&] { return panel.currentRun() && panel.currentRun()->isDone(); }, 60000);
}

class RemoteAttachTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<ui::Session> m_session;
    std::unique_ptr<app::EngineHub> m_hub;

    bool loadEmbedded() {
        QSignalSpy loaded(m_session.get(), &ui::Session::modelLoaded);
        ui::LoadRequest r;
        r.source = QString::fromUtf8(kEmbeddedModelName.data());
        r.config = testConfig();
        m_session->load(r);
        return QTest::qWaitFor([&] { return loaded.count() > 0; }, 20000);
    }

    std::vector<std::int32_t> runChat(Collector& c) {
        m_session->submitChat(greedyChat(), &c, QStringLiteral("chat test"));
        if (!QTest::qWaitFor([&] { return c.finished; }, 20000)) return {};
        return c.tokens;
    }

    // Attaches and waits for the answer: the URL attached to ("" when it failed) and the message.
    QPair<QString, QString> attach(const QString& url, const QString& key = {}) {
        QSignalSpy changed(m_session.get(), &ui::Session::attachChanged);
        m_session->attach({url, key});
        if (!QTest::qWaitFor([&] { return changed.count() > 0; }, 10000)) return {QString(), QStringLiteral("timeout")};
        return {changed.first().at(0).toString(), changed.first().at(1).toString()};
    }

    void detach() {
        QSignalSpy loaded(m_session.get(), &ui::Session::modelLoaded);
        m_session->detach();
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() > 0; }, 10000));
        QVERIFY(!m_session->attached());
        QVERIFY(m_session->model().remoteKind.isEmpty());
    }

private slots:
    void init() {
        m_session = std::make_unique<ui::Session>();
        m_hub = std::make_unique<app::EngineHub>(m_session.get());
        QVERIFY(loadEmbedded());
    }

    void cleanup() {
        m_hub.reset();
        m_session.reset();
    }

    void attachToKvscopeServer() {
        Collector local;
        const std::vector<std::int32_t> expected = runChat(local);
        QVERIFY(local.rejected.isEmpty());
        QVERIFY(expected.size() > 4);

        server::ServerOptions options;
        options.api_key = "sesame";
        test::LocalServer kvscopeServer(testConfig(), options);
        server::EngineLoop& loop = kvscopeServer.loop;
        const QString url = kvscopeServer.url();

        // Without the key: a clear refusal, still on the embedded engine.
        const auto refused = attach(url);
        QVERIFY(refused.first.isEmpty());
        QVERIFY2(refused.second.contains(QStringLiteral("API key")), qPrintable(refused.second));
        QVERIFY(!m_session->attached());

        QSignalSpy loaded(m_session.get(), &ui::Session::modelLoaded);
        const auto ok = attach(url, QStringLiteral("sesame"));
        QCOMPARE(ok.first, url);
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() > 0; }, 10000));
        QCOMPARE(m_session->model().remoteKind, QStringLiteral("kvscope"));
        QCOMPARE(m_session->model().numBlocks, 256);

        // The same greedy tokens over HTTP, and the server ends with the prompt's blocks cached.
        Collector remote;
        QCOMPARE(runChat(remote), expected);
        QCOMPARE(QString::fromStdString(remote.text), QString::fromStdString(local.text));

        // The inspector's snapshots follow the server's block state: block for block, once idle.
        const auto same = [&] {
            const std::optional<server::ServingState> s = loop.state();
            const auto seen = m_session->latestFull();
            if (!s || !seen || s->engine.kv.blocks.size() != seen->kv.blocks.size()) return false;
            if (s->engine.kv.stats.num_cached_free_blocks == 0) return false;
            for (std::size_t i = 0; i < s->engine.kv.blocks.size(); ++i) {
                const KvBlockInfo& a = s->engine.kv.blocks[i];
                const KvBlockInfo& b = seen->kv.blocks[i];
                if (a.id != b.id || a.state != b.state || a.hash != b.hash || a.num_tokens != b.num_tokens)
                    return false;
            }
            return seen->kv.stats.num_cached_free_blocks == s->engine.kv.stats.num_cached_free_blocks;
        };
        QVERIFY(QTest::qWaitFor(same, 10000));

        // The charts' samples carry the server's counters and its TTFT histogram from /metrics.
        const auto charted = [&] {
            const std::optional<server::ServingState> s = loop.state();
            const auto& samples = m_session->recorder()->samples();
            if (!s || samples.empty()) return false;
            const ui::MetricSample& last = samples.back();
            std::uint64_t ttft = 0;
            for (const std::uint64_t c : last.ttftCounts) ttft += c;
            return last.generationTokens == s->engine.metrics.generation_tokens &&
                   ttft == s->engine.metrics.time_to_first_token_seconds.count() && ttft == 1;
        };
        QVERIFY(QTest::qWaitFor(charted, 10000));
        // One time axis across the embedded engine and the server (the charts need it ascending).
        const auto& samples = m_session->recorder()->samples();
        QVERIFY(samples.front().epoch < samples.back().epoch);
        for (std::size_t i = 1; i < samples.size(); ++i) QVERIFY(samples[i - 1].timeS <= samples[i].timeS);

        // What a server cannot do is refused with a message, not waited for.
        QSignalSpy failed(m_session.get(), &ui::Session::modelLoadFailed);
        ui::LoadRequest r;
        r.source = QString::fromUtf8(kEmbeddedModelName.data());
        m_session->load(r);
        QVERIFY(QTest::qWaitFor([&] { return failed.count() > 0; }, 20000));
        QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("detach")));

        detach();
        Collector back;
        QCOMPARE(runChat(back), expected);
    }

    // Token probabilities in an attached kvscope server's chat: the server's vocabulary (GET
    // /v1/kv/vocabulary) is the embedded engine's, piece for piece, the chat panel offers them,
    // and a greedy chat's logprobs over HTTP (by token id) are the embedded engine's, bit for bit.
    void chatTokenProbabilitiesFromKvscopeServer() {
        ui::ChatPanel panel(m_session.get());
        QVERIFY(panel.probabilitiesBox()->isEnabled());
        ui::ChatRequest chat = greedyChat();
        chat.params.logprobs = 5;
        Collector local;
        m_session->submitChat(chat, &local, QStringLiteral("chat test"));
        QVERIFY(QTest::qWaitFor([&] { return local.finished; }, 20000));
        QCOMPARE(local.scores.size(), local.tokens.size());
        QVERIFY(local.tokens.size() > 4);
        const std::shared_ptr<const ui::TokenVocabulary> ours = m_session->model().vocabulary;
        QVERIFY(ours);

        test::LocalServer kvscopeServer(testConfig());
        const QString url = kvscopeServer.url();
        QSignalSpy loaded(m_session.get(), &ui::Session::modelLoaded);
        QCOMPARE(attach(url).first, url);
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() > 0; }, 10000));
        const std::shared_ptr<const ui::TokenVocabulary> theirs = m_session->model().vocabulary;
        QVERIFY(theirs && theirs != ours);
        QCOMPARE(theirs->size(), ours->size());
        for (std::int32_t id = 0; id < ours->size(); ++id) {
            QCOMPARE(theirs->piece(id), ours->piece(id));
            QCOMPARE(theirs->isSpecial(id), ours->isSpecial(id));
        }
        QVERIFY(panel.probabilitiesBox()->isEnabled());

        Collector remote;
        m_session->submitChat(chat, &remote, QStringLiteral("chat test"));
        QVERIFY(QTest::qWaitFor([&] { return remote.finished; }, 20000));
        QVERIFY2(remote.rejected.isEmpty(), qPrintable(remote.rejected));
        QCOMPARE(remote.tokens, local.tokens);
        QCOMPARE(remote.scores.size(), local.scores.size());
        for (std::size_t i = 0; i < local.scores.size(); ++i) {
            const SampleResult& a = local.scores[i];
            const SampleResult& b = remote.scores[i];
            QCOMPARE(b.token, a.token);
            QCOMPARE(b.logprob, a.logprob);
            QCOMPARE(b.rank, a.rank);  // greedy: 1, which the alternatives tell
            QCOMPARE(b.num_top_logprobs, 5);
            for (int k = 0; k < 5; ++k) {
                QCOMPARE(b.top_logprobs[std::size_t(k)].token, a.top_logprobs[std::size_t(k)].token);
                QCOMPARE(b.top_logprobs[std::size_t(k)].logprob, a.top_logprobs[std::size_t(k)].logprob);
            }
        }
        // The turn's line: tokens per second from the stream's own times, and the second time
        // the prompt's full blocks come from the server's prefix cache, as the server says.
        QCOMPARE(remote.timings.num_cached_tokens, 0);
        QVERIFY(remote.timings.decode_time > 0);
        QVERIFY(remote.timings.decode_time < remote.timings.e2e_latency);
        ui::ChatRequest longer = chat;
        longer.messages = {{"user",
                            "Once upon a time there was a little girl named Lily who loved to play in the "
                            "park with her big red ball"}};
        Collector first, again;
        m_session->submitChat(longer, &first, QStringLiteral("chat test"));
        QVERIFY(QTest::qWaitFor([&] { return first.finished; }, 20000));
        m_session->submitChat(longer, &again, QStringLiteral("chat test"));
        QVERIFY(QTest::qWaitFor([&] { return again.finished; }, 20000));
        QVERIFY(first.timings.num_prompt_tokens > 16);
        QCOMPARE(again.timings.num_prompt_tokens, first.timings.num_prompt_tokens);
        QCOMPARE(again.timings.num_cached_tokens, (first.timings.num_prompt_tokens - 1) / 16 * 16);
        detach();
    }

    void llamaCppMetricsFillCharts() {
        httplib::Server fake;
        fake.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(
                "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n"
                "# TYPE llamacpp:prompt_tokens_total counter\n"
                "llamacpp:prompt_tokens_total 1200\n"
                "# TYPE llamacpp:tokens_predicted_total counter\n"
                "llamacpp:tokens_predicted_total 345\n"
                "# TYPE llamacpp:kv_cache_usage_ratio gauge\n"
                "llamacpp:kv_cache_usage_ratio 0.25\n"
                "# TYPE llamacpp:requests_processing gauge\n"
                "llamacpp:requests_processing 2\n"
                "# TYPE llamacpp:requests_deferred gauge\n"
                "llamacpp:requests_deferred 1\n",
                "text/plain; version=0.0.4");
        });
        const int port = fake.bind_to_any_port("127.0.0.1");
        std::thread serving([&] { fake.listen_after_bind(); });
        QVERIFY(QTest::qWaitFor([&] { return fake.is_running(); }, 20000));

        ui::InspectorPanel inspector(m_session.get());
        QVERIFY(inspector.noticeText().isEmpty());
        const QString url = QStringLiteral("http://127.0.0.1:%1").arg(port);
        QCOMPARE(attach(url).first, url);
        QVERIFY(QTest::qWaitFor([&] { return m_session->model().remoteKind == QStringLiteral("llama.cpp"); }, 20000));
        QVERIFY2(inspector.noticeText().contains(QStringLiteral("not available from llama.cpp servers")),
                 qPrintable(inspector.noticeText()));

        const auto filled = [&] {
            const auto& samples = m_session->recorder()->samples();
            if (samples.empty()) return false;
            const ui::ChartPoint p = m_session->recorder()->point(samples.size() - 1);
            return samples.back().generationTokens == 345 && samples.back().promptTokens == 1200 && p.running == 2 &&
                   p.waiting == 1 && p.kvUsagePct == 25.0;
        };
        QVERIFY(QTest::qWaitFor(filled, 20000));
        detach();
        QVERIFY(inspector.noticeText().isEmpty());
        fake.stop();
        serving.join();
    }

    // A server that stops answering is a lasting state (the views show its last one), not only a
    // status-bar message the next message replaces; answering again ends it.
    void aServerThatStopsAnsweringIsShownAsSoUntilItAnswersAgain() {
        const auto metrics = [](const httplib::Request&, httplib::Response& res) {
            res.set_content("# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 2\n",
                            "text/plain; version=0.0.4");
        };
        auto fake = std::make_unique<httplib::Server>();
        fake->Get("/metrics", metrics);
        const int port = fake->bind_to_any_port("127.0.0.1");
        std::thread serving([&] { fake->listen_after_bind(); });
        QVERIFY(QTest::qWaitFor([&] { return fake->is_running(); }, 20000));
        ui::InspectorPanel inspector(m_session.get());
        const QString url = QStringLiteral("http://127.0.0.1:%1").arg(port);
        QCOMPARE(attach(url).first, url);
        QVERIFY(QTest::qWaitFor([&] { return m_session->model().remoteKind == QStringLiteral("llama.cpp"); }, 20000));
        QVERIFY(m_session->remoteProblem().isEmpty());

        fake->stop();
        serving.join();
        QVERIFY(QTest::qWaitFor([&] { return !m_session->remoteProblem().isEmpty(); }, 20000));
        QVERIFY2(m_session->remoteProblem().contains(QStringLiteral("cannot connect")),
                 qPrintable(m_session->remoteProblem()));
        QVERIFY2(inspector.noticeText().contains(url + QStringLiteral(" is not answering")),
                 qPrintable(inspector.noticeText()));
        QVERIFY(inspector.noticeText().contains(QStringLiteral("not available from llama.cpp servers")));

        fake = std::make_unique<httplib::Server>();
        fake->Get("/metrics", metrics);
        QVERIFY(fake->bind_to_port("127.0.0.1", port));
        std::thread again([&] { fake->listen_after_bind(); });
        QVERIFY(QTest::qWaitFor([&] { return m_session->remoteProblem().isEmpty(); }, 20000));
        QVERIFY(!inspector.noticeText().contains(QStringLiteral("not answering")));
        detach();
        fake->stop();
        again.join();
    }

    // vLLM's names: gauges, counters, the block count of cache_config_info, and TTFT followed
    // from one reading to the next (hand-computed bucket counts).
    void vllmMetricsAndLatencyFollowing() {
        const auto text = [](int fast, int slow) {
            return "vllm:num_requests_running{model_name=\"m\"} 3\n"
                   "vllm:num_requests_waiting{model_name=\"m\"} 4\n"
                   "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.5\n"
                   "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"2048\"} 1\n"
                   "vllm:generation_tokens_total{model_name=\"m\"} 99\n"
                   "vllm:prefix_cache_queries_total{model_name=\"m\"} 10\n"
                   "vllm:prefix_cache_hits_total{model_name=\"m\"} 4\n" +
                   [&] {
                       // vLLM's TTFT buckets: `fast` observations at 0.001 s, `slow` at 0.25 s.
                       const std::vector<double> bounds = EngineMetrics().time_to_first_token_seconds.bounds();
                       std::string out;
                       for (const double b : bounds) {
                           const int below = (b >= 0.001 ? fast : 0) + (b >= 0.25 ? slow : 0);
                           out += "vllm:time_to_first_token_seconds_bucket{le=\"" + std::to_string(b) + "\"} " +
                                  std::to_string(below) + "\n";
                       }
                       out +=
                           "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} " + std::to_string(fast + slow) + "\n";
                       out += "vllm:time_to_first_token_seconds_count " + std::to_string(fast + slow) + "\n";
                       out +=
                           "vllm:time_to_first_token_seconds_sum " + std::to_string(fast * 0.001 + slow * 0.25) + "\n";
                       return out;
                   }();
        };
        const server::PromText first = server::PromText::parse(text(5, 1));
        QVERIFY(app::metrics_kind(first) == app::ServerKind::Vllm);
        EngineSnapshot s = app::metrics_snapshot(first, app::ServerKind::Vllm);
        QCOMPARE(s.kv.stats.num_blocks, 2048);
        QCOMPARE(s.kv.stats.num_used_blocks, 1024);
        QCOMPARE(s.metrics.num_requests_running, 3);
        QCOMPARE(s.metrics.num_requests_waiting, 4);
        QCOMPARE(s.metrics.generation_tokens, std::int64_t(99));
        QCOMPARE(s.kv.stats.prefix_hit_rate(), 0.4);

        app::LatencyFollower follower;
        follower.update(first, s.metrics);  // the first reading brings what the server saw before it
        const Histogram& ttft = s.metrics.time_to_first_token_seconds;
        QCOMPARE(ttft.count(), std::uint64_t(6));
        QCOMPARE(ttft.counts()[0], std::uint64_t(5));  // le 0.001
        QCOMPARE(ttft.counts()[8], std::uint64_t(1));  // le 0.25
        QVERIFY(qAbs(ttft.sum() - (5 * 0.001 + 0.25)) < 1e-9);
        follower.update(server::PromText::parse(text(7, 4)), s.metrics);  // 2 fast and 3 slow more
        QCOMPARE(ttft.counts()[0], std::uint64_t(7));
        QCOMPARE(ttft.counts()[8], std::uint64_t(4));
        QCOMPARE(ttft.count(), std::uint64_t(11));
        QVERIFY(qAbs(ttft.sum() - (7 * 0.001 + 4 * 0.25)) < 1e-9);
        follower.update(server::PromText::parse(text(1, 0)), s.metrics);  // restarted: nothing added
        follower.update(server::PromText::parse(text(2, 0)), s.metrics);
        QCOMPARE(ttft.count(), std::uint64_t(12));
        QVERIFY(qAbs(ttft.sum() - (8 * 0.001 + 4 * 0.25)) < 1e-9);
    }

    // A kvscope server that served requests before the attach: the charts' first point is their
    // latency (the server's histograms: mean = sum / count, from the /metrics text), marked before
    // attach; /v1/models gives the vocabulary, so a synthetic batch of token-id prompts runs there
    // and every request finishes with the prompt and output lengths drawn.
    void syntheticBatchAndHistoryOnKvscopeServer() {
        test::LocalServer kvscopeServer(testConfig());
        server::EngineLoop& loop = kvscopeServer.loop;
        httplib::Client client("127.0.0.1", kvscopeServer.port());
        client.set_read_timeout(60, 0);
        for (const int n : {6, 12, 3}) {
            const nlohmann::json body{{"prompt", "Once upon a time"}, {"max_tokens", n}, {"temperature", 0}};
            const httplib::Result res = client.Post("/v1/completions", body.dump(), "application/json");
            QVERIFY(res && res->status == 200);
        }
        const httplib::Result before = client.Get("/metrics");
        QVERIFY(before && before->status == 200);
        const double ttftSum = metricValue(before->body, "vllm:time_to_first_token_seconds_sum");
        const double ttftCount = metricValue(before->body, "vllm:time_to_first_token_seconds_count");
        const double itlSum = metricValue(before->body, "vllm:inter_token_latency_seconds_sum");
        const double itlCount = metricValue(before->body, "vllm:inter_token_latency_seconds_count");
        QCOMPARE(ttftCount, 3.0);
        QCOMPARE(itlCount, 5.0 + 11.0 + 2.0);

        ui::ChartsPanel charts(m_session.get());
        ui::BatchPanel panel(m_session.get());
        const QString url = kvscopeServer.url();
        QCOMPARE(attach(url).first, url);
        QVERIFY(QTest::qWaitFor([&] { return m_session->model().remoteKind == QStringLiteral("kvscope"); }, 20000));
        const ui::ModelSummary& m = m_session->model();
        QCOMPARE(m.vocabSize, 512);
        QCOMPARE(m.firstTokenId, 259);
        QCOMPARE(m.bosId, 1);
        QCOMPARE(m.blockSize, 16);
        QCOMPARE(m.architecture, QStringLiteral("llama"));
        QVERIFY(!panel.findChild<QLabel*>(QStringLiteral("batchTextNote"))->isVisibleTo(&panel));

        const auto& samples = m_session->recorder()->samples();
        const auto firstRemote = [&]() -> std::ptrdiff_t {
            for (std::size_t i = 0; i < samples.size(); ++i) {
                if (samples[i].beforeAttach) return std::ptrdiff_t(i);
            }
            return -1;
        };
        QVERIFY(QTest::qWaitFor([&] { return firstRemote() >= 0; }, 20000));
        const std::size_t h = std::size_t(firstRemote());
        const ui::ChartPoint history = m_session->recorder()->point(h);
        QVERIFY(history.beforeAttach);
        QVERIFY2(qAbs(history.ttftMeanMs - ttftSum / ttftCount * 1000.0) < 1e-9,
                 qPrintable(QString::number(history.ttftMeanMs)));
        QVERIFY(qAbs(history.itlMeanMs - itlSum / itlCount * 1000.0) < 1e-9);
        QVERIFY(history.ttftP50Ms > 0 && history.ttftP50Ms <= history.ttftP99Ms);
        // The chart draws that point: the first of the TTFT mean series at the attach.
        charts.replotNow();
        QCPGraph* mean = charts.series(QStringLiteral("5/TTFT mean"));
        QVERIFY(mean);
        const auto at = mean->data()->findBegin(samples[h].timeS, false);
        QVERIFY(at != mean->data()->constEnd());
        QCOMPARE(at->key, samples[h].timeS);
        QCOMPARE(at->value, history.ttftMeanMs);
        QVERIFY(std::isnan((at + 1)->value));  // not joined to the windowed points that follow
        // No later point counts the history again: in the seconds after the attach, nothing new.
        QVERIFY(QTest::qWaitFor([&] { return samples.size() > h + 2; }, 20000));
        QVERIFY(std::isnan(m_session->recorder()->point(h + 2).ttftMeanMs));
        // The export says which sample holds the history.
        const QJsonArray exported = ui::sessionJson(*m_session)["time_series"].toArray();
        QVERIFY(exported.size() > qsizetype(h) + 2);
        QCOMPARE(exported[qsizetype(h)].toObject()["before_attach"].toDouble(), 1.0);
        QCOMPARE(exported[qsizetype(h) + 1].toObject()["before_attach"].toDouble(), 0.0);

        // A synthetic batch of token-id prompts on the server, every request finished.
        WorkloadSpec spec;
        spec.num_requests = 12;
        spec.prompt_len = LengthDistribution::parse("uniform:16-40", "prompt");
        spec.output_len = LengthDistribution::parse("uniform:2-8", "output");
        spec.shared_prefix_fraction = 0.5;
        spec.seed = 7;
        const std::optional<server::ServingState> start = loop.state();
        QVERIFY(panel.startSynthetic(spec));
        QVERIFY(runToEnd(panel));
        const ui::BatchRun& run = *panel.currentRun();
        QCOMPARE(run.finished(), 12);
        QCOMPARE(run.rejected(), 0);
        QVERIFY2(run.lastError().isEmpty(), qPrintable(run.lastError()));
        // Oracle: the same workload drawn here, from the vocabulary the server published.
        QList<int> wantPrompt, wantOutput, gotPrompt, gotOutput;
        std::int64_t outputTokens = 0;
        for (const ui::BatchItem& item : ui::syntheticBatch(spec, 512, 259, 1, 0.8)) {
            wantPrompt << int(item.request.prompt_token_ids.size());
            wantOutput << item.request.params.max_tokens;
            outputTokens += item.request.params.max_tokens;
        }
        for (const ui::RequestRecord& r : m_session->requestLog()->records()) {
            if (r.source != run.source()) continue;
            QCOMPARE(r.state, ui::RequestState::Finished);
            gotPrompt << r.promptTokens.value_or(-1);
            gotOutput << r.outputTokens;
        }
        std::sort(wantPrompt.begin(), wantPrompt.end());
        std::sort(gotPrompt.begin(), gotPrompt.end());
        std::sort(wantOutput.begin(), wantOutput.end());
        std::sort(gotOutput.begin(), gotOutput.end());
        QCOMPARE(gotPrompt, wantPrompt);
        QCOMPARE(gotOutput, wantOutput);
        QCOMPARE(loop.state()->engine.metrics.generation_tokens - start->engine.metrics.generation_tokens,
                 outputTokens);

        // Later points take the new observations only: over a window reaching back past the
        // attach, the mean of what the server added since (its /metrics, before and after).
        const httplib::Result after = client.Get("/metrics");
        QVERIFY(after && after->status == 200);
        const double newSum = metricValue(after->body, "vllm:time_to_first_token_seconds_sum") - ttftSum;
        const double newCount = metricValue(after->body, "vllm:time_to_first_token_seconds_count") - ttftCount;
        QCOMPARE(newCount, 12.0);
        QVERIFY(QTest::qWaitFor(
            [&] {
                std::uint64_t n = 0;
                for (const std::uint64_t c : samples.back().ttftCounts) n += c;
                return n == std::uint64_t(ttftCount + newCount);
            },
            20000));
        const ui::ChartPoint last = m_session->recorder()->point(samples.size() - 1, ui::ChartWindows{1.0, 1e9});
        QVERIFY(!last.beforeAttach);
        QVERIFY2(qAbs(last.ttftMeanMs - newSum / newCount * 1000.0) < 1e-6,
                 qPrintable(QStringLiteral("%1 vs %2").arg(last.ttftMeanMs).arg(newSum / newCount * 1000.0)));
        detach();
    }

    // A batch row's click selects, in the inspector, the server's own request serving it (its id
    // comes with the response: X-Kvscope-Request-Ids), though the row shows the workbench's id.
    // A request of 1900 tokens is held long enough to click; sent again if it finished first.
    void aBatchRowFocusesTheServersRequestInTheInspector() {
        test::LocalServer kvscopeServer(testConfig());
        ui::BatchPanel panel(m_session.get());
        ui::InspectorPanel inspector(m_session.get());
        panel.resize(900, 600);
        panel.show();
        const QString url = kvscopeServer.url();
        QCOMPARE(attach(url).first, url);
        QVERIFY(QTest::qWaitFor([&] { return m_session->model().remoteKind == QStringLiteral("kvscope"); }, 20000));
        auto* table = panel.findChild<QTableView*>(QStringLiteral("batchTable"));
        auto* requests = inspector.findChild<QListWidget*>(QStringLiteral("inspectorRequests"));
        QVERIFY(table && requests);

        WorkloadSpec spec;
        spec.num_requests = 1;
        spec.prompt_len = LengthDistribution::parse("16", "prompt");
        spec.output_len = LengthDistribution::parse("1900", "output");
        bool clicked = false;
        for (int attempt = 0; attempt < 3 && !clicked; ++attempt) {
            if (panel.currentRun() && !panel.currentRun()->isDone()) panel.cancel();
            spec.seed = std::uint64_t(attempt + 1);
            QVERIFY(panel.startSynthetic(spec));
            // The server's request, listed by the inspector from the server's snapshots.
            QVERIFY(QTest::qWaitFor([&] { return requests->count() == 1 || panel.currentRun()->isDone(); }, 20000));
            if (requests->count() != 1) continue;
            const qint64 served = requests->item(0)->data(Qt::UserRole).toLongLong();
            QVERIFY(!requests->item(0)->isSelected());
            const QModelIndex idCell = table->model()->index(0, ui::RequestLog::Id);
            QVERIFY(idCell.isValid());
            const qint64 local = idCell.data().toLongLong();
            QVERIFY2(local != served, "the row shows the workbench's own id");
            QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, table->visualRect(idCell).center());
            if (requests->count() != 1) continue;  // it finished meanwhile
            QCOMPARE(requests->item(0)->data(Qt::UserRole).toLongLong(), served);
            QVERIFY(requests->item(0)->isSelected());
            clicked = true;
        }
        QVERIFY2(clicked, "three requests of 1900 tokens all finished before their row could be clicked");
        panel.cancel();
        QVERIFY(runToEnd(panel));
        detach();
    }

    // A vLLM-like server publishes no vocabulary: the batch panel says so, and a synthetic batch
    // goes as text prompts of words (one per drawn token), each request finishing.
    void syntheticBatchAsTextWhereNoVocabulary() {
        std::mutex mutex;
        std::vector<nlohmann::json> prompts;
        httplib::Server fake;
        fake.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("vllm:num_requests_running{model_name=\"m\"} 0\n", "text/plain; version=0.0.4");
        });
        fake.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"({"object":"list","data":[{"id":"m","object":"model","max_model_len":2048}]})",
                            "application/json");
        });
        fake.Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
            const nlohmann::json body = nlohmann::json::parse(req.body);
            {
                std::lock_guard lock(mutex);
                prompts.push_back(body["prompt"]);
            }
            const int n = body["max_tokens"];
            std::string events;
            for (int i = 0; i < n; ++i) {
                const nlohmann::json chunk{
                    {"choices",
                     {{{"index", 0},
                       {"text", " x"},
                       {"token_ids", {7}},
                       {"finish_reason", i + 1 == n ? nlohmann::json("length") : nlohmann::json()}}}}};
                events += "data: " + chunk.dump() + "\n\n";
            }
            events += "data: [DONE]\n\n";
            res.set_content(events, "text/event-stream");
        });
        const int port = fake.bind_to_any_port("127.0.0.1");
        std::thread serving([&] { fake.listen_after_bind(); });
        QVERIFY(QTest::qWaitFor([&] { return fake.is_running(); }, 20000));

        ui::BatchPanel panel(m_session.get());
        const QString url = QStringLiteral("http://127.0.0.1:%1").arg(port);
        QCOMPARE(attach(url).first, url);
        QVERIFY(QTest::qWaitFor([&] { return m_session->model().remoteKind == QStringLiteral("vLLM"); }, 20000));
        QCOMPARE(m_session->model().vocabSize, 0);
        QVERIFY(!m_session->model().vocabulary);  // the chat shows text only
        auto* note = panel.findChild<QLabel*>(QStringLiteral("batchTextNote"));
        QVERIFY(note->isVisibleTo(&panel));
        QVERIFY2(note->text().contains(QStringLiteral("does not publish its vocabulary")), qPrintable(note->text()));

        WorkloadSpec spec;
        spec.num_requests = 5;
        spec.prompt_len = LengthDistribution::parse("10", "prompt");
        spec.output_len = LengthDistribution::parse("3", "output");
        QVERIFY(panel.startSynthetic(spec));
        QVERIFY(runToEnd(panel));
        QCOMPARE(panel.currentRun()->finished(), 5);
        QVERIFY2(panel.currentRun()->lastError().isEmpty(), qPrintable(panel.currentRun()->lastError()));
        {
            std::lock_guard lock(mutex);
            QCOMPARE(prompts.size(), std::size_t(5));
            for (const nlohmann::json& p : prompts) {
                QVERIFY(p.is_string());
                QCOMPARE(QString::fromStdString(p.get<std::string>()).split(QLatin1Char(' ')).size(), 10);
            }
        }
        detach();
        QVERIFY(!note->isVisibleTo(&panel));
        fake.stop();
        serving.join();
    }

    void unreachableServerFailsWithMessage() {
        const ClosedPort closed;
        QVERIFY(closed.port() > 0);
        const QString url = QStringLiteral("http://127.0.0.1:%1").arg(closed.port());
        const auto failed = attach(url);
        QVERIFY(failed.first.isEmpty());
        QVERIFY2(failed.second.contains(url) && failed.second.contains(QStringLiteral("cannot connect")),
                 qPrintable(failed.second));
        const auto bad = attach(QStringLiteral("https://example.invalid"));
        QVERIFY(bad.first.isEmpty());
        QVERIFY2(bad.second.contains(QStringLiteral("https is not supported")), qPrintable(bad.second));
        QVERIFY(!m_session->attached());
        Collector still;  // the embedded engine still answers
        QVERIFY(!runChat(still).empty());
    }

    // Serve asked from its dialog at an address that cannot be had: a message box says why (it
    // was a status-bar line only), and the switch stays off.
    void aServeThatCannotListenSaysSoInAMessageBox() {
        QTemporaryDir dir;
        QSettings store(dir.filePath(QStringLiteral("s.ini")), QSettings::IniFormat);
        ui::MainWindow window(m_session.get(), &store);
        auto* controls = window.findChild<ui::RemoteControls*>();
        QVERIFY(controls);
        ClosedPort taken;  // bound, so that nobody else can listen on it
        QTimer::singleShot(0, [&] {
            auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            QVERIFY(dialog);
            dialog->findChild<QSpinBox*>()->setValue(taken.port());
            dialog->accept();
        });
        controls->serveAction()->trigger();  // the dialog's exec() returns when the timer accepts it
        QMessageBox* box = nullptr;
        QVERIFY(QTest::qWaitFor(
            [&] { return (box = window.findChild<QMessageBox*>(QStringLiteral("remoteProblem"))) != nullptr; }, 20000));
        QVERIFY2(box->text().contains(QStringLiteral("cannot listen on")), qPrintable(box->text()));
        QVERIFY2(!box->text().contains(QStringLiteral("--port")), qPrintable(box->text()));
        QVERIFY(!controls->serveAction()->isChecked());
        QVERIFY(!m_session->serving());
        box->close();
    }

    void serveSwitchRunsHttpOnTheWorkbenchEngine() {
        QTemporaryDir dir;
        QSettings store(dir.filePath(QStringLiteral("s.ini")), QSettings::IniFormat);
        ui::MainWindow window(m_session.get(), &store);
        auto* controls = window.findChild<ui::RemoteControls*>();
        QVERIFY(controls && controls->serveAction()->isCheckable() && !controls->serveAction()->isChecked());
        QVERIFY(controls->statusText().isEmpty());

        QSignalSpy serving(m_session.get(), &ui::Session::servingChanged);
        ui::ServeRequest request;
        request.port = 0;  // any free port
        m_session->serve(request);
        QVERIFY(QTest::qWaitFor([&] { return serving.count() > 0; }, 20000));
        QVERIFY2(m_session->serving(), qPrintable(serving.first().at(2).toString()));
        const QUrl address(m_session->servingAddress());
        QVERIFY(address.port() > 0);
        QVERIFY(controls->serveAction()->isChecked());
        QCOMPARE(controls->statusText(), QStringLiteral("● serving on %1").arg(m_session->servingAddress()));

        httplib::Client client("127.0.0.1", address.port());
        client.set_read_timeout(60, 0);
        const nlohmann::json body{{"prompt", "Once upon a time"}, {"max_tokens", 5}, {"temperature", 0}};
        const httplib::Result res = client.Post("/v1/completions", body.dump(), "application/json");
        QVERIFY(res);
        QCOMPARE(res->status, 200);
        const std::string id = nlohmann::json::parse(res->body)["id"];
        const auto logged = [&](ui::RequestState state) -> const ui::RequestRecord* {
            for (const ui::RequestRecord& r : m_session->requestLog()->records()) {
                if (r.source.startsWith(QStringLiteral("http cmpl-")) && r.state == state) return &r;
            }
            return nullptr;
        };
        QVERIFY(QTest::qWaitFor([&] { return logged(ui::RequestState::Finished) != nullptr; }, 20000));
        QCOMPARE(logged(ui::RequestState::Finished)->source, QStringLiteral("http ") + QString::fromStdString(id));
        QCOMPARE(logged(ui::RequestState::Finished)->outputTokens, 5);

        // A long stream held in flight (the engine paused while it holds blocks), then Serve off:
        // the request is aborted and its blocks freed. On a fast machine (or one so loaded that
        // the pause waits its turn) the tokens can all come before the pause reaches the engine:
        // then the stream is sent again. 1900 tokens, nearly the context: 400 were seen to finish.
        struct Joined {
            std::thread thread;
            ~Joined() {
                if (thread.joinable()) thread.join();
            }
        } longStream;
        const auto count = [&](ui::RequestState state) {
            return std::count_if(m_session->requestLog()->records().begin(), m_session->requestLog()->records().end(),
                                 [&](const ui::RequestRecord& r) {
                                     return r.source.startsWith(QStringLiteral("http ")) && r.state == state;
                                 });
        };
        bool held = false;
        for (int attempt = 0; attempt < 5 && !held; ++attempt) {
            if (longStream.thread.joinable()) longStream.thread.join();
            const auto finishedBefore = count(ui::RequestState::Finished);
            longStream.thread = std::thread([port = address.port()] {
                httplib::Client c("127.0.0.1", port);
                c.set_read_timeout(60, 0);
                const nlohmann::json b{
                    {"prompt", "Once upon a time"}, {"max_tokens", 1900}, {"ignore_eos", true}, {"stream", true}};
                c.Post("/v1/completions", b.dump(), "application/json");
            });
            QVERIFY(QTest::qWaitFor(
                [&] {
                    const auto s = m_session->latest();
                    return (s && s->kv.stats.num_used_blocks > 0) || count(ui::RequestState::Finished) > finishedBefore;
                },
                10000));
            m_session->setPaused(true);
            QVERIFY(QTest::qWaitFor([&] { return m_session->paused(); }, 20000));
            held = m_session->latest()->kv.stats.num_used_blocks > 0 && logged(ui::RequestState::Running) != nullptr;
            if (!held) {
                m_session->setPaused(false);
                QVERIFY(QTest::qWaitFor([&] { return !m_session->paused(); }, 20000));
            }
        }
        QVERIFY2(held, "five streams of 1900 tokens all finished before the engine paused");
        serving.clear();
        m_session->stopServing();
        QVERIFY(QTest::qWaitFor([&] { return serving.count() > 0; }, 10000));
        QVERIFY(!m_session->serving());
        QVERIFY(!controls->serveAction()->isChecked());
        QVERIFY(controls->statusText().isEmpty());
        longStream.thread.join();
        m_session->setPaused(false);
        QVERIFY(QTest::qWaitFor(
            [&] {
                const auto s = m_session->latest();
                return s && s->kv.stats.num_used_blocks == 0 && logged(ui::RequestState::Aborted) != nullptr;
            },
            10000));
        httplib::Client after("127.0.0.1", address.port());
        after.set_connection_timeout(1, 0);
        QVERIFY(!after.Get("/health"));  // nothing listens any more
    }
};

}  // namespace remote_attach_test

KVSCOPE_QTEST_MAIN(remote_attach_test, RemoteAttachTest)
#include "remote_attach_test.moc"
