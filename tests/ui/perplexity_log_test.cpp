// The session's perplexity runs: rows from start to finish (or a stop or failure), the change
// from the first *finished* run computed by hand, what the table shows, and the JSON and CSV the
// exports and Save… write, their fields named as `kvscope-cli perplexity --json` names them.

#include <QJsonArray>
#include <QJsonObject>
#include <QSignalSpy>
#include <QtTest>
#include <cmath>

#include "tests/ui/qt_test_main.h"
#include "ui/perplexity_log.h"

namespace perplexity_log_test {

using namespace kvscope;
using namespace kvscope::ui;

PerplexityRecord run(const QString& cache) {
    PerplexityRecord r;
    r.model = "stories260K";
    r.weights = "F32";
    r.cacheDtype = cache;
    r.text = "kite_story.txt, a \"sample\"";  // a comma and quotes: quoted in the CSV
    r.context = 128;
    r.textTokens = 1000;
    r.numChunks = 7;
    return r;
}

PerplexityEstimate estimate(std::int64_t scored, double ppl, double error) {
    PerplexityEstimate e;
    e.num_scored = scored;
    e.nll_mean = std::log(ppl);
    e.ppl = ppl;
    e.ppl_error = error;
    return e;
}

QString shown(const PerplexityLog& log, int row, int column) {
    return log.data(log.index(row, column), Qt::DisplayRole).toString();
}

class PerplexityLogTest : public QObject {
    Q_OBJECT

private slots:
    void aRunGoesFromRunningToFinished() {
        PerplexityLog log;
        QSignalSpy changed(&log, &PerplexityLog::dataChanged);
        const int row = log.start(run("f32"));
        QCOMPARE(row, 0);
        QCOMPARE(log.rowCount(), 1);
        QCOMPARE(shown(log, 0, PerplexityLog::Chunks), QString("0/7"));
        QCOMPARE(shown(log, 0, PerplexityLog::Ppl), QString());
        QCOMPARE(shown(log, 0, PerplexityLog::Seconds), QString());

        log.progress(row, 3, estimate(189, 5.5, 0.61), 1.5);
        QCOMPARE(changed.count(), 1);
        QCOMPARE(shown(log, 0, PerplexityLog::Chunks), QString("3/7"));
        QCOMPARE(shown(log, 0, PerplexityLog::Scored), QString("189"));
        QCOMPARE(shown(log, 0, PerplexityLog::Ppl), QString("5.5000"));
        QCOMPARE(shown(log, 0, PerplexityLog::Error), QString("0.6100"));
        QCOMPARE(shown(log, 0, PerplexityLog::Change), QString());  // not finished: nothing to compare yet
        QCOMPARE(log.records()[0].tokensPerSecond(), 3 * 128 / 1.5);

        log.finish(row, estimate(441, 5.1726, 0.4378), 3.5);
        QCOMPARE(shown(log, 0, PerplexityLog::Chunks), QString("7"));
        QCOMPARE(shown(log, 0, PerplexityLog::Change), QString("base"));
        QCOMPARE(shown(log, 0, PerplexityLog::Seconds), QString("3.50"));
        QCOMPARE(*log.basePpl(), 5.1726);
        QCOMPARE(log.records()[0].state, PerplexityRecord::State::Finished);
        QCOMPARE(log.records()[0].chunksDone, 7);
    }

