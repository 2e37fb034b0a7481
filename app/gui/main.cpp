// kvscope: the workbench. The engine runs on its own thread inside an EngineWorker; the window
// talks to it only through the Session, whose commands and answers cross as queued signals. The
// EngineHub switches the Session to a RemoteWorker while the workbench follows a server.
//
//   kvscope                         the remembered model and settings (the embedded model at first)
//   kvscope --model file.gguf       another model, with the remembered settings
//   kvscope --kv-blocks 1024        a KV cache of exactly 1024 blocks
//   kvscope --attach http://127.0.0.1:8000
//                                   follow a kvscope (or vLLM, llama.cpp) server from the start
//   kvscope --lora sql=sql.gguf --lora chat=chat.gguf
//                                   load LoRA adapters (repeatable) once the model is loaded
//   kvscope --serve 8000            serve the workbench's engine on 127.0.0.1:8000 once loaded
//   kvscope --demo-chat "Once upon a time" --demo-batch 200
//                                   once the model is loaded, send a chat message and start a
//                                   synthetic batch of 200 requests with the batch panel's default
//                                   workload (160-256-token prompts sharing 60% of the shortest,
//                                   32-128 tokens out, 40 requests/s): what the README's screenshots show
//   kvscope --demo-batch 200 --demo-rate inf
//                                   the same batch arriving at another rate (requests/s, or inf: all
//                                   at once), so that a fast machine's cache is as busy as a slow one's
//   kvscope --demo-batch 200 --demo-lab
//                                   once that batch has finished, open the memory lab and run it on
//                                   the session's requests (docs/screenshot-lab.png)
// A demo says what it has reached on stdout, one "demo: ..." line each (model loaded, batch
// started, batch finished, lab finished): scripts/take-screenshots.sh waits on them.

#include <QApplication>
#include <QCommandLineParser>
#include <QDockWidget>
#include <QThread>
#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <string_view>

#include "app/bridge/engine_hub.h"
#include "ui/batch_panel.h"
#include "ui/chat_panel.h"
#include "ui/lab_panel.h"
#include "ui/main_window.h"
#include "ui/session.h"

