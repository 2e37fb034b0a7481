// The workbench end to end, offscreen: the real EngineWorker on its own thread, the Session and
// the main window with every panel. Loads the embedded model, chats (tokens stream in, the
// known-good greedy text arrives), sees the chat's blocks in the inspector (held while it runs,
// cached after) and gone after a prefix-cache reset, reads a block's tokens, runs a small
// synthetic batch beside it, exports the session as JSON and CSV that parse back (a refused chat
// turn and a cancelled batch's requests included, as the refusal and the summary count them), and shows a
// turn's token probabilities as an engine of the test's own computes them, and measures the
// sample text's perplexity as llama-perplexity does.

#include <QAction>
#include <QCheckBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QMenu>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include "app/bridge/engine_worker.h"
#include "app/bridge/session_wiring.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "tests/ui/qt_test_main.h"
#include "ui/batch_panel.h"
#include "ui/batch_run.h"
#include "ui/chat_panel.h"
#include "ui/inspector_panel.h"
#include "ui/inspector_scene.h"
#include "ui/main_window.h"
#include "ui/perplexity_log.h"
#include "ui/perplexity_panel.h"
#include "ui/request_log.h"
#include "ui/sampling_controls.h"
#include "ui/session.h"
#include "ui/session_export.h"
#include "ui/session_recorder.h"
#include "ui/token_probabilities.h"
#include "ui/workbench_settings.h"

namespace workbench_e2e_test {

using namespace kvscope;
using namespace kvscope::ui;

int countKind(const InspectorScene& scene, BlockKind kind) {
    int n = 0;
    for (int b = 0; b < scene.numBlocks(); ++b) n += scene.kind(b) == kind;
    return n;
}

class WorkbenchE2eTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QThread m_thread;
    Session* m_session = nullptr;
    QSettings* m_store = nullptr;
    MainWindow* m_window = nullptr;

    // Loads the embedded model with a cache of 256 blocks and waits for it.
    bool loadEmbedded() {
        QSignalSpy loaded(m_session, &Session::modelLoaded);
        LoadRequest load;
        load.source = embeddedModelSource();
        load.config.num_kv_blocks = 256;
        m_session->load(load);
        return QTest::qWaitFor([&] { return loaded.count() == 1; }, 10000);
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        app::EngineWorker::registerMetaTypes();
        auto* worker = new app::EngineWorker;
        worker->moveToThread(&m_thread);
        connect(&m_thread, &QThread::finished, worker, &QObject::deleteLater);
        m_session = new Session;
        app::connectSession(m_session, worker);
        m_thread.start();
        m_store = new QSettings(m_dir.filePath("settings.ini"), QSettings::IniFormat);
        m_window = new MainWindow(m_session, m_store);
        m_window->restoreLayout();
        m_window->show();

        QVERIFY(loadEmbedded());
        QCOMPARE(m_session->model().numBlocks, 256);
        // The load is remembered.
        QCOMPARE(m_store->value("cache/numBlocks").toInt(), 256);
        QTRY_COMPARE(m_window->inspector()->scene().numBlocks(), 256);
    }

    void cleanupTestCase() {
        m_window->close();
        delete m_window;
        m_thread.quit();
        m_thread.wait();
        delete m_session;
        delete m_store;
    }

    void aChatTurnStreamsAndItsBlocksAppearInTheInspector() {
        int mostHeld = 0;
        auto watch = connect(m_session, &Session::snapshotArrived, this, [&](std::shared_ptr<const EngineSnapshot> s) {
            mostHeld = std::max(mostHeld, s->kv.stats.num_used_blocks);
        });
        QSignalSpy rows(m_session->requestLog(), &RequestLog::dataChanged);
        ChatPanel* chat = m_window->chat();
        chat->samplingControls()->findChild<QDoubleSpinBox*>("temperature")->setValue(0.0);
        chat->samplingControls()->findChild<QSpinBox*>("maxTokens")->setValue(24);
        chat->send("Once upon a time");
        QVERIFY(QTest::qWaitFor([&] { return !chat->conversation(0).busy(); }, 10000));
        disconnect(watch);
        const ChatTurn& answer = chat->conversation(0).turns().back();
        QVERIFY2(answer.text().startsWith(", there was a little girl named Lily. She loved to play outsid"),
                 qPrintable(answer.text()));
        QCOMPARE(answer.finishReason, QString("length"));
        QVERIFY(rows.count() >= 5);  // one update per streamed step, and more
        QVERIFY(mostHeld > 0);       // the turn held blocks while it ran
        QTRY_VERIFY(chat->transcriptText().contains("there was a little girl named Lily"));
        // Idle: the inspector shows the turn's full blocks as cached (28 tokens: one full block).
        QTRY_VERIFY(countKind(m_window->inspector()->scene(), BlockKind::Cached) >= 1);
        QCOMPARE(countKind(m_window->inspector()->scene(), BlockKind::Active), 0);
        QVERIFY(m_window->inspector()->countersText().contains("cached"));
    }

