// kvscope: the workbench. The engine runs on its own thread inside an EngineWorker; the window
// talks to it only through queued signals.

#include <QApplication>
#include <QCommandLineParser>
#include <QThread>

#include "app/bridge/engine_worker.h"
#include "resources/embedded_model.h"
#include "ui/generate_panel.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("kvscope"));
    QApplication::setOrganizationName(QStringLiteral("kvscope"));
    QApplication::setApplicationVersion(QStringLiteral(KVSCOPE_VERSION));

    QCommandLineParser cli;
    cli.setApplicationDescription(QStringLiteral("kvscope workbench: watch a paged KV cache at work"));
    cli.addHelpOption();
    cli.addVersionOption();
    QCommandLineOption modelOption(QStringList{QStringLiteral("m"), QStringLiteral("model")},
                                   QStringLiteral("GGUF model to load (default: the embedded stories260K)."),
                                   QStringLiteral("path"));
    cli.addOption(modelOption);
    cli.process(app);

    kvscope::app::EngineWorker::registerMetaTypes();
    QThread engineThread;
    engineThread.setObjectName(QStringLiteral("engine"));
    auto* worker = new kvscope::app::EngineWorker;
    worker->moveToThread(&engineThread);
    QObject::connect(&engineThread, &QThread::finished, worker, &QObject::deleteLater);

    kvscope::ui::MainWindow window;
    kvscope::ui::GeneratePanel* panel = window.generatePanel();
    using kvscope::app::EngineWorker;
    QObject::connect(worker, &EngineWorker::modelLoaded, &window, &kvscope::ui::MainWindow::onModelLoaded);
    QObject::connect(worker, &EngineWorker::modelLoadFailed, &window, &kvscope::ui::MainWindow::onModelLoadFailed);
    QObject::connect(worker, &EngineWorker::snapshotReady, &window, &kvscope::ui::MainWindow::onSnapshot);
    QObject::connect(worker, &EngineWorker::requestAccepted, panel,
                     [panel](quint64, qint64 id) { panel->onRequestAccepted(id); });
    QObject::connect(worker, &EngineWorker::requestRejected, panel,
                     [panel](quint64, const QString& message) { panel->onRequestRejected(message); });
    QObject::connect(worker, &EngineWorker::outputsReady, panel, &kvscope::ui::GeneratePanel::applyOutputs);
    QObject::connect(panel, &kvscope::ui::GeneratePanel::generateRequested, worker,
                     [worker](const kvscope::Request& request) { worker->submit(0, request); });
    QObject::connect(panel, &kvscope::ui::GeneratePanel::stopRequested, worker, &EngineWorker::abortRequest);
    QObject::connect(&window, &kvscope::ui::MainWindow::openModelRequested, worker,
                     [worker](const QString& path) { worker->loadModel(path, kvscope::EngineConfig{}); });

    engineThread.start();
    const QString source = cli.isSet(modelOption) ? cli.value(modelOption)
                                                  : QString::fromUtf8(kvscope::kEmbeddedModelName.data(),
                                                                      qsizetype(kvscope::kEmbeddedModelName.size()));
    QMetaObject::invokeMethod(
        worker, [worker, source] { worker->loadModel(source, kvscope::EngineConfig{}); }, Qt::QueuedConnection);
    window.show();
    const int code = app.exec();
    engineThread.quit();
    engineThread.wait();
    return code;
}
