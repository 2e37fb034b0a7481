// The memory lab panel, offscreen: a hand-built trace file run through the panel gives the
// report run_lab gives directly (totals, table, bars, the time series); cancel stops a long
// replay and keeps the previous results; a bad trace file shows the reader's message and keeps
// them too; the exports write a JSON report that parses back and a PNG; and with the real
// EngineWorker on its own thread, the session's finished requests come over as the lab's trace.

#include <qcustomplot.h>
#include <QCheckBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include "app/bridge/engine_worker.h"
#include "app/bridge/session_wiring.h"
#include "engine/lab/replay.h"
#include "engine/trace_io.h"
#include "tests/ui/qt_test_main.h"
#include "ui/lab_charts.h"
#include "ui/lab_panel.h"
#include "ui/request_log.h"
#include "ui/session.h"
#include "ui/workbench_settings.h"

namespace lab_panel_test {

using namespace kvscope;
using namespace kvscope::ui;

TraceRequest request(double arrival, std::int32_t prompt, std::vector<std::int32_t> outputs) {
    TraceRequest r;
    r.arrival_s = arrival;
    r.prompt_len = prompt;
    r.output_lens = std::move(outputs);
    return r;
}

// Small enough to reason about, busy enough that every allocator differs: a shared prompt
// (prefix caching), parallel samples, arrivals spread over time, and a budget that forces the
// paged allocators to preempt.
Trace smallTrace() {
    Trace t;
    t.header.source = "lab_panel_test";
    t.header.max_model_len = 256;
    t.header.kv_bytes_per_token = 1024;
    t.header.kv_cache_tokens = 640;
    const std::vector<std::int32_t> shared = {1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61, 65, 69};
    for (int i = 0; i < 12; ++i) {
        TraceRequest r = request(0.05 * i, 0, {20 + 7 * (i % 5)});
        r.prompt_token_ids = shared;
        r.prompt_token_ids.push_back(100 + i);
        r.prompt_len = std::int32_t(r.prompt_token_ids.size());
        t.requests.push_back(r);
    }
    t.requests.push_back(request(0.2, 40, {30, 12}));
    t.requests.push_back(request(0.3, 90, {100}));
    return t;
}

QString writeTrace(const QTemporaryDir& dir, const QString& name, const Trace& trace) {
    const QString path = dir.filePath(name);
    write_trace(trace, path.toStdString());
    return path;
}

bool waitFinished(LabPanel& panel, QSignalSpy& spy, int ms = 60000) {
    return QTest::qWaitFor([&] { return spy.count() >= 1 && !panel.isRunning(); }, ms);
}

class LabPanelTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    Session m_session;  // no engine: the file traces need none
    LabPanel* m_panel = nullptr;
    Trace m_trace = smallTrace();

    void runAndWait() {
        QSignalSpy finished(m_panel, &LabPanel::finished);
        m_panel->run();
        QVERIFY(m_panel->isRunning());
        QVERIFY(waitFinished(*m_panel, finished));
    }

private slots:
    void initTestCase() {
        app::EngineWorker::registerMetaTypes();
        m_panel = new LabPanel(&m_session);
        m_panel->resize(1400, 500);
        m_panel->show();
    }

    void cleanupTestCase() { delete m_panel; }

    void aTraceFileRunsToTheReportRunLabGives() {
        QVERIFY(m_panel->openTraceFile(writeTrace(m_dir, "small.jsonl", m_trace)));
        QCOMPARE(m_panel->source(), LabPanel::Source::File);
        QCOMPARE(m_panel->budgetTokens(), qint64(640));  // the trace's header
        QCOMPARE(int(m_panel->selectedAllocators().size()), 9);
        runAndWait();
        QVERIFY(m_panel->report().has_value());
        const lab::LabReport& got = *m_panel->report();
        QCOMPARE(got.config.budget_tokens, std::int64_t(640));
        QCOMPARE(got.config.max_model_len, 256);
        QCOMPARE(got.config.bytes_per_token, std::int64_t(1024));

        const lab::LabReport want = lab::run_lab(m_trace, got.config, lab::default_allocators());
        QCOMPARE(got.num_requests, 14);
        QCOMPARE(got.runs.size(), want.runs.size());
        bool somePreempted = false;
        for (std::size_t i = 0; i < want.runs.size(); ++i) {
            const lab::LabTotals &a = got.runs[i].totals, &b = want.runs[i].totals;
            QCOMPARE(QString::fromStdString(got.runs[i].name), QString::fromStdString(want.runs[i].name));
            QCOMPARE(a.slot_steps.token, b.slot_steps.token);
            QCOMPARE(a.slot_steps.reserved, b.slot_steps.reserved);
            QCOMPARE(a.slot_steps.internal, b.slot_steps.internal);
            QCOMPARE(a.slot_steps.external, b.slot_steps.external);
            QCOMPARE(a.slot_steps.cached, b.slot_steps.cached);
            QCOMPARE(a.max_batch, b.max_batch);
            QCOMPARE(a.mean_batch, b.mean_batch);
            QCOMPARE(a.num_preemptions, b.num_preemptions);
            QCOMPARE(a.num_refused, b.num_refused);
            QCOMPARE(a.makespan_steps, b.makespan_steps);
            somePreempted = somePreempted || a.num_preemptions > 0;
        }
        QVERIFY(somePreempted);  // the budget is tight enough to matter
    }