namespace {

struct Options {
    QString model;                                // empty: the remembered one
    int kvBlocks = 0;                             // 0: the remembered KV settings
    QString demoChat;                             // sent once the model is loaded
    int demoBatch = 0;                            // synthetic requests started once the model is loaded
    double demoRate = 0;                          // their arrivals per second; 0: the panel's default
    bool demoLab = false;                         // the memory lab, run once the demo batch has finished
    QString attach;                               // a server to follow
    int servePort = 0;                            // serve once loaded (0: no)
    QVector<kvscope::ui::LoraLoadRequest> loras;  // --lora NAME=PATH, loaded once the model is
    QString error;                                // a malformed option: said, then exit 2
};

Options parseOptions(const QCoreApplication& app) {
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
    const QCommandLineOption demoRate(
        QStringLiteral("demo-rate"),
        QStringLiteral("The --demo-batch's arrivals per second, or inf for all at once (default: the panel's, 40)."),
        QStringLiteral("R"));
    const QCommandLineOption demoLab(
        QStringLiteral("demo-lab"),
        QStringLiteral(
            "Once the --demo-batch has finished, open the memory lab and run it on the session's requests."));
    const QCommandLineOption attach(QStringLiteral("attach"),
                                    QStringLiteral("Follow this server (kvscope, vLLM or llama.cpp) instead of the "
                                                   "embedded engine."),
                                    QStringLiteral("url"));
    const QCommandLineOption serve(QStringLiteral("serve"),
                                   QStringLiteral("Serve the engine over HTTP on 127.0.0.1:PORT once it is loaded."),
                                   QStringLiteral("port"));
    const QCommandLineOption lora(QStringLiteral("lora"),
                                  QStringLiteral("Load a LoRA adapter (GGUF) that chat turns pick by NAME, once the "
                                                 "model is loaded (repeatable)."),
                                  QStringLiteral("NAME=PATH"));
    cli.addOptions({model, kvBlocks, demoChat, demoBatch, demoRate, demoLab, attach, serve, lora});
    cli.process(app);
    Options o;
    o.model = cli.value(model);
    o.kvBlocks = cli.isSet(kvBlocks) ? std::max(1, cli.value(kvBlocks).toInt()) : 0;
    o.demoChat = cli.value(demoChat);
    o.demoBatch = cli.isSet(demoBatch) ? std::max(1, cli.value(demoBatch).toInt()) : 0;
    o.demoLab = cli.isSet(demoLab);
    if (cli.isSet(demoRate)) {
        const QString rate = cli.value(demoRate);
        bool ok = false;
        o.demoRate = rate == QLatin1String("inf") ? std::numeric_limits<double>::infinity() : rate.toDouble(&ok);
        if (rate != QLatin1String("inf") && (!ok || !(o.demoRate > 0)))
            o.error = QStringLiteral("--demo-rate: expected requests per second above 0, or inf; got '%1'").arg(rate);
    }
    o.attach = cli.value(attach);
    o.servePort = cli.isSet(serve) ? std::clamp(cli.value(serve).toInt(), 1, 65535) : 0;
    for (const QString& spec : cli.values(lora)) {
        const qsizetype eq = spec.indexOf(QLatin1Char('='));
        if (eq <= 0 || eq + 1 == spec.size()) {
            o.error =
                QStringLiteral("--lora: expected NAME=PATH (e.g. --lora sql=adapters/sql.gguf), got '%1'").arg(spec);
            break;
        }
        o.loras.append({spec.left(eq), spec.mid(eq + 1)});
    }
    return o;
}

// The --lora adapters, once the first model is loaded (a failure shows in the LoRA panel).
void armLoras(kvscope::ui::Session& session, const Options& o) {
    if (o.loras.isEmpty()) return;
    QObject::connect(
        &session, &kvscope::ui::Session::modelLoaded, &session,
        [&session, loras = o.loras] {
            for (const kvscope::ui::LoraLoadRequest& r : loras) session.loadLora(r);
        },
        Qt::SingleShotConnection);
}

void say(const char* what) {
    std::printf("demo: %s\n", what);
    std::fflush(stdout);
}

// The demo, once: a chat message and a synthetic batch as soon as the first model is loaded.
void armDemo(kvscope::ui::Session& session, kvscope::ui::MainWindow& window, const Options& o) {
    if (o.demoChat.isEmpty() && o.demoBatch == 0 && o.servePort == 0 && o.attach.isEmpty()) return;
    auto pending = std::make_shared<bool>(true);
    if (o.demoBatch > 0) {
        QObject::connect(window.batch(), &kvscope::ui::BatchPanel::runStarted, &window, [] { say("batch started"); });
        QObject::connect(window.batch(), &kvscope::ui::BatchPanel::runFinished, &window, [] { say("batch finished"); });
    }
    QObject::connect(&session, &kvscope::ui::Session::modelLoaded, &window, [&session, &window, o, pending] {
        if (!*pending) return;
        *pending = false;
        say("model loaded");
        if (o.servePort > 0) {
            kvscope::ui::ServeRequest serve;
            serve.port = o.servePort;
            session.serve(serve);
        }
        if (!o.attach.isEmpty()) session.attach({o.attach, QString()});
        if (!o.demoChat.isEmpty()) window.chat()->send(o.demoChat);
        if (o.demoBatch > 0) {
            kvscope::WorkloadSpec spec = window.batch()->workloadSpec();  // the panel's defaults
            spec.num_requests = o.demoBatch;
            if (o.demoRate > 0) spec.request_rate = o.demoRate;
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
    QObject::connect(window.lab(), &kvscope::ui::LabPanel::finished, &window, [] { say("lab finished"); });
}

void nameApplication() {
    QCoreApplication::setApplicationName(QStringLiteral("kvscope"));
    QCoreApplication::setOrganizationName(QStringLiteral("kvscope"));
    QCoreApplication::setApplicationVersion(QStringLiteral(KVSCOPE_VERSION));
}

// --help (-h, -?, --help-all) or --version (-v) among the arguments, before any "--".
bool asksForHelpOrVersion(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") return false;
        if (arg == "-h" || arg == "-?" || arg == "--help" || arg == "--help-all" || arg == "-v" || arg == "--version")
            return true;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    // Help and version are printed without a window, so without a display: a QApplication would
    // need a platform plugin first. (An argument that is an option's value, --demo-chat --help,
    // is no request for help: the parser returns, and the workbench starts.)
    if (asksForHelpOrVersion(argc, argv)) {
        QCoreApplication app(argc, argv);
        nameApplication();
        parseOptions(app);  // prints the help or the version and exits
    }
    QApplication app(argc, argv);
    nameApplication();
    const Options options = parseOptions(app);
    if (!options.error.isEmpty()) {
        std::fprintf(stderr, "kvscope: %s\n", qPrintable(options.error));
        return 2;
    }

    kvscope::ui::Session session;
    kvscope::app::EngineHub engines(&session);

    int code = 0;
    {
        kvscope::ui::MainWindow window(&session);
        window.restoreLayout();
        armLoras(session, options);
        armDemo(session, window, options);
        kvscope::ui::LoadRequest request = window.settings().load;
        if (!options.model.isEmpty()) request.source = options.model;
        if (options.kvBlocks > 0) request.config.num_kv_blocks = options.kvBlocks;
        session.load(request);
        window.show();
        code = app.exec();
    }
    return code;
}
