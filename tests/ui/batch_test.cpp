// The batch queue's logic without an engine: the Session's command signals stand in for the
// worker, answers are fed back by hand. Prompts files (good and bad lines), synthetic batches,
// arrivals sent as the (test's) clock reaches them, cancel, and the request log's rows.

#include <QProgressBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "engine/error.h"
#include "tests/ui/qt_test_main.h"
#include "ui/batch_panel.h"
#include "ui/batch_run.h"
#include "ui/batch_workload.h"
#include "ui/request_log.h"
#include "ui/session.h"

namespace batch_test {

using namespace kvscope;
using namespace kvscope::ui;

QString writeFile(const QTemporaryDir& dir, const QString& name, const QByteArray& text) {
    const QString path = dir.filePath(name);
    QFile f(path);
    f.open(QIODevice::WriteOnly);
    f.write(text);
    return path;
}

RequestOutput finished(qint64 id, int tokens, FinishReason reason = FinishReason::length) {
    RequestOutput out;
    out.id = id;
    out.finished = true;
    SequenceOutput s;
    s.new_token_ids.assign(std::size_t(tokens), 7);
    s.finish_reason = reason;
    out.samples.push_back(s);
    out.timings.num_prompt_tokens = 10;
    out.timings.num_cached_tokens = 4;
    out.timings.num_generation_tokens = tokens;
    out.timings.time_to_first_token = 0.02;
    out.timings.decode_time = 0.1;
    return out;
}

class BatchTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { qRegisterMetaType<kvscope::Request>(); }

    void aPromptsFileGivesOneRequestPerLineWithItsOverrides() {
        QTemporaryDir dir;
        const QString path = writeFile(dir, "p.jsonl",
                                       "{\"prompt\": \"Once upon a time\"}\n\n"
                                       "{\"prompt\": \"Lily\", \"max_tokens\": 5, \"temperature\": 0, \"n\": 2, "
                                       "\"lora\": \"sql\"}\n");
        SamplingParams defaults;
        defaults.max_tokens = 64;
        const auto items = readPromptsFile(path, defaults);
        QCOMPARE(int(items.size()), 2);
        QCOMPARE(QString::fromStdString(items[0].request.prompt), QString("Once upon a time"));
        QCOMPARE(items[0].request.params.max_tokens, 64);
        QCOMPARE(items[1].request.params.max_tokens, 5);
        QCOMPARE(items[1].request.params.temperature, 0.0);
        QCOMPARE(items[1].request.params.n, 2);
        QCOMPARE(items[1].arrivalS, 0.0);
        QCOMPARE(items[0].request.lora, std::string());  // the batch panel's adapter, if any
        QCOMPARE(items[1].request.lora, std::string("sql"));
    }

    void aBadLineIsNamedWithItsLineNumber() {
        QTemporaryDir dir;
        auto error = [&](const QByteArray& text) {
            try {
                readPromptsFile(writeFile(dir, "bad.jsonl", text), SamplingParams{});
            } catch (const FileError& e) {
                return QString::fromStdString(e.what());
            }
            return QString();
        };
        QVERIFY(error("{\"prompt\": \"a\"}\n{nope\n").contains("bad.jsonl:2: not valid JSON"));
        QVERIFY(error("{\"text\": \"a\"}\n")
                    .contains("bad.jsonl:1: each line must be a JSON object with a string \"prompt\""));
        QVERIFY(error("{\"prompt\": \"a\", \"max_tokens\": \"ten\"}\n").contains("\"max_tokens\" must be a number"));
        QVERIFY(error("{\"prompt\": \"a\", \"lora\": 3}\n").contains("bad.jsonl:1: \"lora\" must be a string"));
        QVERIFY(error("\n\n").contains("holds no prompt"));
        try {
            readPromptsFile(dir.filePath("missing.jsonl"), SamplingParams{});
            QFAIL("a missing file was read");
        } catch (const FileError& e) {
            QVERIFY(QString(e.what()).contains("missing.jsonl: cannot open the prompts file"));
        }
    }

