// The bridge on a real QThread with the embedded model: load, submit, stream outputs and
// snapshots back through queued signals, abort, and a failed load that keeps the old model.

#include <QSignalSpy>
#include <QThread>
#include <QtTest>

#include "app/bridge/engine_worker.h"
#include "resources/embedded_model.h"

using kvscope::app::EngineWorker;

// Receives the worker's signals on the test's thread (queued), as the UI does, so that the
// spies below are only ever touched by this thread.
class Relay : public QObject {
    Q_OBJECT

public:
    explicit Relay(EngineWorker* worker) {
        connect(worker, &EngineWorker::modelLoaded, this, &Relay::modelLoaded, Qt::QueuedConnection);
        connect(worker, &EngineWorker::modelLoadFailed, this, &Relay::modelLoadFailed, Qt::QueuedConnection);
        connect(worker, &EngineWorker::requestAccepted, this, &Relay::requestAccepted, Qt::QueuedConnection);
        connect(worker, &EngineWorker::outputsReady, this, &Relay::outputsReady, Qt::QueuedConnection);
        connect(worker, &EngineWorker::snapshotReady, this, &Relay::snapshotReady, Qt::QueuedConnection);
    }

signals:
    void modelLoaded(const kvscope::ui::ModelSummary& summary);
    void modelLoadFailed(const QString& message);
    void requestAccepted(quint64 tag, qint64 requestId);
    void outputsReady(const QVector<kvscope::RequestOutput>& outputs);
    void snapshotReady(std::shared_ptr<const kvscope::EngineSnapshot> snapshot);
};

class EngineWorkerTest : public QObject {
    Q_OBJECT

private:
    // A signal can arrive before wait() would start: wait for the count instead.
    static bool waitFor(const QSignalSpy& spy, int count = 1, int ms = 10000) {
        return QTest::qWaitFor([&] { return spy.count() >= count; }, ms);
    }

    QThread m_thread;
    EngineWorker* m_worker = nullptr;
    Relay* m_relay = nullptr;

    template <class Fn>
    void call(Fn fn) {
        QMetaObject::invokeMethod(m_worker, fn, Qt::QueuedConnection);
    }

private slots:
    void initTestCase() {
        EngineWorker::registerMetaTypes();
        m_worker = new EngineWorker;
        m_relay = new Relay(m_worker);
        m_worker->moveToThread(&m_thread);
        connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
        m_thread.start();
        QSignalSpy loaded(m_relay, &Relay::modelLoaded);
        const QString name = QString::fromUtf8(kvscope::kEmbeddedModelName.data());
        call([w = m_worker, name] { w->loadModel(name, kvscope::EngineConfig{}); });
        QVERIFY(waitFor(loaded));
        const auto summary = loaded.at(0).at(0).value<kvscope::ui::ModelSummary>();
        QCOMPARE(summary.numLayers, 5);
        QVERIFY(summary.backend.startsWith("cpu"));
    }

    void cleanupTestCase() {
        m_thread.quit();
        m_thread.wait();
        delete m_relay;
    }

    void aRequestStreamsTheKnownGoodTokens() {
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        QSignalSpy snapshots(m_relay, &Relay::snapshotReady);
        kvscope::Request r;
        r.prompt = "Once upon a time";
        r.params.temperature = 0;
        r.params.max_tokens = 20;
        call([w = m_worker, r] { w->submit(77, r); });
        QVERIFY(waitFor(accepted));
        QCOMPARE(accepted.at(0).at(0).toULongLong(), 77u);
        const qint64 id = accepted.at(0).at(1).toLongLong();
        std::vector<std::int32_t> tokens;
        bool finished = false;
        for (int i = 0; i < 200 && !finished; ++i) {
            if (!waitFor(outputs)) break;
            while (!outputs.isEmpty()) {
                for (const auto& out : outputs.takeFirst().at(0).value<QVector<kvscope::RequestOutput>>()) {
                    if (out.id != id) continue;
                    for (const auto& s : out.samples)
                        tokens.insert(tokens.end(), s.new_token_ids.begin(), s.new_token_ids.end());
                    finished = finished || out.finished;
                }
            }
        }
        QVERIFY(finished);
        QCOMPARE(tokens, (std::vector<std::int32_t>{432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                                    426, 338, 401, 396, 267, 337, 410, 408, 419, 292}));
        // The snapshot sent when the engine went idle counts all 20 tokens and holds no block.
        auto last = [&] {
            return snapshots.isEmpty() ? nullptr
                                       : snapshots.last().at(0).value<std::shared_ptr<const kvscope::EngineSnapshot>>();
        };
        QTRY_VERIFY(last() && last()->metrics.generation_tokens == 20);
        QCOMPARE(last()->kv.stats.num_used_blocks, 0);
        QVERIFY(last()->kv.stats.num_cached_free_blocks > 0);
    }

    void aBadModelIsRejectedAndTheOldOneKeepsServing() {
        QSignalSpy failed(m_relay, &Relay::modelLoadFailed);
        call([w = m_worker] { w->loadModel("/nonexistent.gguf", kvscope::EngineConfig{}); });
        QVERIFY(waitFor(failed));
        QVERIFY(failed.at(0).at(0).toString().contains("/nonexistent.gguf: cannot open"));
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        kvscope::Request r;
        r.prompt = "Lily";
        r.params.max_tokens = 2;
        call([w = m_worker, r] { w->submit(1, r); });
        QVERIFY(waitFor(accepted));
    }

    void abortEndsARequestWithAbort() {
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        kvscope::Request r;
        r.prompt = "Once upon a time";
        r.params.max_tokens = 100000;
        r.params.ignore_eos = true;
        call([w = m_worker, r] { w->submit(2, r); });
        QVERIFY(waitFor(accepted));
        const qint64 id = accepted.at(0).at(1).toLongLong();
        call([w = m_worker, id] { w->abortRequest(id); });
        bool aborted = false;
        for (int i = 0; i < 1000 && !aborted; ++i) {
            if (!waitFor(outputs)) break;
            while (!outputs.isEmpty()) {
                for (const auto& out : outputs.takeFirst().at(0).value<QVector<kvscope::RequestOutput>>()) {
                    if (out.id == id && out.finished) {
                        aborted = !out.samples.empty() && out.samples[0].finish_reason == kvscope::FinishReason::abort;
                    }
                }
            }
        }
        QVERIFY(aborted);
    }
};

QTEST_MAIN(EngineWorkerTest)
#include "engine_worker_test.moc"