    void theTableShowsTheTotals() {
        const lab::LabReport& r = *m_panel->report();
        QTableWidget* table = m_panel->totalsTable();
        QCOMPARE(table->rowCount(), int(r.runs.size()));
        for (int i = 0; i < table->rowCount(); ++i) {
            const lab::LabTotals& t = r.runs[std::size_t(i)].totals;
            QCOMPARE(table->item(i, 0)->text(), QString::fromStdString(r.runs[std::size_t(i)].name));
            QCOMPARE(table->item(i, 1)->text(), QString::number(100 * t.token_share_of_used(), 'f', 1) + "%");
            QCOMPARE(table->item(i, 2)->text().toInt(), t.max_batch);
            QCOMPARE(table->item(i, 4)->text().toLongLong(), t.num_preemptions);
            QCOMPARE(table->item(i, 5)->text().toInt(), t.num_refused);
            QCOMPARE(table->item(i, 6)->text().toLongLong(), t.makespan_steps);
        }
    }

    void theBarsAreTheSharesOfTheMemoryInUse() {
        const lab::LabReport& r = *m_panel->report();
        QCustomPlot* plot = m_panel->barChart();
        for (int p = 0; p < kNumUsedParts; ++p) {
            QCPBars* bars = shareBars(plot, p);
            QVERIFY(bars);
            QCOMPARE(bars->data()->size(), int(r.runs.size()));
            for (std::size_t i = 0; i < r.runs.size(); ++i) {
                const lab::MemoryUse& m = r.runs[i].totals.slot_steps;
                const double share = 100.0 * double(m.*labParts()[std::size_t(p)].field) / double(m.used());
                QCOMPARE(bars->data()->at(int(i))->mainValue(), share);
            }
        }
        // Stacked, they fill each bar; the token share is written above it.
        for (std::size_t i = 0; i < r.runs.size(); ++i) {
            double top = 0;
            for (int p = 0; p < kNumUsedParts; ++p) top += shareBars(plot, p)->data()->at(int(i))->mainValue();
            QVERIFY(qAbs(top - 100.0) < 1e-9);
            auto* label = qobject_cast<QCPItemText*>(plot->item(int(i)));
            QVERIFY(label);
            QCOMPARE(label->text(), QString::number(100 * r.runs[i].totals.token_share_of_used(), 'f', 1) + "%");
        }
    }

    void theSeriesStackTheChosenAllocatorsMemory() {
        const lab::LabReport& r = *m_panel->report();
        for (const int index : {0, 3}) {  // orca-max, paged-8
            m_panel->showSeriesOf(index);
            const lab::LabRun& run = r.runs[std::size_t(index)];
            QCustomPlot* plot = m_panel->seriesChart();
            QCPGraph* token = plot->graph(0);
            QCPGraph* batch = plot->graph(plot->graphCount() - 1);
            QCOMPARE(token->data()->size(), int(run.steps.size()));  // few steps: every one
            for (std::size_t s = 0; s < run.steps.size(); ++s) {
                QCOMPARE(token->data()->at(int(s))->key, double(run.steps[s].step));
                QCOMPARE(token->data()->at(int(s))->value, double(run.steps[s].memory.token));
                QCOMPARE(batch->data()->at(int(s))->value, double(run.steps[s].num_batched_seqs));
            }
            // The top area reaches the memory in use (+ the prefix cache).
            const std::size_t last = run.steps.size() / 2;
            const lab::MemoryUse& m = run.steps[last].memory;
            QCOMPARE(plot->graph(plot->graphCount() - 3)->data()->at(int(last))->value, double(m.used() + m.cached));
            QCOMPARE(batch->valueAxis(), plot->yAxis2);
        }
    }