    void aSyntheticBatchSharesItsPrefixAndGeneratesItsLengths() {
        WorkloadSpec spec;
        spec.num_requests = 20;
        spec.prompt_len = LengthDistribution::parse("uniform:64-96", "p");
        spec.output_len = LengthDistribution::parse("12", "o");
        spec.shared_prefix_fraction = 0.5;
        spec.request_rate = 10;
        const auto items = syntheticBatch(spec, 512, 259, 1, 0.7);
        QCOMPARE(int(items.size()), 20);
        for (const BatchItem& it : items) {
            const auto& ids = it.request.prompt_token_ids;
            QCOMPARE(ids.front(), 1);  // BOS
            QVERIFY(ids.size() >= 64 && ids.size() <= 96);  // the BOS counts in the drawn length
            // BOS + half the shortest prompt's 63 other tokens (31) are shared
            QVERIFY(std::equal(ids.begin(), ids.begin() + 32, items[0].request.prompt_token_ids.begin()));
            QCOMPARE(it.request.params.max_tokens, 12);
            QVERIFY(it.request.params.ignore_eos);
            QCOMPARE(it.request.params.temperature, 0.7);
            for (std::size_t i = 1; i < ids.size(); ++i) QVERIFY(ids[i] >= 259 && ids[i] < 512);
        }
        QVERIFY(items.back().arrivalS > 0);  // Poisson arrivals at 10/s
    }

    void requestsAreSentWhenTheirArrivalComesAndTheRunEnds() {
        Session session;
        QSignalSpy submitted(&session, &Session::submitCommand);
        std::vector<BatchItem> items(3);
        items[0].arrivalS = 0.0, items[1].arrivalS = 0.5, items[2].arrivalS = 1.0;
        for (auto& it : items) it.request.prompt_token_ids = {1, 300};
        BatchRun run(&session, "batch 1", items);
        double now = 0;
        run.setClock([&] { return now; });
        QSignalSpy done(&run, &BatchRun::done);
        run.start();
        QCOMPARE(submitted.count(), 1);
        now = 0.6;
        run.tick();
        QCOMPARE(submitted.count(), 2);
        now = 2.0;
        run.tick();
        QCOMPARE(submitted.count(), 3);
        QCOMPARE(run.sent(), 3);
        // The engine accepts two, rejects one, and finishes the two.
        const quint64 t1 = submitted.at(0).at(0).toULongLong(), t2 = submitted.at(1).at(0).toULongLong(),
                      t3 = submitted.at(2).at(0).toULongLong();
        session.onRequestAccepted(t1, 101);
        session.onRequestAccepted(t2, 102);
        session.onRequestRejected(t3, "the prompt is too long");
        QCOMPARE(run.inFlight(), 2);
        session.onOutputs({finished(101, 5), finished(102, 3)});
        QCOMPARE(run.finished(), 2);
        QCOMPARE(run.rejected(), 1);
        QCOMPARE(run.generatedTokens(), 8);
        QCOMPARE(done.count(), 1);
        QVERIFY(run.isDone());
        // The request log has the three rows.
        const RequestLog& log = *session.requestLog();
        QCOMPARE(log.rowCount(), 3);
        QCOMPARE(log.records()[0].state, RequestState::Finished);
        QCOMPARE(log.records()[0].outputTokens, 5);
        QCOMPARE(log.records()[0].cachedTokens, 4);
        QCOMPARE(*log.records()[0].ttftS, 0.02);
        QCOMPARE(*log.records()[0].tpotS, 0.1 / 4);
        QCOMPARE(log.records()[2].state, RequestState::Rejected);
        QCOMPARE(log.data(log.index(0, RequestLog::Ttft), Qt::DisplayRole).toString(), QString("20.00"));
        QCOMPARE(log.data(log.index(2, RequestLog::State), Qt::DisplayRole).toString(), QString("rejected"));
        QCOMPARE(log.data(log.index(1, RequestLog::Source), Qt::DisplayRole).toString(), QString("batch 1"));
        // Sort keys: numbers as numbers (20.00 ms must not sort after 100.0 ms as text), done states last.
        QCOMPARE(log.data(log.index(0, RequestLog::Ttft), RequestLog::SortRole).toDouble(), 0.02);
        const auto stateKey = [&](int row) {
            return log.data(log.index(row, RequestLog::State), RequestLog::SortRole).toLongLong();
        };
        QVERIFY(stateKey(0) < stateKey(2));
        // Within a state, by id: request 101 before 102 (a table re-sorted as rows change kept
        // no order among the finished).
        QVERIFY(stateKey(0) < stateKey(1));
    }

