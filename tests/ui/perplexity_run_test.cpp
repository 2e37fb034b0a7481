// The workbench's perplexity run without an engine: what it submits per chunk, how prompt logprobs
// become each chunk's NLL (second half or all, against sums done by hand), chunks reported in text
// order whatever order they finish in, and the ways a run ends early (a chunk refused, cut short,
// stopped by the user: its running chunks aborted).

#include <QSignalSpy>
#include <QtTest>
#include <cmath>

#include "tests/ui/qt_test_main.h"
#include "ui/perplexity_run.h"
#include "ui/request_log.h"
#include "ui/session.h"

namespace perplexity_run_test {

using namespace kvscope;
using namespace kvscope::ui;

SampleResult scored(float logprob) {
    SampleResult r;
    r.logprob = logprob;
    return r;
}

// The final output of a chunk's request carrying `logprobs` as its prompt logprobs.
RequestOutput chunkOutput(qint64 id, const std::vector<float>& logprobs, bool finished = true) {
    RequestOutput out;
    out.id = id;
    for (const float lp : logprobs) out.prompt_logprobs.push_back(scored(lp));
    out.finished = finished;
    return out;
}

std::vector<std::vector<std::int32_t>> twoChunks() {
    return {{1, 10, 11, 12, 13, 14}, {1, 20, 21, 22, 23, 24}};
}

class PerplexityRunTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { qRegisterMetaType<kvscope::Request>(); }

    void eachChunkIsARequestForItsPromptLogprobs() {
        Session session;
        QSignalSpy submits(&session, &Session::submitCommand);
        PerplexityOptions options;
        options.context = 6;
        PerplexityRun run(&session, twoChunks(), options);
        run.start();
        QCOMPARE(submits.count(), 2);
        for (int i = 0; i < 2; ++i) {
            const auto request = submits.at(i).at(1).value<Request>();
            QCOMPARE(request.prompt_token_ids, twoChunks()[std::size_t(i)]);
            QCOMPARE(request.params.prompt_logprobs, std::optional<std::int32_t>(0));
            QCOMPARE(request.params.max_tokens, 1);
            QCOMPARE(request.params.temperature, 0.0f);
        }
        QCOMPARE(session.requestLog()->rowCount(), 2);
    }

    void chunksAreScoredByTheirSecondHalfInTextOrder() {
        Session session;
        QSignalSpy submits(&session, &Session::submitCommand);
        PerplexityOptions options;
        options.context = 6;  // entries 0..4 score tokens 1..5; the second half: entries 3 and 4
        PerplexityRun run(&session, twoChunks(), options);
        QSignalSpy scoredSpy(&run, &PerplexityRun::chunkScored);
        QSignalSpy finished(&run, &PerplexityRun::runFinished);
        run.start();
        session.onRequestAccepted(submits.at(0).at(0).toULongLong(), 7);
        session.onRequestAccepted(submits.at(1).at(0).toULongLong(), 8);
        // The second chunk finishes first, its logprobs in two outputs: nothing is reported yet.
        session.onOutputs({chunkOutput(8, {-9.0f, -9.0f, -9.0f}, false)});
        session.onOutputs({chunkOutput(8, {-1.0f, -3.0f})});
        QCOMPARE(scoredSpy.count(), 0);
        QCOMPARE(run.numReported(), 0);
        session.onOutputs({chunkOutput(7, {-9.0f, -9.0f, -9.0f, -2.0f, -4.0f})});
        QCOMPARE(scoredSpy.count(), 2);
        QCOMPARE(scoredSpy.at(0).at(0).toInt(), 0);
        QCOMPARE(scoredSpy.at(1).at(0).toInt(), 1);
        QCOMPARE(finished.count(), 1);
        QCOMPARE(finished.at(0).at(0).toString(), QString());
        // NLLs 2, 4 (first chunk) and 1, 3 (second): mean 2.5; variance 1.25 over 4, so the error is
        // PPL * sqrt(1.25 / 3).
        const PerplexityEstimate first = scoredSpy.at(0).at(1).value<PerplexityEstimate>();
        QVERIFY(std::abs(first.ppl - std::exp(3.0)) < 1e-9);
        const PerplexityEstimate e = run.estimate();
        QCOMPARE(e.num_scored, qint64(4));
        QVERIFY(std::abs(e.ppl - std::exp(2.5)) < 1e-9);
        QVERIFY(std::abs(e.ppl_error - std::exp(2.5) * std::sqrt(1.25 / 3.0)) < 1e-9);
        QVERIFY(run.finished());
    }