    void theExportsWriteTheReportAndTheCharts() {
        const QString json = m_dir.filePath("lab.json"), png = m_dir.filePath("lab.png");
        QCOMPARE(m_panel->exportJson(json), QString());
        QFile file(json);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonObject doc = QJsonDocument::fromJson(file.readAll()).object();
        const QJsonArray allocators = doc["allocators"].toArray();
        const lab::LabReport& r = *m_panel->report();
        QCOMPARE(allocators.size(), qsizetype(r.runs.size()));
        for (int i = 0; i < allocators.size(); ++i) {
            const QJsonObject a = allocators[i].toObject();
            QCOMPARE(a["name"].toString(), QString::fromStdString(r.runs[std::size_t(i)].name));
            QVERIFY(qAbs(a["totals"].toObject()["token_share_of_used"].toDouble() -
                         r.runs[std::size_t(i)].totals.token_share_of_used()) < 1e-9);
        }
        QCOMPARE(m_panel->exportPng(png), QString());
        const QImage image(png);
        QCOMPARE(image.size(), QSize(1640, 520));
        QVERIFY(!QDir(m_dir.path()).entryList({"*.tmp", ".*lab*"}, QDir::Files | QDir::Hidden).size());
        QVERIFY(!m_panel->exportJson(m_dir.filePath("no/such/dir/lab.json")).isEmpty());
    }

    void cancelStopsALongReplayAndKeepsTheResults() {
        const lab::LabReport before = *m_panel->report();
        Trace big;
        for (int i = 0; i < 2000; ++i) big.requests.push_back(request(0, 100 + i % 300, {200 + (i * 37) % 300}));
        QVERIFY(m_panel->openTraceFile(writeTrace(m_dir, "big.jsonl", big)));
        m_panel->setBudgetTokens(20000);
        QSignalSpy finished(m_panel, &LabPanel::finished);
        m_panel->run();
        QVERIFY(m_panel->isRunning());
        m_panel->cancel();
        QVERIFY(waitFinished(*m_panel, finished));
        QVERIFY(m_panel->statusText().contains("Cancelled"));
        auto* progress = m_panel->findChild<QProgressBar*>();
        QVERIFY(progress->value() < progress->maximum());  // stopped before the last allocator
        QCOMPARE(m_panel->report()->num_requests, before.num_requests);
        QCOMPARE(m_panel->totalsTable()->rowCount(), int(before.runs.size()));
    }

    void aBadTraceFileShowsItsErrorAndKeepsTheResults() {
        const std::size_t runs = m_panel->report()->runs.size();
        const QString path = m_dir.filePath("bad.jsonl");
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("{\"arrival_s\": 0, \"prompt_len\": 4, \"output_len\": 2}\n{\"prompt_len\": 4}\n");
        file.close();
        QSignalSpy errors(m_panel, &LabPanel::errorShown);
        QVERIFY(!m_panel->openTraceFile(path));
        QCOMPARE(errors.count(), 1);
        QVERIFY2(m_panel->lastError().startsWith(path + ":2:"), qPrintable(m_panel->lastError()));
        auto* box = m_panel->findChild<QMessageBox*>();
        QVERIFY(box && box->isVisible());
        QCOMPARE(box->text(), m_panel->lastError());
        box->close();
        QCOMPARE(m_panel->report()->runs.size(), runs);
        QVERIFY(m_panel->statusText().contains(":2:"));
        // No allocator chosen: said, nothing run.
        for (const char* name : {"labMax", "labPow2", "labOracle", "labPaged", "labPagedPrefix"}) {
            m_panel->findChild<QCheckBox*>(name)->setChecked(false);
        }
        m_panel->run();
        QVERIFY(!m_panel->isRunning());
        QVERIFY(m_panel->lastError().contains("No allocator"));
        QCOMPARE(m_panel->report()->runs.size(), runs);
    }