    void cancelAbortsWhatRunsAndDropsWhatWasNotSent() {
        Session session;
        QSignalSpy submitted(&session, &Session::submitCommand);
        QSignalSpy aborted(&session, &Session::abortCommand);
        std::vector<BatchItem> items(4);
        items[2].arrivalS = 10, items[3].arrivalS = 20;
        BatchRun run(&session, "batch 2", items);
        double now = 0;
        run.setClock([&] { return now; });
        run.start();
        QCOMPARE(submitted.count(), 2);
        session.onRequestAccepted(submitted.at(0).at(0).toULongLong(), 7);
        run.cancel();
        QCOMPARE(aborted.count(), 1);
        QCOMPARE(aborted.at(0).at(0).toLongLong(), 7);
        QCOMPARE(run.cancelled(), 2);
        // The second is accepted after the cancel: it is aborted at once.
        session.onRequestAccepted(submitted.at(1).at(0).toULongLong(), 8);
        QCOMPARE(aborted.count(), 2);
        session.onOutputs({finished(7, 1, FinishReason::abort), finished(8, 0, FinishReason::abort)});
        QCOMPARE(run.cancelled(), 4);
        QVERIFY(run.isDone());
        QCOMPARE(session.requestLog()->records()[0].state, RequestState::Aborted);
    }

    void fullSnapshotsUpdateStateBlocksAndPreemptions() {
        RequestLog log;
        log.added(1, "chat 1", 1, 0);
        log.accepted(1, 5);
        EngineSnapshot snap;
        SequenceSnapshot s;
        s.id = 9, s.request_id = 5, s.status = SequenceStatus::Waiting, s.num_preemptions = 2, s.num_prompt_tokens = 30;
        snap.sequences = {s};
        log.snapshot(snap);
        QCOMPARE(log.records()[0].state, RequestState::Preempted);
        QCOMPARE(log.records()[0].preemptions, 2);
        QCOMPARE(log.records()[0].promptTokens.value_or(-1), 30);
        snap.sequences[0].status = SequenceStatus::Running;
        snap.kv.sequences = {KvSequenceInfo{9, 30, 0, 2}};
        log.snapshot(snap);
        QCOMPARE(log.records()[0].state, RequestState::Running);
        QCOMPARE(log.records()[0].blocksHeld, 2);
        snap.detail = SnapshotDetail::CountersOnly;  // no per-block arrays: no change
        snap.kv.sequences.clear();
        log.snapshot(snap);
        QCOMPARE(log.records()[0].blocksHeld, 2);
    }

    // The panel's progress bar counts a batch's requests once there is one; before, it counts
    // nothing (no "0 / 1 done" of a batch that does not exist).
    void theProgressBarCountsOnlyABatchThatExists() {
        Session session;
        BatchPanel panel(&session);
        auto* progress = panel.findChild<QProgressBar*>("batchProgress");
        QVERIFY(progress);
        QCOMPARE(progress->text(), QString("no batch yet"));
        ModelSummary model;
        model.name = "stories260K";
        model.vocabSize = 512;
        model.firstTokenId = 259;
        model.bosId = 1;
        session.onModelLoaded(model);
        QCOMPARE(progress->text(), QString("no batch yet"));
        QSignalSpy submits(&session, &Session::submitCommand);
        WorkloadSpec spec;
        spec.num_requests = 3;
        spec.prompt_len = {LengthDistribution::Kind::Fixed, 8, 0};
        spec.output_len = {LengthDistribution::Kind::Fixed, 4, 0};
        QVERIFY(panel.startSynthetic(spec));
        QCOMPARE(progress->text(), QString("0 / 3 done"));
        QVERIFY(QTest::qWaitFor([&] { return submits.count() == 3; }, 5000));
        RequestOutput out = finished(0, 4);
        for (int i = 0; i < 3; ++i) {
            session.onRequestAccepted(submits.at(i).at(0).toULongLong(), 10 + i);
            out.id = 10 + i;
            session.onOutputs({out});
        }
        QCOMPARE(progress->text(), QString("3 / 3 done"));
    }
};

}  // namespace batch_test

KVSCOPE_QTEST_MAIN(batch_test, BatchTest)
#include "batch_test.moc"