    void theBaseIsTheFirstFinishedRun() {
        PerplexityLog log;
        const int stopped = log.start(run("f32"));
        log.progress(stopped, 2, estimate(100, 9.0, 1.0), 1.0);
        log.end(stopped, PerplexityRecord::State::Stopped, "stopped", 1.2);
        const int failed = log.start(run("f32"));
        log.end(failed, PerplexityRecord::State::Failed, "chunk 1 was refused: too long", 0.1);
        QVERIFY(!log.basePpl());
        QCOMPARE(shown(log, 0, PerplexityLog::Chunks), QString("2/7"));
        QCOMPARE(shown(log, 0, PerplexityLog::Change), QString("stopped"));
        QCOMPARE(shown(log, 1, PerplexityLog::Change), QString("chunk 1 was refused: too long"));
        QVERIFY(log.data(log.index(1, PerplexityLog::Change), Qt::ForegroundRole).isValid());  // a failure is red
        QVERIFY(!log.data(log.index(0, PerplexityLog::Change), Qt::ForegroundRole).isValid());

        const int base = log.start(run("f32"));
        log.finish(base, estimate(441, 4.0, 0.3), 2.0);
        const int q8 = log.start(run("q8_0"));
        log.finish(q8, estimate(441, 5.0, 0.4), 2.0);
        const int f16 = log.start(run("f16"));
        log.finish(f16, estimate(441, 3.9, 0.3), 2.0);
        QCOMPARE(shown(log, base, PerplexityLog::Change), QString("base"));
        QCOMPARE(shown(log, q8, PerplexityLog::Change), QString("+25.00 %"));  // 5 / 4 - 1
        QCOMPARE(shown(log, f16, PerplexityLog::Change), QString("-2.50 %"));  // 3.9 / 4 - 1
        QCOMPARE(shown(log, f16, PerplexityLog::Cache), QString("f16"));

        // Another finished run as the base: every change follows it, in the table and the JSON.
        QSignalSpy changed(&log, &PerplexityLog::dataChanged);
        QVERIFY(log.setBase(q8));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(log.baseRow(), q8);
        QCOMPARE(shown(log, q8, PerplexityLog::Change), QString("base"));
        QCOMPARE(shown(log, base, PerplexityLog::Change), QString("-20.00 %"));  // 4 / 5 - 1
        QCOMPARE(shown(log, f16, PerplexityLog::Change), QString("-22.00 %"));   // 3.9 / 5 - 1
        QCOMPARE(log.toJson()[base].toObject()["change_pct"].toDouble(), -20.0);
        QVERIFY(log.toJson()[q8].toObject()["change_pct"].isNull());
        QVERIFY(!log.setBase(stopped));  // not finished: nothing changes
        QVERIFY(!log.setBase(99));
        QCOMPARE(log.baseRow(), q8);

        // Cleared, the next run to finish is the base again.
        log.clear();
        QCOMPARE(log.rowCount(), 0);
        QVERIFY(!log.basePpl());
        const int next = log.start(run("f32"));
        log.finish(next, estimate(441, 6.0, 0.5), 1.0);
        QCOMPARE(log.baseRow(), next);
        QCOMPARE(shown(log, next, PerplexityLog::Change), QString("base"));
    }

    void theJsonNamesFieldsAsTheCliDoes() {
        PerplexityLog log;
        const int a = log.start(run("f32"));
        log.finish(a, estimate(441, 4.0, 0.3), 2.0);
        PerplexityRecord all = run("q8_0");
        all.scoreAll = true;
        const int b = log.start(all);
        log.finish(b, estimate(889, 5.0, 0.5), 4.0);
        log.start(run("f16"));  // still running: nothing scored

        const QJsonArray runs = log.toJson();
        QCOMPARE(runs.size(), 3);
        const QJsonObject first = runs[0].toObject();
        QCOMPARE(first.keys().size(), PerplexityLog::fields().size());
        for (const QString& field : PerplexityLog::fields()) QVERIFY2(first.contains(field), qPrintable(field));
        QCOMPARE(first["score"].toString(), QString("second-half"));
        QCOMPARE(first["ppl"].toDouble(), 4.0);
        QCOMPARE(first["nll_mean"].toDouble(), std::log(4.0));
        QCOMPARE(first["scored_tokens"].toInt(), 441);
        QCOMPARE(first["tokens_per_second"].toDouble(), 7 * 128 / 2.0);
        QVERIFY(first["change_pct"].isNull());  // the base
        QCOMPARE(first["state"].toString(), QString("finished"));
        const QJsonObject second = runs[1].toObject();
        QCOMPARE(second["score"].toString(), QString("all"));
        QCOMPARE(second["cache_dtype"].toString(), QString("q8_0"));
        QCOMPARE(second["change_pct"].toDouble(), 25.0);
        const QJsonObject third = runs[2].toObject();
        QCOMPARE(third["state"].toString(), QString("running"));
        QVERIFY(third["ppl"].isNull());
        QVERIFY(third["ppl_error"].isNull());
        QCOMPARE(third["tokens_per_second"].toDouble(), 0.0);
    }

    void theCsvHasTheFieldsAndARowPerRun() {
        PerplexityLog log;
        const int a = log.start(run("f32"));
        log.finish(a, estimate(441, 5.1726, 0.4378), 2.5);
        const int b = log.start(run("q8_0"));
        log.end(b, PerplexityRecord::State::Stopped, "stopped", 0.5);
        const QStringList lines = log.toCsv().split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        QCOMPARE(lines[0],
                 QString("model,weight_type,cache_dtype,text,context,score,text_tokens,num_chunks,chunks_done,"
                         "scored_tokens,nll_mean,ppl,ppl_error,change_pct,seconds,tokens_per_second,state,error"));
        QVERIFY(
            lines[1].startsWith("stories260K,F32,f32,\"kite_story.txt, a \"\"sample\"\"\",128,second-half,1000,7,7,"
                                "441,"));
        QVERIFY(lines[1].contains(",5.1726,0.4378,,2.5,358.4,finished,"));  // no change for the base; 7*128/2.5
        QVERIFY(lines[2].endsWith(",7,0,0,,,,,0.5,0,stopped,stopped"));     // nothing scored: four empty figures
    }
};

}  // namespace perplexity_log_test

KVSCOPE_QTEST_MAIN(perplexity_log_test, PerplexityLogTest)
#include "perplexity_log_test.moc"