    // A session with no finished requests: the error is shown, and the panel is ready to run
    // again (Run enabled, Cancel not) rather than stuck as if still collecting.
    void anEmptySessionTraceLeavesThePanelReadyToRunAgain() {
        Session session;
        ModelSummary model;
        model.numBlocks = 64;
        model.blockSize = 16;
        session.onModelLoaded(model);
        int asked = 0;
        connect(&session, &Session::traceCommand, &session, [&] {
            ++asked;
            QMetaObject::invokeMethod(
                &session, [&] { session.onTrace(Trace{}); }, Qt::QueuedConnection);
        });
        LabPanel panel(&session);
        auto* runButton = panel.findChild<QPushButton*>("labRun");
        QVERIFY(runButton);
        QPushButton* cancelButton = nullptr;
        for (QPushButton* b : panel.findChildren<QPushButton*>()) {
            if (b->text() == "Cancel") cancelButton = b;
        }
        QVERIFY(cancelButton);
        for (int attempt = 1; attempt <= 2; ++attempt) {
            QSignalSpy finished(&panel, &LabPanel::finished);
            QTest::mouseClick(runButton, Qt::LeftButton);
            QCOMPARE(asked, attempt);  // the click ran
            QVERIFY(waitFinished(panel, finished));
            QVERIFY(panel.lastError().contains("no finished requests"));
            QVERIFY(runButton->isEnabled());
            QVERIFY(!cancelButton->isEnabled());
            for (QMessageBox* box : panel.findChildren<QMessageBox*>()) box->close();
        }
    }

    void theSessionsRequestsBecomeTheTrace() {
        QThread thread;
        auto* worker = new app::EngineWorker;
        worker->moveToThread(&thread);
        connect(&thread, &QThread::finished, worker, &QObject::deleteLater);
        Session session;
        app::connectSession(&session, worker);
        thread.start();
        {
            LabPanel panel(&session);
            QSignalSpy loaded(&session, &Session::modelLoaded);
            LoadRequest load;
            load.source = embeddedModelSource();
            load.config.num_kv_blocks = 64;
            session.load(load);
            QVERIFY(QTest::qWaitFor([&] { return loaded.count() == 1; }, 20000));
            QCOMPARE(panel.budgetTokens(), qint64(64) * session.model().blockSize);  // the session's KV cache

            std::vector<std::vector<std::int32_t>> prompts;
            for (int i = 0; i < 4; ++i) {
                Request r;
                r.prompt_token_ids = {1, 300 + i, 310, 320 + 2 * i};
                r.params.max_tokens = 5 + i;
                r.params.ignore_eos = true;
                r.params.temperature = 0;
                prompts.push_back(r.prompt_token_ids);
                session.submit(r, nullptr, "test");
            }
            const auto allDone = [&] {
                const auto& records = session.requestLog()->records();
                return records.size() == 4 &&
                       std::all_of(records.begin(), records.end(), [](const RequestRecord& r) { return r.done(); });
            };
            QVERIFY(QTest::qWaitFor(allDone, 20000));

            QSignalSpy traces(&session, &Session::traceArrived);
            QSignalSpy finished(&panel, &LabPanel::finished);
            panel.run();
            QVERIFY(waitFinished(panel, finished));
            QCOMPARE(panel.lastError(), QString());
            QCOMPARE(traces.count(), 1);
            const Trace trace = traces.at(0).at(0).value<Trace>();
            QCOMPARE(int(trace.requests.size()), 4);
            for (int i = 0; i < 4; ++i) {
                const TraceRequest& t = trace.requests[std::size_t(i)];
                QCOMPARE(t.prompt_token_ids, prompts[std::size_t(i)]);
                QCOMPARE(t.output_lens, std::vector<std::int32_t>{5 + i});
            }
            QCOMPARE(trace.requests.front().arrival_s, 0.0);
            QCOMPARE(*trace.header.kv_cache_tokens, qint64(64) * session.model().blockSize);
            const lab::LabReport& r = *panel.report();
            QCOMPARE(r.num_requests, 4);
            QCOMPARE(r.num_prompt_tokens, std::int64_t(16));
            QCOMPARE(r.num_output_tokens, std::int64_t(5 + 6 + 7 + 8));
            QCOMPARE(r.config.max_num_seqs, session.model().config.max_num_seqs);
            // Taken requests stay in the session's trace.
            panel.run();
            QVERIFY(QTest::qWaitFor([&] { return traces.count() == 2 && !panel.isRunning(); }, 20000));
            QCOMPARE(int(traces.at(1).at(0).value<Trace>().requests.size()), 4);
        }
        thread.quit();
        thread.wait();
    }
};

}  // namespace lab_panel_test

KVSCOPE_QTEST_MAIN(lab_panel_test, LabPanelTest)
#include "lab_panel_test.moc"
