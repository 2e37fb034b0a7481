// The bridge on a real QThread with the embedded model: load (with progress, and re-quantised),
// submit, chat through the template, stream outputs and snapshots back through queued signals,
// pause and resume, abort, reset the prefix cache, a block's tokens, a model file's header, and
// failed loads (a missing file, a file cut off half-way, a model that loads but whose KV cache
// cannot be made) that keep the old model serving, its running request included.

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include "app/bridge/engine_worker.h"
#include "resources/embedded_model.h"
#include "tests/ui/qt_test_main.h"

namespace engine_worker_test {

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
        connect(worker, &EngineWorker::requestRejected, this, &Relay::requestRejected, Qt::QueuedConnection);
        connect(worker, &EngineWorker::loadProgress, this, &Relay::loadProgress, Qt::QueuedConnection);
        connect(worker, &EngineWorker::pausedChanged, this, &Relay::pausedChanged, Qt::QueuedConnection);
        connect(worker, &EngineWorker::prefixCacheReset, this, &Relay::prefixCacheReset, Qt::QueuedConnection);
        connect(worker, &EngineWorker::blockTokensReady, this, &Relay::blockTokensReady, Qt::QueuedConnection);
        connect(worker, &EngineWorker::modelInspected, this, &Relay::modelInspected, Qt::QueuedConnection);
    }

signals:
    void modelLoaded(const kvscope::ui::ModelSummary& summary);
    void modelLoadFailed(const QString& message);
    void requestAccepted(quint64 tag, qint64 requestId);
    void requestRejected(quint64 tag, const QString& message);
    void outputsReady(const QVector<kvscope::RequestOutput>& outputs);
    void snapshotReady(std::shared_ptr<const kvscope::EngineSnapshot> snapshot, double timeS);
    void loadProgress(double fraction, const QString& stage);
    void pausedChanged(bool paused);
    void prefixCacheReset(bool done, const QString& message);
    void blockTokensReady(const kvscope::ui::BlockTokens& tokens);
    void modelInspected(const kvscope::ui::ModelFileInfo& info);
};

using Snapshot = std::shared_ptr<const kvscope::EngineSnapshot>;

// A request that runs until it is aborted (its context would end it long after any test).
kvscope::Request endless() {
    kvscope::Request r;
    r.prompt = "Once upon a time";
    r.params.max_tokens = 100000;
    r.params.ignore_eos = true;
    return r;
}

// Whether the outputsReady signals in `outputs` hold request `id`'s end, by abort.
bool endedByAbort(const QSignalSpy& outputs, qint64 id) {
    for (const QList<QVariant>& args : outputs) {
        for (const kvscope::RequestOutput& out : args.at(0).value<QVector<kvscope::RequestOutput>>()) {
            if (out.id == id && out.finished && !out.samples.empty() &&
                out.samples[0].finish_reason == kvscope::FinishReason::abort) {
                return true;
            }
        }
    }
    return false;
}