    void aBlockNamesTheTokensItHolds() {
        const InspectorScene& scene = m_window->inspector()->scene();
        int cached = -1;
        for (int b = 0; b < scene.numBlocks() && cached < 0; ++b)
            if (scene.kind(b) == BlockKind::Cached) cached = b;
        QVERIFY(cached >= 0);
        QSignalSpy tokens(m_session, &Session::blockTokensArrived);
        m_window->inspector()->selectBlock(cached);
        QVERIFY(QTest::qWaitFor([&] { return tokens.count() >= 1; }, 5000));
        QTRY_VERIFY(m_window->inspector()->detailsHtml().contains("Once"));
        QVERIFY(m_window->inspector()->detailsHtml().contains(QString("Block %1").arg(cached)));
    }

    void aSecondTurnHitsThePrefixCache() {
        ChatPanel* chat = m_window->chat();
        chat->send(" The end.");
        QVERIFY(QTest::qWaitFor([&] { return !chat->conversation(0).busy(); }, 10000));
        const ChatTurn& answer = chat->conversation(0).turns().back();
        QVERIFY(answer.timings.has_value());
        QVERIFY2(answer.timings->num_cached_tokens >= 16, "the first turn's full block should be a hit");
    }

    void resetEmptiesTheCacheAndTheInspectorShowsIt() {
        QSignalSpy reset(m_session, &Session::prefixCacheResetDone);
        m_session->resetPrefixCache();
        QVERIFY(QTest::qWaitFor([&] { return reset.count() == 1; }, 5000));
        QCOMPARE(reset.at(0).at(0).toBool(), true);
        QTRY_COMPARE(countKind(m_window->inspector()->scene(), BlockKind::Cached), 0);
        QCOMPARE(countKind(m_window->inspector()->scene(), BlockKind::Free), 256);
    }

    void theWindowFitsALaptopScreen() {
        // With every panel laid out as it starts (chat, inspector, batch queue, charts), the
        // layout's minimum leaves room on a 1280 x 800 screen for the window's frame and a panel.
        const QSize minimum = m_window->minimumSizeHint();
        QVERIFY2(minimum.width() <= 1240 && minimum.height() <= 740,
                 qPrintable(QString("%1 x %2").arg(minimum.width()).arg(minimum.height())));
    }

    void theEngineMenuOffersStartOnlyWhenPaused() {
        QAction* start = nullptr;
        QAction* pause = nullptr;
        for (QAction* a : m_window->menu(MainWindow::Menu::Engine)->actions()) {
            if (a->text() == "&Start") start = a;
            if (a->text() == "&Pause") pause = a;
        }
        QVERIFY(start && pause);
        QVERIFY(!start->isEnabled() && pause->isEnabled());
        pause->trigger();  // the worker answers; the actions follow its answer, not the click
        QTRY_VERIFY(m_session->paused());
        QVERIFY(start->isEnabled() && !pause->isEnabled());
        start->trigger();
        QTRY_VERIFY(!m_session->paused());
        QVERIFY(!start->isEnabled() && pause->isEnabled());
    }