    void scoringEveryTokenCountsThemAll() {
        Session session;
        QSignalSpy submits(&session, &Session::submitCommand);
        PerplexityOptions options;
        options.context = 6;
        options.score_all = true;
        PerplexityRun run(&session, {twoChunks()[0]}, options);
        run.start();
        session.onRequestAccepted(submits.at(0).at(0).toULongLong(), 3);
        session.onOutputs({chunkOutput(3, {-1.0f, -1.0f, -1.0f, -1.0f, -6.0f})});
        QVERIFY(run.finished());
        QCOMPARE(run.estimate().num_scored, qint64(5));
        QVERIFY(std::abs(run.estimate().ppl - std::exp(2.0)) < 1e-9);
    }

    void aChunkCutShortEndsTheRunAndAbortsTheOthers() {
        Session session;
        QSignalSpy submits(&session, &Session::submitCommand);
        QSignalSpy aborts(&session, &Session::abortCommand);
        PerplexityOptions options;
        options.context = 6;
        PerplexityRun run(&session, twoChunks(), options);
        QSignalSpy finished(&run, &PerplexityRun::runFinished);
        run.start();
        session.onRequestAccepted(submits.at(0).at(0).toULongLong(), 1);
        session.onRequestAccepted(submits.at(1).at(0).toULongLong(), 2);
        session.onOutputs({chunkOutput(1, {-1.0f, -1.0f})});  // aborted after two entries
        QCOMPARE(finished.count(), 1);
        QVERIFY2(finished.at(0).at(0).toString().contains("chunk 1 ended with 0 of its 2 tokens scored"),
                 qPrintable(finished.at(0).at(0).toString()));
        QCOMPARE(aborts.count(), 1);
        QCOMPARE(aborts.at(0).at(0).toLongLong(), 2);
        session.onOutputs({chunkOutput(2, {-1.0f, -1.0f, -1.0f, -1.0f, -1.0f})});  // too late: ignored
        QCOMPARE(finished.count(), 1);
        QCOMPARE(run.numReported(), 0);
    }

    void aRefusedChunkOrAStopEndsTheRun() {
        Session session;
        QSignalSpy submits(&session, &Session::submitCommand);
        QSignalSpy aborts(&session, &Session::abortCommand);
        PerplexityOptions options;
        options.context = 6;
        PerplexityRun refused(&session, twoChunks(), options);
        QSignalSpy refusedEnd(&refused, &PerplexityRun::runFinished);
        refused.start();
        session.onRequestAccepted(submits.at(0).at(0).toULongLong(), 1);
        session.onRequestRejected(submits.at(1).at(0).toULongLong(), "the prompt is too long");
        QCOMPARE(refusedEnd.at(0).at(0).toString(), QString("chunk 2 was refused: the prompt is too long"));
        QCOMPARE(aborts.count(), 1);

        PerplexityRun stopped(&session, twoChunks(), options);
        QSignalSpy stoppedEnd(&stopped, &PerplexityRun::runFinished);
        stopped.start();
        session.onRequestAccepted(submits.at(2).at(0).toULongLong(), 5);
        stopped.stop();
        QCOMPARE(stoppedEnd.at(0).at(0).toString(), QString("stopped"));
        QCOMPARE(aborts.count(), 2);
        QCOMPARE(aborts.at(1).at(0).toLongLong(), 5);
        // The chunk accepted after the stop is aborted as soon as it has an id.
        session.onRequestAccepted(submits.at(3).at(0).toULongLong(), 6);
        QCOMPARE(aborts.count(), 3);
        QCOMPARE(aborts.at(2).at(0).toLongLong(), 6);
    }
};

}  // namespace perplexity_run_test

KVSCOPE_QTEST_MAIN(perplexity_run_test, PerplexityRunTest)
#include "perplexity_run_test.moc"
