// LoRA adapters in the workbench, offscreen, with the real EngineWorker on its own thread and the
// embedded model: adapters (written on the fly with write_synthetic_lora, as `kvscope-cli
// make-lora` does) load through the LoRA panel and are listed; bad files, a taken name and the base
// model's name are refused with a message and leave the session working; an adapter is unloaded
// only once its requests are done (refused with the reason before), and loads again; a chat turn
// under an adapter yields exactly the tokens the Engine alone gives with that adapter (and not the
// base model's), and so does a batch run under the panel's adapter or a prompts-file line's own;
// the inspector coloured by adapter gives blocks of different adapters different colours; a server
// started from the workbench lists and serves the adapters loaded at each moment; a new model takes
// the adapters that fit it and drops the others, saying so.

#include <httplib.h>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QUrl>
#include <QtTest>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "app/bridge/engine_worker.h"
#include "app/bridge/session_wiring.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/synthetic_lora.h"
#include "engine/synthetic_model.h"
#include "tests/support/served_models.h"
#include "tests/ui/qt_test_main.h"
#include "ui/batch_panel.h"
#include "ui/batch_run.h"
#include "ui/chat_panel.h"
#include "ui/inspector_legend.h"
#include "ui/inspector_palette.h"
#include "ui/inspector_panel.h"
#include "ui/inspector_renderer.h"
#include "ui/inspector_scene.h"
#include "ui/kv_grid_view.h"
#include "ui/lora_panel.h"
#include "ui/main_window.h"
#include "ui/request_log.h"
#include "ui/sampling_controls.h"
#include "ui/session.h"
#include "ui/workbench_settings.h"

namespace lora_workbench_test {

using namespace kvscope;
using namespace kvscope::ui;

// What EngineWorker::submitChat sends for `chat`, built here from the model alone: the oracle's input.
Request chatRequest(const Model& model, const ChatRequest& chat) {
    Request r;
    r.params = chat.params;
    r.lora = chat.lora;
    r.prompt_token_ids = model.tokenizer().encode(model.chat_template().apply(chat.messages, true), true, true);
    for (const std::string& stop : model.chat_template().stop_strings()) r.params.stop.push_back(stop);
    for (const std::int32_t id : model.chat_template().stop_tokens(model.tokenizer()))
        r.params.stop_token_ids.push_back(id);
    return r;
}

std::vector<std::int32_t> generate(Engine& engine, const Request& request) {
    const RequestId id = engine.add_request(request);
    std::vector<std::int32_t> tokens;
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            if (out.id != id) continue;
            for (const SequenceOutput& s : out.samples)
                tokens.insert(tokens.end(), s.new_token_ids.begin(), s.new_token_ids.end());
        }
    }
    return tokens;
}

class LoraWorkbenchTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QThread m_thread;
    app::EngineWorker* m_worker = nullptr;
    Session* m_session = nullptr;
    QSettings* m_store = nullptr;
    MainWindow* m_window = nullptr;
    std::shared_ptr<const Model> m_model;  // the embedded model, for the oracle
    QString m_alpha, m_beta, m_otherBase, m_otherLora;
    std::map<qint64, std::vector<std::int32_t>> m_tokens;  // every request's streamed tokens

    QString path(const QString& name) const { return m_dir.filePath(name); }

    void loadModel(const QString& source, int blocks) {
        QSignalSpy loaded(m_session, &Session::modelLoaded);
        LoadRequest load;
        load.source = source;
        load.config.num_kv_blocks = blocks;
        m_session->load(load);
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() == 1; }, 20000));
        m_tokens.clear();  // a new engine counts its request ids from 1 again
    }

    // Runs one chat turn in a new conversation under `lora` ("" = the base model); its token ids.
    std::vector<std::int32_t> chatTurn(const QString& lora, const QString& text, ChatRequest* sent = nullptr) {
        ChatPanel* chat = m_window->chat();
        QComboBox* combo = chat->loraCombo();
        const int index = combo->findData(lora);
        if (index < 0) return {};
        combo->setCurrentIndex(index);
        chat->newConversation();
        QSignalSpy focused(m_session, &Session::requestFocused);
        chat->send(text);
        const int c = chat->currentConversation();
        if (!QTest::qWaitFor([&] { return focused.count() >= 1 && !chat->conversation(c).busy(); }, 20000)) return {};
        const qint64 id = focused.at(0).at(0).toLongLong();
        if (!QTest::qWaitFor([&] { return !m_tokens[id].empty(); }, 2000)) return {};  // (queued like the chat's)
        if (sent) {
            *sent = chat->conversation(c).request(chat->samplingControls()->params());
            sent->lora = lora.toStdString();
            sent->messages.pop_back();  // the answer just given: the request was sent before it
        }
        return m_tokens[id];
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        app::EngineWorker::registerMetaTypes();
        m_worker = new app::EngineWorker;
        m_worker->moveToThread(&m_thread);
        connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
        connect(
            m_worker, &app::EngineWorker::outputsReady, this,
            [this](const QVector<RequestOutput>& outputs) {
                for (const RequestOutput& out : outputs)
                    for (const SequenceOutput& s : out.samples)
                        m_tokens[out.id].insert(m_tokens[out.id].end(), s.new_token_ids.begin(), s.new_token_ids.end());
            },
            Qt::QueuedConnection);
        m_session = new Session;
        app::connectSession(m_session, m_worker);
        app::connectServing(m_session, m_worker);  // the Serve switch, as EngineHub wires it
        m_thread.start();
        m_store = new QSettings(m_dir.filePath("settings.ini"), QSettings::IniFormat);
        m_window = new MainWindow(m_session, m_store);
        m_window->show();

        // Adapters for the embedded model, and a base model of other shapes with one of its own.
        m_model = Model::load(embeddedModelSource().toStdString());
        SyntheticLoraSpec spec;
        spec.rank = 8;
        spec.alpha = 32.0f;  // strong enough to change greedy choices
        spec.targets = {LoraTarget::Q, LoraTarget::V, LoraTarget::Up, LoraTarget::Down};
        spec.seed = 5;
        m_alpha = path("alpha.gguf");
        write_synthetic_lora(spec, m_model->gguf(), m_alpha.toStdString());
        spec.seed = 6;
        spec.rank = 4;
        m_beta = path("beta.gguf");
        write_synthetic_lora(spec, m_model->gguf(), m_beta.toStdString());
        SyntheticModelSpec other;
        other.name = "otherbase";
        other.dim = 32;
        other.ffn_dim = 80;
        other.num_heads = 2;
        other.num_kv_heads = 2;
        m_otherBase = path("otherbase.gguf");
        write_synthetic_model(other, m_otherBase.toStdString());
        m_otherLora = path("other.gguf");
        write_synthetic_lora(spec, GgufFile::open(m_otherBase.toStdString()), m_otherLora.toStdString());

        loadModel(embeddedModelSource(), 256);
        SamplingControls* sampling = m_window->chat()->samplingControls();
        sampling->findChild<QDoubleSpinBox*>("temperature")->setValue(0.0);
        sampling->findChild<QSpinBox*>("maxTokens")->setValue(16);
    }

    void cleanupTestCase() {
        m_window->close();
        delete m_window;
        m_thread.quit();
        m_thread.wait();
        delete m_session;
        delete m_store;
    }

    void loadedAdaptersAreListed() {
        LoraPanel* panel = m_window->loras();
        panel->loadFile(m_alpha);  // named after the file
        QTRY_COMPARE(m_session->loras().size(), 1);
        panel->loadFile(m_beta, "beta");
        QTRY_COMPARE(m_session->loras().size(), 2);
        QCOMPARE(panel->errorText(), QString());
        QTableWidget* table = panel->table();
        QCOMPARE(table->rowCount(), 2);
        QCOMPARE(table->item(0, 0)->text(), QString("alpha"));
        QCOMPARE(table->item(0, 1)->text(), QString("8"));                                      // rank
        QCOMPARE(table->item(0, 2)->text(), QString("32"));                                     // alpha
        QCOMPARE(table->item(0, 3)->text(), QString::number(4 * m_model->shape().num_layers));  // 4 targets a layer
        QCOMPARE(table->item(0, 4)->text(), m_alpha);
        QCOMPARE(table->item(1, 0)->text(), QString("beta"));
        QCOMPARE(table->item(1, 1)->text(), QString("4"));
        // The chat offers them after the base model.
        QComboBox* combo = m_window->chat()->loraCombo();
        QCOMPARE(combo->count(), 3);
        QCOMPARE(combo->itemData(0).toString(), QString());
        QCOMPARE(combo->itemText(1), QString("alpha"));
        QCOMPARE(combo->itemText(2), QString("beta"));
        // The engine's snapshots name them too.
        QTRY_VERIFY(m_session->latestFull() && m_session->latestFull()->loras.size() == 2);
        QCOMPARE(m_session->latestFull()->loras[1], std::string("beta"));
    }

    void badAdaptersAreRefusedWithAMessage_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("says");
        QTest::newRow("other base model") << "other.gguf"
                                          << ""
                                          << "another base model";
        QTest::newRow("not an adapter") << "otherbase.gguf"
                                        << "x"
                                        << "not an adapter file";
        QTest::newRow("missing file") << "none.gguf"
                                      << ""
                                      << "none.gguf";
        QTest::newRow("taken name") << "beta.gguf"
                                    << "alpha"
                                    << "an adapter named 'alpha' is loaded already";
        QTest::newRow("base model's name") << "beta.gguf"
                                           << "stories260K"
                                           << "is the base model's name";
    }

    void badAdaptersAreRefusedWithAMessage() {
        QFETCH(QString, file);
        QFETCH(QString, name);
        QFETCH(QString, says);
        LoraPanel* panel = m_window->loras();
        QSignalSpy failed(m_session, &Session::loraLoadFailed);
        panel->loadFile(path(file), name);
        QVERIFY(QTest::qWaitFor([&] { return failed.count() == 1; }, 10000));
        QVERIFY2(panel->errorText().startsWith("Cannot load LoRA adapter '"), qPrintable(panel->errorText()));
        QVERIFY2(panel->errorText().contains(says), qPrintable(panel->errorText()));
        QCOMPARE(m_session->loras().size(), 2);
        QCOMPARE(panel->table()->rowCount(), 2);
        QVERIFY(m_session->modelReady());
    }

    void aChatTurnUnderAnAdapterMatchesTheEngineAlone() {
        ChatRequest sent;
        const std::vector<std::int32_t> withAlpha = chatTurn("alpha", "Once upon a time", &sent);
        QCOMPARE(int(withAlpha.size()), 16);
        QCOMPARE(sent.lora, std::string("alpha"));

        // The oracle: an Engine of its own with the same adapter file, nothing of the workbench.
        Engine engine(m_model, EngineConfig{});
        engine.add_lora("alpha", LoraAdapter::load(m_alpha.toStdString(), *m_model));
        QCOMPARE(generate(engine, chatRequest(*m_model, sent)), withAlpha);
        ChatRequest base = sent;
        base.lora.clear();
        const std::vector<std::int32_t> baseTokens = generate(engine, chatRequest(*m_model, base));
        QVERIFY(baseTokens != withAlpha);  // the adapter changed what the model says

        // And the workbench's base-model turn gives the base model's tokens.
        QCOMPARE(chatTurn("", "Once upon a time"), baseTokens);
    }

    void aBatchRunsUnderTheChosenAdapter() {
        // A prompts file: a line that names its adapter, a line that takes the panel's, and a line
        // that names none loaded (refused by the engine with its message; the others run).
        const QString file = path("batch.jsonl");
        {
            QFile f(file);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(R"({"prompt": "Once upon a time", "lora": "beta", "temperature": 0, "max_tokens": 12})"
                    "\n"
                    R"({"prompt": "The little dog", "temperature": 0, "max_tokens": 12})"
                    "\n"
                    R"({"prompt": "A bird", "lora": "gamma", "temperature": 0, "max_tokens": 12})"
                    "\n");
        }
        BatchPanel* batch = m_window->batch();
        QComboBox* combo = batch->loraCombo();
        QCOMPARE(combo->count(), 3);  // base model, alpha, beta
        combo->setCurrentIndex(combo->findData(QStringLiteral("alpha")));
        QVERIFY(batch->startFile(file));
        BatchRun* run = batch->currentRun();
        QVERIFY(QTest::qWaitFor([&] { return run->isDone(); }, 30000));
        QCOMPARE(run->finished(), 2);
        QCOMPARE(run->rejected(), 1);

        std::vector<const RequestRecord*> rows;
        for (const RequestRecord& r : m_session->requestLog()->records())
            if (r.source == run->source()) rows.push_back(&r);
        QCOMPARE(int(rows.size()), 3);
        QVERIFY2(rows[2]->finishReason.contains("gamma"), qPrintable(rows[2]->finishReason));

        // The oracle: each line's request on an Engine of its own with the same adapter files.
        Engine engine(m_model, EngineConfig{});
        engine.add_lora("alpha", LoraAdapter::load(m_alpha.toStdString(), *m_model));
        engine.add_lora("beta", LoraAdapter::load(m_beta.toStdString(), *m_model));
        auto line = [](const char* prompt, const char* lora) {
            Request r;
            r.prompt = prompt;
            r.lora = lora;
            r.params.temperature = 0;
            r.params.max_tokens = 12;
            return r;
        };
        QVERIFY(QTest::qWaitFor(
            [&] { return m_tokens[rows[0]->id].size() == 12 && m_tokens[rows[1]->id].size() == 12; }, 2000));
        QCOMPARE(m_tokens[rows[0]->id], generate(engine, line("Once upon a time", "beta")));
        QCOMPARE(m_tokens[rows[1]->id], generate(engine, line("The little dog", "alpha")));
        QVERIFY(m_tokens[rows[1]->id] != generate(engine, line("The little dog", "")));  // not the base model's
        combo->setCurrentIndex(0);
    }

    void theInspectorColoursBlocksByAdapter() {
        chatTurn("beta", "Once upon a time");  // the same prompt under a third adapter
        InspectorPanel* inspector = m_window->inspector();
        QTRY_VERIFY(inspector->scene().snapshot() && inspector->scene().snapshot()->loras.size() == 2);
        // Idle: every turn's full blocks are cached, labelled with their adapter.
        std::map<std::int32_t, int> cachedBlock;  // adapter index -> one cached block
        QTRY_VERIFY([&] {
            cachedBlock.clear();
            const InspectorScene& scene = inspector->scene();
            for (int b = 0; b < scene.numBlocks(); ++b)
                if (scene.kind(b) == BlockKind::Cached) cachedBlock.emplace(scene.lora(b), b);
            return cachedBlock.size() == 3;
        }());
        // By request, a cached block is grey whoever computed it; by adapter, each adapter has its own.
        QCOMPARE(inspector->scene().colorBy(), ColorBy::Request);
        QCOMPARE(inspector->scene().color(cachedBlock[0]), inspector->scene().color(cachedBlock[1]));
        QVERIFY(!inspector->legend()->entries().contains("adapter alpha"));
        inspector->setColorByAdapter(true);
        const InspectorScene& scene = inspector->scene();
        QCOMPARE(scene.colorBy(), ColorBy::Adapter);
        std::set<QRgb> colours;
        for (const auto& [lora, block] : cachedBlock) colours.insert(scene.color(block).rgb());
        QCOMPARE(int(colours.size()), 3);
        // The grid's image shows those colours.
        const InspectorLayout& layout = inspector->grid()->layout();
        const QImage grid = renderGrid(scene, layout);
        for (const auto& [lora, block] : cachedBlock) {
            QCOMPARE(QColor(grid.pixel(layout.cellInImage(block).center())), cachedAdapterColor(lora));
            QCOMPARE(scene.color(block), cachedAdapterColor(lora));
        }
        const QStringList legend = inspector->legend()->entries();
        QVERIFY2(legend.contains("adapter alpha") && legend.contains("adapter beta") &&
                     legend.contains("base model (no adapter)"),
                 qPrintable(legend.join(", ")));
        inspector->setColorByAdapter(false);
        QCOMPARE(inspector->scene().colorBy(), ColorBy::Request);
    }

    void anAdapterIsUnloadedOnceItsRequestsAreDone() {
        LoraPanel* panel = m_window->loras();
        QPushButton* unload = panel->unloadButton();
        panel->table()->clearSelection();
        QVERIFY(!unload->isEnabled());  // nothing selected
        const std::vector<std::int32_t> before = chatTurn("beta", "The cat");
        QCOMPARE(int(before.size()), 16);

        // While a turn under beta waits in the paused engine, beta stays, saying why.
        m_session->setPaused(true);
        QTRY_VERIFY(m_session->paused());
        ChatPanel* chat = m_window->chat();
        chat->loraCombo()->setCurrentIndex(chat->loraCombo()->findData(QStringLiteral("beta")));
        chat->newConversation();
        QSignalSpy focused(m_session, &Session::requestFocused);
        chat->send("The dog");
        QVERIFY(QTest::qWaitFor([&] { return focused.count() == 1; }, 10000));
        QSignalSpy failed(m_session, &Session::loraLoadFailed);
        panel->table()->selectRow(1);
        QVERIFY(unload->isEnabled());
        unload->click();
        QVERIFY(QTest::qWaitFor([&] { return failed.count() == 1; }, 10000));
        QVERIFY2(panel->errorText().contains("Cannot unload LoRA adapter 'beta': LoRA adapter 'beta' is in use by 1 "
                                             "unfinished request"),
                 qPrintable(panel->errorText()));
        QCOMPARE(m_session->loras().size(), 2);

        // Once it has run, the same click unloads it: gone from the list and the adapter boxes,
        // and the snapshot marks its blocks' adapter unloaded.
        m_session->setPaused(false);
        const int c = chat->currentConversation();
        QVERIFY(QTest::qWaitFor([&] { return !chat->conversation(c).busy(); }, 20000));
        QSignalSpy changed(m_session, &Session::lorasChanged);
        panel->table()->selectRow(1);
        unload->click();
        QVERIFY(QTest::qWaitFor([&] { return changed.count() == 1; }, 10000));
        QCOMPARE(panel->errorText(), QString());
        QCOMPARE(m_session->loras().size(), 1);
        QCOMPARE(panel->table()->rowCount(), 1);
        QCOMPARE(panel->table()->item(0, 0)->text(), QString("alpha"));
        QVERIFY(!unload->isEnabled());
        QCOMPARE(chat->loraCombo()->count(), 2);  // base model, alpha
        QCOMPARE(chat->loraCombo()->findData(QStringLiteral("beta")), -1);
        QCOMPARE(m_window->batch()->loraCombo()->count(), 2);
        QTRY_VERIFY(m_session->latestFull() &&
                    m_session->latestFull()->loras == (std::vector<std::string>{"alpha", "beta (unloaded)"}));

        // Loaded again under its name, it is the same adapter: the same turn gives the same tokens.
        panel->loadFile(m_beta, "beta");
        QTRY_COMPARE(m_session->loras().size(), 2);
        QCOMPARE(chatTurn("beta", "The cat"), before);
        QTRY_VERIFY(m_session->latestFull() && m_session->latestFull()->loras.size() == 3);
    }

    void aRunningServerFollowsTheLoadedAdapters() {
        // Serve on: /v1/models lists the base model and both adapters; unloading one in the panel
        // takes it off the list and a request for it gets 404, loading it again brings it back.
        QSignalSpy serving(m_session, &Session::servingChanged);
        ServeRequest request;
        request.port = 0;  // any free port
        m_session->serve(request);
        QVERIFY(QTest::qWaitFor([&] { return serving.count() > 0; }, 20000));
        QVERIFY2(m_session->serving(), qPrintable(serving.first().at(2).toString()));
        httplib::Client client("127.0.0.1", QUrl(m_session->servingAddress()).port());
        client.set_read_timeout(60, 0);
        auto models = [&] { return test::served_model_ids(client); };
        auto complete = [&](const std::string& model, std::string* body = nullptr) {
            const nlohmann::json req{{"model", model}, {"prompt", "The cat"}, {"max_tokens", 4}, {"temperature", 0}};
            const httplib::Result res = client.Post("/v1/completions", req.dump(), "application/json");
            if (res && body) *body = res->body;
            return res ? res->status : -1;
        };
        const std::string base = models().at(0);
        QCOMPARE(models(), (std::vector<std::string>{base, "alpha", "beta"}));
        QCOMPARE(complete("beta"), 200);

        QSignalSpy changed(m_session, &Session::lorasChanged);
        m_window->loras()->table()->selectRow(1);
        m_window->loras()->unloadButton()->click();
        QVERIFY(QTest::qWaitFor([&] { return changed.count() == 1; }, 10000));
        QCOMPARE(models(), (std::vector<std::string>{base, "alpha"}));
        std::string body;
        QCOMPARE(complete("beta", &body), 404);
        QVERIFY2(body.find("the model 'beta' does not exist here") != std::string::npos, body.c_str());
        QCOMPARE(complete("alpha"), 200);

        m_window->loras()->loadFile(m_beta, "beta");
        QTRY_COMPARE(m_session->loras().size(), 2);
        QCOMPARE(models(), (std::vector<std::string>{base, "alpha", "beta"}));
        QCOMPARE(complete("beta"), 200);

        serving.clear();
        m_session->stopServing();
        QVERIFY(QTest::qWaitFor([&] { return serving.count() > 0; }, 10000));
        QVERIFY(!m_session->serving());
    }

    void aNewModelTakesTheAdaptersThatFitAndDropsTheOthers() {
        // The same model again (another cache size): both adapters are read again and stay.
        loadModel(embeddedModelSource(), 128);
        QCOMPARE(m_session->loras().size(), 2);
        QCOMPARE(m_window->loras()->table()->rowCount(), 2);
        QCOMPARE(chatTurn("beta", "The cat").size(), std::size_t(16));

        // Another base model: neither fits, both are dropped with a message each.
        QSignalSpy failed(m_session, &Session::loraLoadFailed);
        loadModel(m_otherBase, 64);
        QVERIFY(QTest::qWaitFor([&] { return failed.count() == 2; }, 10000));
        QCOMPARE(m_session->loras().size(), 0);
        QCOMPARE(m_window->loras()->table()->rowCount(), 0);
        QCOMPARE(m_window->chat()->loraCombo()->count(), 1);  // the base model only
        const QString error = m_window->loras()->errorText();
        QVERIFY2(error.contains("LoRA adapter 'alpha' was dropped: it does not fit the new model") &&
                     error.contains("LoRA adapter 'beta' was dropped"),
                 qPrintable(error));
        // The session goes on with the new model.
        QTRY_VERIFY(m_session->latestFull() && m_session->latestFull()->loras.empty());
        QVERIFY(m_session->modelReady());
    }
};

}  // namespace lora_workbench_test

KVSCOPE_QTEST_MAIN(lora_workbench_test, LoraWorkbenchTest)
#include "lora_workbench_test.moc"