    void aSmallBatchRunsBesideTheChat() {
        BatchPanel* batch = m_window->batch();
        QSignalSpy finished(batch, &BatchPanel::runFinished);
        WorkloadSpec spec;
        spec.num_requests = 12;
        spec.prompt_len = LengthDistribution::parse("uniform:40-60", "p");
        spec.output_len = LengthDistribution::parse("8", "o");
        spec.shared_prefix_fraction = 0.5;
        QVERIFY(batch->startSynthetic(spec));
        // One batch runs at a time; the button says that another cancels this one.
        const auto* startButton = batch->findChild<QPushButton*>("batchStart");
        QVERIFY(startButton);
        QCOMPARE(startButton->text(), QString("Cancel && start another"));
        m_window->chat()->send(" Then");  // chat keeps working while the batch runs
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 1; }, 20000));
        QCOMPARE(batch->currentRun()->finished(), 12);
        QCOMPARE(batch->currentRun()->generatedTokens(), 12 * 8);
        QCOMPARE(batch->table()->model()->rowCount(), 12);
        QVERIFY(QTest::qWaitFor([&] { return !m_window->chat()->conversation(0).busy(); }, 10000));
        // Shared prefixes were served from the cache.
        QTRY_VERIFY(m_session->latest() && m_session->latest()->metrics.prefix_cache_hits > 0);
    }

    void promptsLongerThanTheContextAreRefusedBeforeAnyIsBuilt() {
        // 200 prompts of ~1e7 tokens each used to be built on the UI thread (gigabytes, a frozen
        // window) and then refused one by one.
        BatchPanel* batch = m_window->batch();
        BatchRun* before = batch->currentRun();
        WorkloadSpec spec;
        spec.num_requests = 200;
        spec.prompt_len = LengthDistribution::parse("999999999", "p");
        QVERIFY(!batch->startSynthetic(spec));
        QCOMPARE(batch->currentRun(), before);
        const auto* summary = batch->findChild<QLabel*>("batchSummary");
        QVERIFY(summary);
        QVERIFY2(summary->text().contains("do not fit stories260K's context of"), qPrintable(summary->text()));
    }

    void theSessionExportsAsJsonAndCsv() {
        const QString json = m_dir.filePath("session.json");
        QCOMPARE(exportSessionJson(*m_session, json), QString());
        QFile f(json);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject o = QJsonDocument::fromJson(f.readAll()).object();
        QCOMPARE(o["model"].toObject()["name"].toString(), QString("stories260K"));
        QCOMPARE(o["requests"].toArray().size(), 3 + 12);  // three chat turns and the batch
        QVERIFY(o["time_series"].toArray().size() >= 3);
        QCOMPARE(o["totals"].toObject()["generation_tokens"].toInt(),
                 int(m_session->latest()->metrics.generation_tokens));
        QString error;
        const QStringList files = exportSessionCsv(*m_session, m_dir.filePath("session.csv"), &error);
        QCOMPARE(error, QString());
        QCOMPARE(files.size(), 3);
        QFile csv(files[0]);
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(csv.readAll()).trimmed().split('\n');
        QCOMPARE(lines[0], timeSeriesColumns().join(','));
        QCOMPARE(lines.size(), int(m_session->recorder()->samples().size()) + 1);
        const QImage view = m_window->inspector()->viewImage();
        QVERIFY(!view.isNull());
    }

    // A chat turn the engine refuses (longer than the context) and a batch cancelled half-way,
    // exported. Oracles: the token count in the engine's refusal, and the counts of the batch's
    // summary line; every request has an identity of its own.
    void requestsTheEngineNeverRanExportAsTheyWere() {
        ChatPanel* chat = m_window->chat();
        chat->newConversation();
        const int index = chat->currentConversation();
        chat->send(QString("Once upon a time there was a dog. ").repeated(300));  // ~3000 tokens
        QVERIFY(QTest::qWaitFor([&] { return !chat->conversation(index).busy(); }, 10000));
        const RequestRecord turn = m_session->requestLog()->records().back();  // a copy: the log grows
        QCOMPARE(turn.state, RequestState::Rejected);
        const QRegularExpressionMatch said =
            QRegularExpression("the prompt has (\\d+) tokens").match(turn.finishReason);
        QVERIFY2(said.hasMatch(), qPrintable(turn.finishReason));

        BatchPanel* batch = m_window->batch();
        WorkloadSpec spec;
        spec.num_requests = 40;
        spec.prompt_len = LengthDistribution::parse("20", "p");
        spec.output_len = LengthDistribution::parse("4", "o");
        spec.request_rate = 4;  // 10 s of arrivals: cancelled after the first few
        QVERIFY(batch->startSynthetic(spec));
        BatchRun* run = batch->currentRun();
        QVERIFY(QTest::qWaitFor([&] { return run->finished() >= 2; }, 20000));
        batch->cancel();
        QVERIFY(QTest::qWaitFor([&] { return run->isDone(); }, 10000));
        const QString summary = batch->summaryText();
        auto count = [&](const QString& what) {
            const QRegularExpressionMatch m = QRegularExpression("(\\d+) " + what).match(summary);
            return m.hasMatch() ? m.captured(1).toInt() : -1;
        };
        QVERIFY2(count("cancelled") > 20 && count("finished") >= 2, qPrintable(summary));

        const QJsonArray requests = sessionJson(*m_session)["requests"].toArray();
        QSet<qint64> workbenchIds;
        QMap<QString, int> batchStates;
        bool sawTurn = false;
        for (const QJsonValue& v : requests) {
            const QJsonObject r = v.toObject();
            workbenchIds.insert(r["workbench_id"].toInteger(-1));
            if (r["state"].toString() == "rejected" && r["source"].toString() == turn.source) {
                sawTurn = true;
                QVERIFY(r["id"].isNull());
                QCOMPARE(r["prompt_tokens"].toInt(), said.captured(1).toInt());  // was 0
            }
            if (r["source"].toString() == run->source()) ++batchStates[r["state"].toString()];
        }
        QVERIFY(sawTurn);
        QCOMPARE(workbenchIds.size(), requests.size());
        QVERIFY(!workbenchIds.contains(-1));
        QCOMPARE(batchStates["finished"], count("finished"));
        QCOMPARE(batchStates["rejected"], count("rejected"));
        QCOMPARE(batchStates["aborted"] + batchStates["not sent"], count("cancelled"));  // never sent: were missing
        QVERIFY(batchStates["not sent"] > 0);
        QCOMPARE(batchStates["finished"] + batchStates["rejected"] + batchStates["aborted"] + batchStates["not sent"],
                 spec.num_requests);
    }

    // The chat's token probabilities against an engine of the test's own, given the same prompt.
    void tokenProbabilitiesMatchAnEngineOfTheirOwn() {
        ChatPanel* chat = m_window->chat();
        chat->newConversation();
        const int index = chat->currentConversation();
        chat->probabilitiesBox()->setChecked(true);
        chat->send("Once upon a time");
        QVERIFY(QTest::qWaitFor([&] { return !chat->conversation(index).busy(); }, 10000));
        const ChatTurn& answer = chat->conversation(index).turns().back();
        QVERIFY(answer.hasScores());
        const std::vector<SampleResult>& shown = answer.scores[0];
        QCOMPARE(int(shown.size()), 24);

        const std::shared_ptr<const Model> model = Model::load("");
        Engine engine(model, EngineConfig{});
        Request request;
        const std::vector<ChatMessage> messages{{"user", "Once upon a time"}};
        request.prompt_token_ids = model->tokenizer().encode(model->chat_template().apply(messages, true), true, true);
        request.params.temperature = 0;
        request.params.max_tokens = 24;
        request.params.logprobs = 5;
        engine.add_request(request);
        std::vector<SampleResult> expected;
        while (engine.has_work())
            for (const RequestOutput& out : engine.step())
                for (const SequenceOutput& s : out.samples)
                    expected.insert(expected.end(), s.logprobs.begin(), s.logprobs.end());
        QCOMPARE(shown.size(), expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            QCOMPARE(shown[i].token, expected[i].token);
            QCOMPARE(shown[i].rank, 1);  // greedy
            QVERIFY2(std::abs(shown[i].logprob - expected[i].logprob) < 1e-4f, qPrintable(QString::number(i)));
            QCOMPARE(shown[i].num_top_logprobs, 5);
            for (int k = 0; k < 5; ++k) QCOMPARE(shown[i].top()[k].token, expected[i].top()[k].token);
        }
        // The tokens spell the answer, and each one names its alternatives.
        QTRY_VERIFY(chat->transcriptText().contains(answer.text()));
        QVERIFY(chat->transcriptText().contains("answer perplexity"));
        const int turn = int(chat->conversation(index).turns().size()) - 1;
        QVERIFY(chat->showTokenDetails(tokenLinkUrl({turn, 0, 1, 1})));
        QVERIFY2(chat->tokenDetailsText().contains("rank 1"), qPrintable(chat->tokenDetailsText()));
        QVERIFY(chat->tokenDetailsText().contains(model->tokenizer().token_piece(shown[1].token).c_str() + 1));
        chat->probabilitiesBox()->setChecked(false);
    }

    // The perplexity panel on the built-in sample against llama-perplexity's figures for the
    // embedded model (-c 128: 5.1727 +/- 0.43788 over 7 chunks; see cli_perplexity_test).
    void perplexityOfTheSampleMatchesLlamaCpp() {
        PerplexityPanel* panel = m_window->perplexity();
        QCOMPARE(panel->contextBox()->value(), 128);
        QVERIFY(panel->measureButton()->isEnabled());
        QVERIFY(panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return !panel->busy(); }, 30000));
        QVERIFY2(panel->statusText().contains("Final estimate: PPL = 5.172"), qPrintable(panel->statusText()));
        const QAbstractItemModel* table = panel->table()->model();
        auto cell = [&](int column) { return table->index(0, column).data().toString(); };
        QCOMPARE(table->rowCount(), 1);
        QVERIFY(std::abs(cell(PerplexityLog::Ppl).toDouble() - 5.1727) < 5e-4);
        QVERIFY(std::abs(cell(PerplexityLog::Error).toDouble() - 0.43788) < 5e-4);
        QCOMPARE(cell(PerplexityLog::Chunks), QString("7"));
        QCOMPARE(cell(PerplexityLog::Scored), QString("441"));  // 7 chunks x 63 tokens (the second halves)
        QCOMPARE(cell(PerplexityLog::Cache), QString("F32"));
        QCOMPARE(cell(PerplexityLog::Change), QString("base"));

        // A file that cannot be read, and one too short for a chunk: said, and nothing runs.
        panel->fileEdit()->setText(m_dir.filePath("missing.txt"));
        QVERIFY(!panel->measure());
        QVERIFY(panel->statusText().contains("Could not read"));
        QFile shortText(m_dir.filePath("short.txt"));
        QVERIFY(shortText.open(QIODevice::WriteOnly));
        shortText.write("Once upon a time.");
        shortText.close();
        panel->fileEdit()->setText(shortText.fileName());
        QVERIFY(panel->measure());
        QVERIFY(QTest::qWaitFor([&] { return !panel->busy(); }, 10000));
        QVERIFY2(panel->statusText().contains("fewer than one chunk of 128"), qPrintable(panel->statusText()));
        QCOMPARE(table->rowCount(), 1);
        panel->fileEdit()->clear();

        // The table saves as CSV (atomically: a directory that does not exist is said, nothing written).
        const QString csv = m_dir.filePath("perplexity.csv");
        QCOMPARE(panel->saveCsv(csv), QString());
        QFile saved(csv);
        QVERIFY(saved.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(saved.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 2);
        QCOMPARE(lines[0].split(','), PerplexityLog::fields());
        const QStringList fields = lines[1].split(',');
        QCOMPARE(fields[PerplexityLog::fields().indexOf("scored_tokens")], QString("441"));
        QVERIFY(std::abs(fields[PerplexityLog::fields().indexOf("ppl")].toDouble() - 5.1727) < 5e-4);
        QVERIFY(!panel->saveCsv(m_dir.filePath("no/such/dir/p.csv")).isEmpty());
        QVERIFY(!QFile::exists(m_dir.filePath("no/such/dir/p.csv")));

        // File ▸ Export carries the run too.
        const QJsonArray runs = sessionJson(*m_session)["perplexity_runs"].toArray();
        QCOMPARE(runs.size(), 1);
        QCOMPARE(runs[0].toObject()["scored_tokens"].toInt(), 441);
        QCOMPARE(runs[0].toObject()["text"].toString(), QString("kite_story.txt"));
        QCOMPARE(runs[0].toObject()["text_tokens"].toInt(),
                 fields[PerplexityLog::fields().indexOf("text_tokens")].toInt());
    }

    // Last: it loads the model again. The inspector's selection belonged to the old engine (its
    // request ids start again at 1 in the new one): it goes with it.
    void anotherModelLoadClearsTheInspectorsSelection() {
        InspectorPanel* inspector = m_window->inspector();
        inspector->selectRequest(1);
        QVERIFY2(inspector->detailsHtml().contains("Request 1"), qPrintable(inspector->detailsHtml()));
        QVERIFY(loadEmbedded());
        QVERIFY2(inspector->detailsHtml().contains("Hover a block"), qPrintable(inspector->detailsHtml()));
    }
};

}  // namespace workbench_e2e_test

KVSCOPE_QTEST_MAIN(workbench_e2e_test, WorkbenchE2eTest)
#include "workbench_e2e_test.moc"