kvscope::ui::LoadRequest embeddedLoad() {
    kvscope::ui::LoadRequest r;
    r.source = QString::fromUtf8(kvscope::kEmbeddedModelName.data());
    return r;
}

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
        QSignalSpy progress(m_relay, &Relay::loadProgress);
        call([w = m_worker] { w->loadModel(embeddedLoad()); });
        QVERIFY(waitFor(loaded));
        const auto summary = loaded.at(0).at(0).value<kvscope::ui::ModelSummary>();
        QCOMPARE(summary.numLayers, 5);
        QVERIFY(summary.backend.startsWith("cpu"));
        QCOMPARE(summary.name, QString("stories260K"));
        QCOMPARE(summary.vocabSize, 512);
        QCOMPARE(summary.bosId, 1);
        QCOMPARE(summary.firstTokenId, 259);  // after <unk>, <s>, </s> and the 256 byte tokens
        QCOMPARE(summary.chatTemplate, QString("plain"));
        QVERIFY(progress.count() >= 2);
        QVERIFY(progress.last().at(0).toDouble() > 0.9);
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
        auto last = [&] { return snapshots.isEmpty() ? nullptr : snapshots.last().at(0).value<Snapshot>(); };
        QTRY_VERIFY(last() && last()->metrics.generation_tokens == 20);
        QCOMPARE(last()->kv.stats.num_used_blocks, 0);
        QVERIFY(last()->kv.stats.num_cached_free_blocks > 0);
        // The snapshot sent on going idle is a full one (idle heartbeats after it carry counters only).
        Snapshot idle;
        for (const auto& args : snapshots) {
            const auto s = args.at(0).value<Snapshot>();
            if (s->detail == kvscope::SnapshotDetail::Full && s->metrics.generation_tokens == 20) idle = s;
        }
        QVERIFY(idle);
        QCOMPARE(idle->kv.stats.num_used_blocks, 0);
        QVERIFY(snapshots.last().at(1).toDouble() >= snapshots.first().at(1).toDouble());
    }

    void anIdleEngineStillSendsCountersSoRatesFallToZero() {
        QSignalSpy snapshots(m_relay, &Relay::snapshotReady);
        QVERIFY(QTest::qWaitFor(
            [&] {
                return !snapshots.isEmpty() &&
                       snapshots.last().at(0).value<Snapshot>()->detail == kvscope::SnapshotDetail::CountersOnly;
            },
            5000));
        const auto s = snapshots.last().at(0).value<Snapshot>();
        QCOMPARE(s->metrics.num_requests_running, 0);
        QCOMPARE(s->metrics.generation_tokens, 20);
    }

    void aBlockAnswersWithTheTokensItHolds() {
        // After the request above, block 0 holds the prompt's first 16 tokens, cached.
        QSignalSpy tokens(m_relay, &Relay::blockTokensReady);
        call([w = m_worker] { w->requestBlockTokens(0); });
        QVERIFY(waitFor(tokens));
        const auto answer = tokens.at(0).at(0).value<kvscope::ui::BlockTokens>();
        QCOMPARE(answer.blockId, 0);
        QCOMPARE(int(answer.tokens.size()), 16);
        QCOMPARE(answer.tokens[0], 1);  // BOS
        QCOMPARE(answer.pieces.size(), 16);
        QCOMPARE(answer.pieces.mid(1, 4).join(""), QString(" Once upon a time"));
    }

    void aChatTurnIsRenderedWithTheTemplateAndStreams() {
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        kvscope::ui::ChatRequest chat;
        chat.messages = {{"user", "Once upon a time"}};
        chat.params.temperature = 0;
        chat.params.max_tokens = 20;
        call([w = m_worker, chat] { w->submitChat(5, chat); });
        QVERIFY(waitFor(accepted));
        const qint64 id = accepted.at(0).at(1).toLongLong();
        std::vector<std::int32_t> tokens;
        QVERIFY(QTest::qWaitFor(
            [&] {
                while (!outputs.isEmpty()) {
                    for (const auto& out : outputs.takeFirst().at(0).value<QVector<kvscope::RequestOutput>>()) {
                        if (out.id != id) continue;
                        for (const auto& s : out.samples)
                            tokens.insert(tokens.end(), s.new_token_ids.begin(), s.new_token_ids.end());
                    }
                }
                return tokens.size() >= 20;
            },
            10000));
        // The plain template renders the turn as the text itself: the known-good continuation.
        QCOMPARE(tokens[0], 432);
        QCOMPARE(tokens[19], 292);
    }

    void pauseHoldsRequestsUntilResumed() {
        QSignalSpy paused(m_relay, &Relay::pausedChanged);
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        call([w = m_worker] { w->setPaused(true); });
        QVERIFY(waitFor(paused));
        QCOMPARE(paused.at(0).at(0).toBool(), true);
        kvscope::Request r;
        r.prompt = "Lily";
        r.params.max_tokens = 3;
        call([w = m_worker, r] { w->submit(3, r); });
        QVERIFY(waitFor(accepted));
        // A round trip through the worker's queue: anything a step would have sent came before.
        QSignalSpy progress(m_relay, &Relay::modelInspected);
        call([w = m_worker] { w->inspectModel("/nonexistent.gguf"); });
        QVERIFY(waitFor(progress));
        QCOMPARE(outputs.count(), 0);
        call([w = m_worker] { w->setPaused(false); });
        QVERIFY(waitFor(outputs));
        // Ends with the request, so that the next test starts with no block held (under load the
        // worker may still be stepping it when the first output arrives here).
        QVERIFY(QTest::qWaitFor([&] {
            for (const QList<QVariant>& args : outputs) {
                for (const kvscope::RequestOutput& out : args.at(0).value<QVector<kvscope::RequestOutput>>()) {
                    if (out.finished) return true;
                }
            }
            return false;
        }));
    }

    void resetPrefixCacheFreesTheCachedBlocksOnlyWhenNoneIsHeld() {
        QSignalSpy reset(m_relay, &Relay::prefixCacheReset);
        QSignalSpy snapshots(m_relay, &Relay::snapshotReady);
        // The previous test's request may still be finishing (a slow or loaded machine).
        QVERIFY(QTest::qWaitFor([&] {
            return !snapshots.isEmpty() && snapshots.last().at(0).value<Snapshot>()->kv.stats.num_used_blocks == 0;
        }));
        call([w = m_worker] { w->resetPrefixCache(); });
        QVERIFY(waitFor(reset));
        QCOMPARE(reset.at(0).at(0).toBool(), true);
        QVERIFY(QTest::qWaitFor([&] {
            return !snapshots.isEmpty() &&
                   snapshots.last().at(0).value<Snapshot>()->kv.stats.num_cached_free_blocks == 0;
        }));
        // While a request holds blocks, the reset is refused with a reason.
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        call([w = m_worker] { w->setPaused(true); });
        kvscope::Request r;
        r.prompt = "Once upon a time";
        r.params.max_tokens = 1000;
        r.params.ignore_eos = true;
        call([w = m_worker, r] { w->submit(4, r); });
        QVERIFY(waitFor(accepted));
        call([w = m_worker] { w->setPaused(false); });
        QVERIFY(QTest::qWaitFor([&] {
            return !snapshots.isEmpty() && snapshots.last().at(0).value<Snapshot>()->kv.stats.num_used_blocks > 0;
        }));
        call([w = m_worker] { w->setPaused(true); });
        call([w = m_worker] { w->resetPrefixCache(); });
        QVERIFY(waitFor(reset, 2));
        QCOMPARE(reset.at(1).at(0).toBool(), false);
        QVERIFY(reset.at(1).at(1).toString().contains("held by running requests"));
        call([w = m_worker] { w->abortAll(); });
        call([w = m_worker] { w->setPaused(false); });
    }

    void aModelFileIsDescribedForTheSettingsDialog() {
        QSignalSpy inspected(m_relay, &Relay::modelInspected);
        call([w = m_worker] { w->inspectModel(QString::fromUtf8(kvscope::kEmbeddedModelName.data())); });
        QVERIFY(waitFor(inspected));
        const auto info = inspected.at(0).at(0).value<kvscope::ui::ModelFileInfo>();
        QVERIFY(info.error.isEmpty());
        QVERIFY(info.runnable);
        QCOMPARE(info.tensors.size(), 48);
        QCOMPARE(info.typeCounts.size(), 1);
        QCOMPARE(info.typeCounts[0].first, QString("F32"));
        QVERIFY(info.summary.contains("5 layers"));
        // the size of each re-quantisation: of 37 matrices F16 changes all, the 32-element types
        // 32 (ffn_down's rows are 172 wide), the K-quants' 256-element blocks none
        quint64 stored = 0;
        for (const auto& t : info.tensors) stored += t.bytes;
        QCOMPARE(info.weightBytes, stored);
        QCOMPARE(info.numMatrices, 37);
        QCOMPARE(info.requantized.size(), 8);  // the six targets, then Q4_K_M and Q5_K_M
        QCOMPARE(info.requantized[6].type, QString("Q4_K_M"));
        QCOMPARE(info.requantized[7].type, QString("Q5_K_M"));
        for (const auto& r : info.requantized) {
            const bool k = r.type.contains("_K");
            QCOMPARE(r.numConverted, r.type == "F16" ? 37 : k ? 0 : 32);
            if (k)
                QCOMPARE(r.weightBytes, stored);
            else
                QVERIFY(r.weightBytes < stored);
        }
        call([w = m_worker] { w->inspectModel("/nonexistent.gguf"); });
        QVERIFY(waitFor(inspected, 2));
        QVERIFY(inspected.at(1).at(0).value<kvscope::ui::ModelFileInfo>().error.contains("cannot open"));
    }

    void aRequantisedLoadSaysSo() {
        QSignalSpy loaded(m_relay, &Relay::modelLoaded);
        auto load = embeddedLoad();
        load.weightType = kvscope::TensorType::Q8_0;
        load.config.num_kv_blocks = 64;
        call([w = m_worker, load] { w->loadModel(load); });
        QVERIFY(waitFor(loaded));
        const auto summary = loaded.at(0).at(0).value<kvscope::ui::ModelSummary>();
        QCOMPARE(summary.numBlocks, 64);
        QCOMPARE(summary.numRequantized, 32);
        QCOMPARE(kvscope::ui::weightDescription(summary), QString("Q8_0 (re-quantised from F32)"));
        // Q4_K's 256-element blocks fit none of the embedded model's rows (64 and 172 wide)
        load.weightType = kvscope::TensorType::Q4_K;
        call([w = m_worker, load] { w->loadModel(load); });
        QVERIFY(waitFor(loaded, 2));
        const auto none = loaded.at(1).at(0).value<kvscope::ui::ModelSummary>();
        QCOMPARE(none.numRequantized, 0);
        QCOMPARE(kvscope::ui::weightDescription(none), QString("F32 (no weight fits Q4_K's blocks)"));
        load.kQuantMedium = true;  // the mixture is asked for and named, though nothing fits here either
        call([w = m_worker, load] { w->loadModel(load); });
        QVERIFY(waitFor(loaded, 3));
        const auto mixture = loaded.at(2).at(0).value<kvscope::ui::ModelSummary>();
        QCOMPARE(mixture.requantizedName, QString("Q4_K_M"));
        QCOMPARE(kvscope::ui::weightDescription(mixture), QString("F32 (no weight fits Q4_K_M's blocks)"));
        call([w = m_worker] { w->loadModel(embeddedLoad()); });  // back to the default for the tests below
        QVERIFY(waitFor(loaded, 4));
    }

    // The token vocabulary (each id's bytes) is built once per model: announcing the same model
    // again (a detach from a server) hands out the same one; another load builds another.
    void theVocabularyIsBuiltOncePerModel() {
        QSignalSpy loaded(m_relay, &Relay::modelLoaded);
        call([w = m_worker] { w->announce(); });
        call([w = m_worker] { w->announce(); });
        QVERIFY(waitFor(loaded, 2));
        const auto first = loaded.at(0).at(0).value<kvscope::ui::ModelSummary>().vocabulary;
        QVERIFY(first);
        QCOMPARE(first->size(), 512);
        QCOMPARE(QByteArray::fromStdString(first->piece(403)), QByteArray(" Once"));  // llama2.c's token
        QCOMPARE(loaded.at(1).at(0).value<kvscope::ui::ModelSummary>().vocabulary.get(), first.get());
        call([w = m_worker] { w->loadModel(embeddedLoad()); });
        QVERIFY(waitFor(loaded, 3));
        const auto reloaded = loaded.at(2).at(0).value<kvscope::ui::ModelSummary>().vocabulary;
        QVERIFY(reloaded && reloaded.get() != first.get());
        QCOMPARE(reloaded->size(), 512);
    }

    void aBadModelIsRejectedAndTheOldOneKeepsServing() {
        QSignalSpy failed(m_relay, &Relay::modelLoadFailed);
        kvscope::ui::LoadRequest bad;
        bad.source = "/nonexistent.gguf";
        call([w = m_worker, bad] { w->loadModel(bad); });
        QVERIFY(waitFor(failed));
        QVERIFY(failed.at(0).at(0).toString().contains("/nonexistent.gguf: cannot open"));
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        kvscope::Request r;
        r.prompt = "Lily";
        r.params.max_tokens = 2;
        call([w = m_worker, r] { w->submit(1, r); });
        QVERIFY(waitFor(accepted));
    }

    void aLoadThatFailsHalfWayKeepsTheRunningRequestServing() {
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        QSignalSpy failed(m_relay, &Relay::modelLoadFailed);
        QSignalSpy loaded(m_relay, &Relay::modelLoaded);
        // Paused, so that the request is certainly inside the old engine while the loads fail.
        call([w = m_worker] { w->setPaused(true); });
        kvscope::Request r;
        r.prompt = "Once upon a time";
        r.params.max_tokens = 60;
        r.params.temperature = 0;
        r.params.ignore_eos = true;
        call([w = m_worker, r] { w->submit(7, r); });
        QVERIFY(waitFor(accepted));
        const qint64 id = accepted.at(0).at(1).toLongLong();

        // The embedded model cut off in the middle of its weights, as by a failed download.
        QTemporaryDir dir;
        const QString cut = dir.filePath("cut.gguf");
        QFile file(cut);
        QVERIFY(file.open(QIODevice::WriteOnly));
        const auto bytes = kvscope::embedded_model_bytes();
        file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<qint64>(bytes.size() / 2));
        file.close();
        kvscope::ui::LoadRequest truncated;
        truncated.source = cut;
        // A model that loads, then a KV budget that holds no block: fails after the weights.
        kvscope::ui::LoadRequest noKv = embeddedLoad();
        noKv.config.kv_cache_bytes = 1;
        call([w = m_worker, truncated, noKv] {
            w->loadModel(truncated);
            w->loadModel(noKv);
            w->setPaused(false);
        });
        QVERIFY(waitFor(failed, 2));
        QVERIFY2(failed.at(0).at(0).toString().startsWith(cut + ": "), qPrintable(failed.at(0).at(0).toString()));
        QVERIFY2(failed.at(1).at(0).toString().contains("holds no block"), qPrintable(failed.at(1).at(0).toString()));

        // The request that was running goes on to its length, on the old model.
        int tokens = 0;
        kvscope::FinishReason finish = kvscope::FinishReason::none;
        while (finish == kvscope::FinishReason::none && waitFor(outputs)) {
            while (!outputs.isEmpty()) {
                for (const auto& out : outputs.takeFirst().at(0).value<QVector<kvscope::RequestOutput>>()) {
                    if (out.id != id || out.samples.empty()) continue;
                    tokens += static_cast<int>(out.samples[0].new_token_ids.size());
                    if (out.samples[0].finished()) finish = out.samples[0].finish_reason;
                }
            }
        }
        QCOMPARE(finish, kvscope::FinishReason::length);
        QCOMPARE(tokens, 60);
        QCOMPARE(loaded.count(), 0);
    }

    void abortEndsARequestWithAbort() {
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        call([w = m_worker] { w->submit(2, endless()); });
        QVERIFY(waitFor(accepted));
        const qint64 id = accepted.at(0).at(1).toLongLong();
        call([w = m_worker, id] { w->abortRequest(id); });
        QVERIFY(QTest::qWaitFor([&] { return endedByAbort(outputs, id); }, 20000));
    }

    void stoppingEverythingWhilePausedEndsTheRequestsAndFreesTheirBlocksAtOnce() {
        QSignalSpy accepted(m_relay, &Relay::requestAccepted);
        QSignalSpy outputs(m_relay, &Relay::outputsReady);
        QSignalSpy snapshots(m_relay, &Relay::snapshotReady);
        call([w = m_worker] { w->submit(5, endless()); });
        QVERIFY(waitFor(accepted));
        const qint64 id = accepted.at(0).at(1).toLongLong();
        QVERIFY(QTest::qWaitFor([&] {
            return !snapshots.isEmpty() && snapshots.last().at(0).value<Snapshot>()->kv.stats.num_used_blocks > 0;
        }));
        QSignalSpy paused(m_relay, &Relay::pausedChanged);
        call([w = m_worker] { w->setPaused(true); });
        QVERIFY(waitFor(paused));
        outputs.clear();
        snapshots.clear();
        call([w = m_worker] { w->abortAll(); });
        // Still paused: the abort is reported and the blocks show free without a step.
        QVERIFY(QTest::qWaitFor([&] { return endedByAbort(outputs, id); }));
        QVERIFY(QTest::qWaitFor([&] {
            if (snapshots.isEmpty()) return false;
            const Snapshot s = snapshots.last().at(0).value<Snapshot>();
            return s->detail == kvscope::SnapshotDetail::Full && s->kv.stats.num_used_blocks == 0 &&
                   s->sequences.empty();
        }));
        call([w = m_worker] { w->setPaused(false); });
    }
};

}  // namespace engine_worker_test

KVSCOPE_QTEST_MAIN(engine_worker_test, EngineWorkerTest)
#include "engine_worker_test.moc"
