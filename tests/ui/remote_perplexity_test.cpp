// The perplexity tab attached to servers, over real loopback HTTP: a kvscope server started
// in-process scores the built-in sample as llama-perplexity does (5.1727 +/- 0.43788 for the
// embedded model at -c 128, the figure the embedded engine gives); a fake vLLM server (its
// /tokenize, its unstreamed completions with vLLM's prompt_logprobs) gets the chunks as token ids
// starting with its BOS and gives a perplexity computed here by hand; a response whose
// prompt_logprobs do not fit the chunk ends the run with that reason; a llama.cpp server is
// refused with why.

#include <httplib.h>

#include <QElapsedTimer>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/bridge/engine_hub.h"
#include "app/server/engine_loop.h"
#include "app/server/http_server.h"
#include "resources/embedded_model.h"
#include "tests/ui/local_server.h"
#include "tests/ui/qt_test_main.h"
#include "ui/perplexity_log.h"
#include "ui/perplexity_panel.h"
#include "ui/session.h"

namespace remote_perplexity_test {

using namespace kvscope;
using nlohmann::json;

EngineConfig testConfig() {
    EngineConfig c;
    c.num_kv_blocks = 256;
    c.num_threads = 1;
    return c;
}

// A server that answers as vLLM does, as far as the perplexity tab asks: /metrics with vLLM's
// names (how the workbench tells it), /v1/models, /tokenize (BOS 1, then a token per byte: 3 +
// the byte) and unstreamed /v1/completions whose prompt_logprobs give prompt token j a logprob of
// -j / 10 (j = its position in the chunk) and one alternative.
class FakeVllm {
public:
    FakeVllm() {
        m_server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(
                "vllm:num_requests_running{model_name=\"m\"} 0\n"
                "vllm:num_requests_waiting{model_name=\"m\"} 0\n",
                "text/plain; version=0.0.4");
        });
        m_server.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(json{{"data", {{{"id", "m"}, {"max_model_len", 64}}}}}.dump(), "application/json");
        });
        m_server.Post("/tokenize", [](const httplib::Request& req, httplib::Response& res) {
            const json body = json::parse(req.body);
            json tokens = json::array({1});
            for (const unsigned char c : body["prompt"].get<std::string>()) tokens.push_back(3 + int(c));
            res.set_content(json{{"count", tokens.size()}, {"max_model_len", 64}, {"tokens", tokens}}.dump(),
                            "application/json");
        });
        m_server.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
            const json body = json::parse(req.body);
            {
                std::lock_guard lock(m_mutex);
                m_bodies.push_back(body);
            }
            const std::vector<int> prompt = body["prompt"].get<std::vector<int>>();
            json scored = json::array({nullptr});
            for (std::size_t j = 1; j < prompt.size() - (m_short ? 1 : 0); ++j) {
                scored.push_back({{std::to_string(prompt[j]), {{"logprob", -double(j) / 10}, {"rank", 2}}},
                                  {"2", {{"logprob", -0.01}, {"rank", 1}, {"decoded_token", "x"}}}});
            }
            const json choice{{"index", 0}, {"text", "x"}, {"finish_reason", "length"}, {"prompt_logprobs", scored}};
            res.set_content(json{{"choices", {choice}}, {"usage", {{"prompt_tokens", prompt.size()}}}}.dump(),
                            "application/json");
        });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~FakeVllm() {
        m_server.stop();
        m_thread.join();
    }
    QString url() const { return QStringLiteral("http://127.0.0.1:%1").arg(m_port); }
    std::vector<json> bodies() {
        std::lock_guard lock(m_mutex);
        return m_bodies;
    }
    // Its prompt_logprobs one entry short of the prompt.
    void answerShort() { m_short = true; }

private:
    httplib::Server m_server;
    std::thread m_thread;
    int m_port = 0;
    std::mutex m_mutex;
    std::vector<json> m_bodies;
    std::atomic<bool> m_short{false};
};

class RemotePerplexityTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<ui::Session> m_session;
    std::unique_ptr<app::EngineHub> m_hub;
    std::unique_ptr<ui::PerplexityPanel> m_panel;

    bool attach(const QString& url) {
        QSignalSpy loaded(m_session.get(), &ui::Session::modelLoaded);
        m_session->attach({url, {}});
        return QTest::qWaitFor([&] { return loaded.count() > 0 && m_session->attached(); }, 10000);
    }

    QString cell(int row, int column) const {
        const QAbstractItemModel* model = m_panel->table()->model();
        return model->index(row, column).data().toString();
    }

private slots:
    void init() {
        m_session = std::make_unique<ui::Session>();
        m_hub = std::make_unique<app::EngineHub>(m_session.get());
        m_panel = std::make_unique<ui::PerplexityPanel>(m_session.get());
    }

    void cleanup() {
        m_panel.reset();
        m_hub.reset();
        m_session.reset();
    }

    void aKvscopeServerScoresTheSampleAsLlamaCpp() {
        test::LocalServer kvscopeServer(testConfig());
        server::EngineLoop& loop = kvscopeServer.loop;
        QVERIFY(attach(kvscopeServer.url()));
        QCOMPARE(m_session->model().remoteKind, QStringLiteral("kvscope"));

        QCOMPARE(m_panel->contextBox()->value(), 128);
        QVERIFY(m_panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return !m_panel->busy(); }, 60000));
        QVERIFY2(m_panel->statusText().contains("Final estimate: PPL = 5.172"), qPrintable(m_panel->statusText()));
        QVERIFY(std::abs(cell(0, ui::PerplexityLog::Ppl).toDouble() - 5.1727) < 5e-4);
        QVERIFY(std::abs(cell(0, ui::PerplexityLog::Error).toDouble() - 0.43788) < 5e-4);
        QCOMPARE(cell(0, ui::PerplexityLog::Scored), QString("441"));  // 7 chunks x 63 tokens
        QCOMPARE(cell(0, ui::PerplexityLog::Cache), QString("F32"));   // the server's /v1/models says it
        // The server ran the chunks and holds nothing afterwards.
        QVERIFY(QTest::qWaitFor(
            [&] {
                const auto s = loop.state();
                return s && s->engine.sequences.empty() && s->engine.metrics.request_success_length >= 7;
            },
            10000));
        m_hub.reset();  // detaches before the server goes
    }

    void aVllmServerGetsTokenIdsAndGivesPromptLogprobs() {
        FakeVllm fake;
        QVERIFY(attach(fake.url()));
        QCOMPARE(m_session->model().remoteKind, QStringLiteral("vLLM"));
        QVERIFY(m_panel->contextBox()->maximum() >= 8);
        QTemporaryDir dir;
        QFile text(dir.filePath("t.txt"));
        QVERIFY(text.open(QIODevice::WriteOnly));
        text.write("abcdefghijklmnopq");  // BOS + 17 bytes: two chunks of 8 (the rest left out)
        text.close();
        m_panel->fileEdit()->setText(text.fileName());
        m_panel->contextBox()->setValue(8);
        QVERIFY(m_panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return !m_panel->busy(); }, 20000));

        // Each chunk scores its second half: positions 5, 6 and 7, logprobs -0.5, -0.6, -0.7.
        const double nll = (0.5 + 0.6 + 0.7) / 3;
        QVERIFY2(m_panel->statusText().contains(QString("PPL = %1").arg(std::exp(nll), 0, 'f', 4)),
                 qPrintable(m_panel->statusText()));
        QCOMPARE(cell(0, ui::PerplexityLog::Scored), QString("6"));
        QCOMPARE(cell(0, ui::PerplexityLog::Cache), QString("(vLLM's)"));

        const std::vector<json> bodies = fake.bodies();
        QCOMPARE(bodies.size(), std::size_t(2));
        std::vector<std::vector<int>> prompts;
        for (const json& b : bodies) {
            QCOMPARE(b["model"], json("m"));
            QCOMPARE(b["prompt_logprobs"], json(0));
            QCOMPARE(b["stream"], json(false));  // vLLM refuses prompt_logprobs on a stream
            QCOMPARE(b["max_tokens"], json(1));
            prompts.push_back(b["prompt"].get<std::vector<int>>());
        }
        std::sort(prompts.begin(), prompts.end());
        // Chunk 2 is bytes 'h'..'o' with its first replaced by BOS, as llama-perplexity cuts them.
        QCOMPARE(prompts[0], (std::vector<int>{1, 3 + 'a', 3 + 'b', 3 + 'c', 3 + 'd', 3 + 'e', 3 + 'f', 3 + 'g'}));
        QCOMPARE(prompts[1], (std::vector<int>{1, 3 + 'i', 3 + 'j', 3 + 'k', 3 + 'l', 3 + 'm', 3 + 'n', 3 + 'o'}));

        // prompt_logprobs that do not fit the chunk end the run, saying so.
        fake.answerShort();
        QVERIFY(m_panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return !m_panel->busy(); }, 20000));
        QVERIFY2(m_panel->statusText().contains("prompt_logprobs should list 8 entries"),
                 qPrintable(m_panel->statusText()));
        QCOMPARE(m_session->perplexityLog()->records()[1].state, ui::PerplexityRecord::State::Failed);
    }

    // Leaving a server (here: closing the workbench) while it still tokenises a text does not wait
    // for it: the worker stops its /tokenize call.
    void leavingAServerDoesNotWaitForItsTokenizer() {
        std::atomic<bool> release{false};
        std::atomic<bool> asked{false};
        httplib::Server slow;
        slow.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("vllm:num_requests_running{model_name=\"m\"} 0\n", "text/plain; version=0.0.4");
        });
        slow.Post("/tokenize", [&](const httplib::Request&, httplib::Response& res) {
            asked = true;
            for (int i = 0; i < 600 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
            res.set_content(R"({"tokens": [1], "max_model_len": 64})", "application/json");
        });
        const int port = slow.bind_to_any_port("127.0.0.1");
        std::thread serving([&] { slow.listen_after_bind(); });
        QVERIFY(QTest::qWaitFor([&] { return slow.is_running(); }, 20000));
        QVERIFY(attach(QStringLiteral("http://127.0.0.1:%1").arg(port)));
        QVERIFY(m_panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return asked.load(); }, 10000));
        QElapsedTimer timer;
        timer.start();
        m_panel.reset();
        m_hub.reset();  // waits for the remote worker's thread, which waits for its tokenising
        const qint64 took = timer.elapsed();
        release = true;
        slow.stop();
        serving.join();
        QVERIFY2(took < 10000, qPrintable(QString("closing took %1 ms").arg(took)));  // each /tokenize is held 30 s
    }

    void aLlamaCppServerIsRefusedWithWhy() {
        httplib::Server fake;
        fake.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("llamacpp:prompt_tokens_total 1\n", "text/plain; version=0.0.4");
        });
        const int port = fake.bind_to_any_port("127.0.0.1");
        std::thread serving([&] { fake.listen_after_bind(); });
        QVERIFY(QTest::qWaitFor([&] { return fake.is_running(); }, 20000));
        QVERIFY(attach(QStringLiteral("http://127.0.0.1:%1").arg(port)));
        QVERIFY(m_panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return !m_panel->busy(); }, 10000));
        QVERIFY2(m_panel->statusText().contains("no prompt logprobs"), qPrintable(m_panel->statusText()));
        QCOMPARE(m_panel->table()->model()->rowCount(), 0);
        m_hub.reset();
        fake.stop();
        serving.join();
    }
};

}  // namespace remote_perplexity_test

KVSCOPE_QTEST_MAIN(remote_perplexity_test, RemotePerplexityTest)
#include "remote_perplexity_test.moc"
