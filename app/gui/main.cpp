// kvscope: the workbench. The engine runs on its own thread inside an EngineWorker; the window
// talks to it only through the Session, whose commands and answers cross as queued signals.
//
//   kvscope                         the remembered model and settings (the embedded model at first)
//   kvscope --model file.gguf       another model, with the remembered settings
//   kvscope --kv-blocks 1024        a KV cache of exactly 1024 blocks
//   kvscope --demo-chat "Once upon a time" --demo-batch 200
//                                   once the model is loaded, send a chat message and start a
//                                   synthetic batch of 200 requests with the batch panel's default
//                                   workload (160-256-token prompts sharing 60% of the shortest,
//                                   32-128 tokens out, 40 requests/s): what the README's screenshots show
//   kvscope --demo-batch 200 --demo-lab
//                                   once that batch has finished, open the memory lab and run it on
//                                   the session's requests (docs/screenshot-lab.png)

#include <QApplication>
#include <QCommandLineParser>
#include <QDockWidget>
#include <QThread>
#include <memory>

#include "app/bridge/engine_worker.h"
#include "app/bridge/session_wiring.h"
#include "ui/batch_panel.h"
#include "ui/chat_panel.h"
#include "ui/lab_panel.h"
#include "ui/main_window.h"
#include "ui/session.h"

namespace {

struct Options {
    QString model;         // empty: the remembered one
    int kvBlocks = 0;      // 0: the remembered KV settings
    QString demoChat;      // sent once the model is loaded
    int demoBatch = 0;     // synthetic requests started once the model is loaded
    bool demoLab = false;  // the memory lab, run once the demo batch has finished
};

Options parseOptions(const QApplication& app) {
    QCommandLineParser cli;
    cli.setApplicationDescription(QStringLiteral("kvscope workbench: watch a paged KV cache at work"));
    cli.addHelpOption();
    cli.addVersionOption();
    const QCommandLineOption model({QStringLiteral("m"), QStringLiteral("model")},
                                   QStringLiteral("GGUF model to load (default: the last one, or the embedded model)."),
                                   QStringLiteral("path"));
    const QCommandLineOption kvBlocks(QStringLiteral("kv-blocks"),
                                      QStringLiteral("KV cache of exactly N blocks (instead of the memory budget)."),
                                      QStringLiteral("N"));
    const QCommandLineOption demoChat(QStringLiteral("demo-chat"),
                                      QStringLiteral("Send this chat message once the model is loaded."),
                                      QStringLiteral("text"));
    const QCommandLineOption demoBatch(
        QStringLiteral("demo-batch"),
        QStringLiteral(
            "Start a synthetic batch of N requests (the batch panel's default workload) once the model is loaded."),
        QStringLiteral("N"));
    const QCommandLineOption demoLab(
        QStringLiteral("demo-lab"),
        QStringLiteral(
            "Once the --demo-batch has finished, open the memory lab and run it on the session's requests."));
    cli.addOptions({model, kvBlocks, demoChat, demoBatch, demoLab});
    cli.process(app);
    Options o;
    o.model = cli.value(model);
    o.kvBlocks = cli.isSet(kvBlocks) ? std::max(1, cli.value(kvBlocks).toInt()) : 0;
    o.demoChat = cli.value(demoChat);
    o.demoBatch = cli.isSet(demoBatch) ? std::max(1, cli.value(demoBatch).toInt()) : 0;
    o.demoLab = cli.isSet(demoLab);
    return o;
}

// The demo, once: a chat message and a synthetic batch as soon as the first model is loaded.
void armDemo(kvscope::ui::Session& session, kvscope::ui::MainWindow& window, const Options& o) {
    if (o.demoChat.isEmpty() && o.demoBatch == 0) return;
    auto pending = std::make_shared<bool>(true);
    QObject::connect(&session, &kvscope::ui::Session::modelLoaded, &window, [&window, o, pending] {
        if (!*pending) return;
        *pending = false;
        if (!o.demoChat.isEmpty()) window.chat()->send(o.demoChat);
        if (o.demoBatch > 0) {
            kvscope::WorkloadSpec spec = window.batch()->workloadSpec();  // the panel's defaults
            spec.num_requests = o.demoBatch;
            window.batch()->startSynthetic(spec);
        }
    });
    if (!o.demoLab) return;
    QObject::connect(
        window.batch(), &kvscope::ui::BatchPanel::runFinished, &window,
        [&window] {
            QDockWidget* lab = window.panel(QStringLiteral("lab"));
            if (lab->isHidden()) lab->toggleViewAction()->trigger();
            window.lab()->run();
        },
        Qt::SingleShotConnection);
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("kvscope"));
    QApplication::setOrganizationName(QStringLiteral("kvscope"));
    QApplication::setApplicationVersion(QStringLiteral(KVSCOPE_VERSION));
    const Options options = parseOptions(app);

    kvscope::app::EngineWorker::registerMetaTypes();
    QThread engineThread;
    engineThread.setObjectName(QStringLiteral("engine"));
    auto* worker = new kvscope::app::EngineWorker;
    worker->moveToThread(&engineThread);
    QObject::connect(&engineThread, &QThread::finished, worker, &QObject::deleteLater);

    kvscope::ui::Session session;
    kvscope::app::connectSession(&session, worker);
    engineThread.start();

    int code = 0;
    {
        kvscope::ui::MainWindow window(&session);
        window.restoreLayout();
        armDemo(session, window, options);
        kvscope::ui::LoadRequest request = window.settings().load;
        if (!options.model.isEmpty()) request.source = options.model;
        if (options.kvBlocks > 0) request.config.num_kv_blocks = options.kvBlocks;
        session.load(request);
        window.show();
        code = app.exec();
    }
    engineThread.quit();
    engineThread.wait();
    return code;
}
