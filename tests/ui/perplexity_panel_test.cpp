// The perplexity tab without an engine: it waits for a model, asks an attached server too, sends
// the text with its options, drops the answer to a text it stopped waiting for, fills a row per
// run from the chunks' prompt logprobs and compares each finished run with the first.

#include <QAction>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QtTest>
#include <cmath>

#include "resources/sample_text.h"
#include "tests/ui/qt_test_main.h"
#include "ui/perplexity_log.h"
#include "ui/perplexity_panel.h"
#include "ui/perplexity_run.h"
#include "ui/session.h"

namespace perplexity_panel_test {

using namespace kvscope;
using namespace kvscope::ui;

ModelSummary embeddedModel() {
    ModelSummary m;
    m.name = "stories260K";
    m.weightType = "F32";
    m.contextLength = 512;
    return m;
}

// One chunk of 6 tokens whose scored entries (3 and 4) have NLL `nll`.
void answerOneChunk(Session& session, QSignalSpy& submits, qint64 id, double nll) {
    session.onRequestAccepted(submits.last().at(0).toULongLong(), id);
    RequestOutput out;
    out.id = id;
    for (int i = 0; i < 5; ++i) {
        SampleResult r;
        r.logprob = float(i >= 3 ? -nll : -9.0);
        out.prompt_logprobs.push_back(r);
    }
    out.finished = true;
    session.onOutputs({out});
}

class PerplexityPanelTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        qRegisterMetaType<kvscope::Request>();
        qRegisterMetaType<kvscope::ui::PerplexityText>();
    }

    // An attached server's tokenizer cuts the text as the embedded engine's does (the worker that
    // answers decides: remote_perplexity_test); its cache dtype is said only by a kvscope server.
    void itWaitsForAModelAndAsksAServerToo() {
        Session session;
        PerplexityPanel panel(&session);
        QVERIFY(!panel.measureButton()->isEnabled());
        QVERIFY(!panel.measure());
        ModelSummary remote = embeddedModel();
        remote.remoteKind = "vLLM";
        session.onModelLoaded(remote);
        QSignalSpy asked(&session, &Session::perplexityCommand);
        QVERIFY(panel.measure());
        QCOMPARE(asked.count(), 1);
        PerplexityChunks chunks;
        chunks.id = asked.last().at(0).value<PerplexityText>().id;
        chunks.chunks = {{1, 2, 3, 4, 5, 6}};
        session.onPerplexityPrepared(chunks);
        QCOMPARE(session.perplexityLog()->records().at(0).cacheDtype, QString("(vLLM's)"));
    }

    void theSampleGoesWithItsOptionsAndAStaleAnswerIsDropped() {
        Session session;
        PerplexityPanel panel(&session);
        session.onModelLoaded(embeddedModel());
        QCOMPARE(panel.contextBox()->maximum(), 511);
        QSignalSpy asked(&session, &Session::perplexityCommand);
        QSignalSpy submits(&session, &Session::submitCommand);
        panel.contextBox()->setValue(6);
        QVERIFY(panel.measure());
        const auto first = asked.at(0).at(0).value<PerplexityText>();
        QCOMPARE(first.text.toStdString(), std::string(sample_text()));
        QCOMPARE(first.options.context, 6);
        panel.stop();  // before the chunks came
        QVERIFY(!panel.busy());
        QVERIFY(panel.measure());
        const auto second = asked.at(1).at(0).value<PerplexityText>();
        QVERIFY(second.id != first.id);
        PerplexityChunks stale;
        stale.id = first.id;
        stale.chunks = {{1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6}};
        session.onPerplexityPrepared(stale);
        QCOMPARE(submits.count(), 0);
        PerplexityChunks fresh;
        fresh.id = second.id;
        fresh.numTokens = 9;
        fresh.chunks = {{1, 2, 3, 4, 5, 6}};
        session.onPerplexityPrepared(fresh);
        QCOMPARE(submits.count(), 1);
        QVERIFY(panel.busy());
        QCOMPARE(panel.table()->model()->rowCount(), 1);
    }

    void runsAreComparedWithTheFirst() {
        Session session;
        PerplexityPanel panel(&session);
        session.onModelLoaded(embeddedModel());
        QSignalSpy asked(&session, &Session::perplexityCommand);
        QSignalSpy submits(&session, &Session::submitCommand);
        panel.contextBox()->setValue(6);
        for (const double nll : {2.0, 2.5}) {
            QVERIFY(panel.measure());
            PerplexityChunks chunks;
            chunks.id = asked.last().at(0).value<PerplexityText>().id;
            chunks.chunks = {{1, 2, 3, 4, 5, 6}};
            session.onPerplexityPrepared(chunks);
            answerOneChunk(session, submits, qint64(nll * 10), nll);
            QVERIFY(!panel.busy());
        }
        const QAbstractItemModel* table = panel.table()->model();
        QCOMPARE(table, session.perplexityLog());  // the session keeps the runs (exports read them there)
        QCOMPARE(table->rowCount(), 2);
        auto cell = [&](int row, int column) { return table->index(row, column).data().toString(); };
        QCOMPARE(cell(0, PerplexityLog::Ppl), QString::number(std::exp(2.0), 'f', 4));
        QCOMPARE(cell(0, PerplexityLog::Change), QString("base"));
        QCOMPARE(cell(1, PerplexityLog::Ppl), QString::number(std::exp(2.5), 'f', 4));
        QCOMPARE(cell(1, PerplexityLog::Change), QString("+64.87 %"));  // e^0.5 - 1
        QCOMPARE(cell(1, PerplexityLog::Scored), QString("2"));
        QCOMPARE(cell(1, PerplexityLog::Model), QString("stories260K"));
        QVERIFY(panel.statusText().contains("Final estimate: PPL = 12.1825"));

        // Right-click ▸ Compare with This Run on the second: the first is now e^-0.5 - 1 from it.
        QCOMPARE(panel.table()->actions().size(), 1);
        panel.table()->selectRow(1);
        panel.table()->actions().first()->trigger();
        QCOMPARE(cell(1, PerplexityLog::Change), QString("base"));
        QCOMPARE(cell(0, PerplexityLog::Change), QString("-39.35 %"));
        QVERIFY(panel.statusText().contains("compared with run 2"));
        const PerplexityRecord& second = session.perplexityLog()->records()[1];
        QCOMPARE(second.state, PerplexityRecord::State::Finished);
        QCOMPARE(second.chunksDone, 1);
        QVERIFY(second.seconds > 0);

        // Clear: not while a run runs, then every run is forgotten.
        QVERIFY(panel.measure());
        QVERIFY(!panel.clearButton()->isEnabled());
        panel.clearRuns();
        QCOMPARE(table->rowCount(), 2);
        panel.stop();
        QVERIFY(panel.clearButton()->isEnabled());
        panel.clearButton()->click();
        QCOMPARE(table->rowCount(), 0);
        QVERIFY(!panel.compareWith(0));
    }

    // Clear and Save… are offered only when there are runs to clear or save.
    void clearAndSaveWaitForARun() {
        Session session;
        PerplexityPanel panel(&session);
        auto* save = panel.findChild<QPushButton*>("savePerplexity");
        QVERIFY(save);
        QVERIFY(!panel.clearButton()->isEnabled());
        QVERIFY(!save->isEnabled());
        session.onModelLoaded(embeddedModel());
        QVERIFY(!panel.clearButton()->isEnabled());
        QVERIFY(!save->isEnabled());

        QSignalSpy asked(&session, &Session::perplexityCommand);
        QSignalSpy submits(&session, &Session::submitCommand);
        panel.contextBox()->setValue(6);
        QVERIFY(panel.measure());
        QVERIFY(!save->isEnabled());  // tokenising: no run in the table yet
        PerplexityChunks chunks;
        chunks.id = asked.last().at(0).value<PerplexityText>().id;
        chunks.chunks = {{1, 2, 3, 4, 5, 6}};
        session.onPerplexityPrepared(chunks);
        QVERIFY(save->isEnabled());                  // the running run's row
        QVERIFY(!panel.clearButton()->isEnabled());  // not while it runs
        answerOneChunk(session, submits, 7, 2.0);
        QVERIFY(!panel.busy());
        QVERIFY(save->isEnabled());
        QVERIFY(panel.clearButton()->isEnabled());
        panel.clearButton()->click();
        QCOMPARE(panel.table()->model()->rowCount(), 0);
        QVERIFY(!panel.clearButton()->isEnabled());
        QVERIFY(!save->isEnabled());
    }

    // The context the user asks for is kept: a model with a shorter context runs it clamped to
    // its own, and a longer one runs it as asked again.
    void theContextAskedForOutlivesASmallerModel() {
        Session session;
        PerplexityPanel panel(&session);
        QSignalSpy asked(&session, &Session::perplexityCommand);
        ModelSummary large = embeddedModel();
        large.contextLength = 2048;
        ModelSummary small = embeddedModel();
        small.contextLength = 64;
        session.onModelLoaded(large);
        panel.contextBox()->setValue(2047);
        session.onModelLoaded(small);
        QCOMPARE(panel.contextBox()->value(), 63);
        QVERIFY(panel.measure());
        QCOMPARE(asked.last().at(0).value<PerplexityText>().options.context, 63);
        panel.stop();
        session.onModelLoaded(large);
        QCOMPARE(panel.contextBox()->value(), 2047);
        QVERIFY(panel.measure());
        QCOMPARE(asked.last().at(0).value<PerplexityText>().options.context, 2047);
        panel.stop();
        // A value chosen while the small model is loaded is what the user asks for from then on.
        session.onModelLoaded(small);
        panel.contextBox()->setValue(32);
        session.onModelLoaded(large);
        QCOMPARE(panel.contextBox()->value(), 32);
    }
};

}  // namespace perplexity_panel_test

KVSCOPE_QTEST_MAIN(perplexity_panel_test, PerplexityPanelTest)
#include "perplexity_panel_test.moc"
