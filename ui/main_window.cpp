#include "ui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QScreen>
#include <QStatusBar>
#include <QTimer>
#include <algorithm>
#include <cmath>

#include "ui/atomic_file.h"
#include "ui/batch_panel.h"
#include "ui/charts_panel.h"
#include "ui/chat_panel.h"
#include "ui/inspector_panel.h"
#include "ui/lab_panel.h"
#include "ui/lora_panel.h"
#include "ui/perplexity_panel.h"
#include "ui/remote_controls.h"
#include "ui/session.h"
#include "ui/session_export.h"
#include "ui/session_recorder.h"
#include "ui/settings_dialog.h"
#include "ui/window_fit.h"

namespace kvscope::ui {

MainWindow::MainWindow(Session* session, QSettings* settings, QWidget* parent)
    : QMainWindow(parent), m_session(session), m_store(settings) {
    if (!m_store) {
        m_store = new QSettings;
        m_ownsStore = true;
    }
    const QString settingsProblem = setAsideCorruptSettings(*m_store);
    m_settings = WorkbenchSettings::read(*m_store);
    setWindowTitle(tr("kvscope"));
    setAcceptDrops(true);
    setDockNestingEnabled(true);
    m_inspector = new InspectorPanel(session, this);
    setCentralWidget(m_inspector);
    m_chat = new ChatPanel(session, this);
    m_batch = new BatchPanel(session, this);
    m_charts = new ChartsPanel(session, this);
    createMenus();
    QDockWidget* chat = addPanel(QStringLiteral("chat"), tr("Chat"), m_chat, Qt::LeftDockWidgetArea);
    QDockWidget* batch = addPanel(QStringLiteral("batch"), tr("Batch Queue"), m_batch, Qt::BottomDockWidgetArea);
    QDockWidget* charts = addPanel(QStringLiteral("charts"), tr("Charts"), m_charts, Qt::BottomDockWidgetArea);
    splitDockWidget(batch, charts, Qt::Horizontal);
    // LoRA adapters: a tab behind the chat (File ▸ Load LoRA Adapter… brings it forward).
    m_loras = new LoraPanel(session, this);
    tabifyDockWidget(chat, addPanel(QStringLiteral("loras"), tr("LoRA Adapters"), m_loras, Qt::LeftDockWidgetArea));
    chat->raise();
    // Perplexity: a tab behind the batch queue (its table of runs wants the width).
    m_perplexity = new PerplexityPanel(session, this);
    tabifyDockWidget(batch,
                     addPanel(QStringLiteral("perplexity"), tr("Perplexity"), m_perplexity, Qt::BottomDockWidgetArea));
    batch->raise();
    // The memory lab: hidden until View ▸ Memory Lab; the first time, a window of its own over this
    // one (it wants more room than a dock beside the others has; drag it into any dock area).
    m_lab = new LabPanel(session, this);
    QDockWidget* lab = addPanel(QStringLiteral("lab"), tr("Memory Lab"), m_lab, Qt::TopDockWidgetArea);
    lab->hide();
    lab->setFloating(true);
    connect(lab->toggleViewAction(), &QAction::triggered, this, [this, lab](bool shown) {
        if (!shown || !lab->isFloating() || lab->property("placed").toBool()) return;
        lab->setProperty("placed", true);
        lab->setGeometry(QRect(geometry().topLeft() + QPoint(20, 40), QSize(width() - 40, height() * 62 / 100)));
    });
    createStatusBar();
    new RemoteControls(this, session);  // Serve, Attach / Detach
    if (!settingsProblem.isEmpty()) statusBar()->showMessage(settingsProblem, 20000);
    const QRect screenArea = screen() ? screen()->availableGeometry() : QRect(0, 0, 1600, 1000);
    resize(std::min(1600, screenArea.width()), std::min(1000, screenArea.height()));
    resizeDocks({chat}, {width() * 27 / 100}, Qt::Horizontal);
    resizeDocks({batch, charts}, {width() * 45 / 100, width() * 55 / 100}, Qt::Horizontal);
    resizeDocks({batch}, {height() * 40 / 100}, Qt::Vertical);

    connect(session, &Session::loadStarted, this, &MainWindow::onLoadStarted);
    connect(session, &Session::loadProgressed, this, &MainWindow::onLoadProgress);
    connect(session, &Session::modelLoaded, this, &MainWindow::onModelLoaded);
    connect(session, &Session::modelLoadFailed, this, &MainWindow::onModelLoadFailed);
    connect(session, &Session::pausedChanged, this, &MainWindow::updateStatus);
    connect(session, &Session::pausedChanged, this, &MainWindow::updateEngineActions);
    connect(session, &Session::prefixCacheResetDone, this, [this](bool done, const QString& message) {
        if (done) {
            statusBar()->showMessage(message, 5000);
        } else {
            QMessageBox::information(this, tr("Reset Prefix Cache"), message);
        }
    });
    auto* status = new QTimer(this);
    status->setInterval(250);  // the status bar reads the latest sample 4 times a second
    connect(status, &QTimer::timeout, this, &MainWindow::updateStatus);
    status->start();
}

MainWindow::~MainWindow() {
    if (m_ownsStore) delete m_store;
}

QDockWidget* MainWindow::addPanel(const QString& id, const QString& title, QWidget* widget, Qt::DockWidgetArea area) {
    auto* dock = new QDockWidget(title, this);
    dock->setObjectName(id + QStringLiteral("Dock"));
    dock->setWidget(widget);
    addDockWidget(area, dock);
    m_docks.insert(id, dock);
    menu(Menu::View)->addAction(dock->toggleViewAction());
    return dock;
}

QMenu* MainWindow::menu(Menu which) const {
    return m_menus.value(which);
}

void MainWindow::addStatusWidget(QWidget* widget) {
    statusBar()->addPermanentWidget(widget);
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open Model…"), QKeySequence::Open, this, &MainWindow::openModel);
    file->addAction(tr("Model and Cache &Settings…"), QKeySequence(Qt::CTRL | Qt::Key_Comma), this,
                    &MainWindow::openSettings);
    m_recent = file->addMenu(tr("&Recent Models"));
    file->addAction(tr("Load &LoRA Adapter…"), this, [this] {
        m_docks.value(QStringLiteral("loras"))->raise();
        m_loras->chooseAndLoad();
    });
    file->addSeparator();
    file->addAction(tr("Export Session as &JSON…"), this, &MainWindow::exportJson);
    file->addAction(tr("Export Session as &CSV…"), this, &MainWindow::exportCsv);
    file->addAction(tr("Export Inspector View as &PNG…"), this, &MainWindow::exportInspectorImage);
    file->addAction(tr("Save C&harts…"), this, [this] { m_charts->saveAs(); });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* view = menuBar()->addMenu(tr("&View"));
    QMenu* engine = menuBar()->addMenu(tr("&Engine"));
    m_startAction =
        engine->addAction(tr("&Start"), QKeySequence(Qt::Key_F5), this, [this] { m_session->setPaused(false); });
    m_pauseAction =
        engine->addAction(tr("&Pause"), QKeySequence(Qt::Key_F6), this, [this] { m_session->setPaused(true); });
    updateEngineActions();
    engine->addAction(tr("S&top All Requests"), QKeySequence(Qt::SHIFT | Qt::Key_F5), this, &MainWindow::stopAll);
    engine->addSeparator();
    engine->addAction(tr("&Reset Prefix Cache"), this, [this] { m_session->resetPrefixCache(); });
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About kvscope"), this, &MainWindow::showAbout);
    help->addAction(tr("Embedded Model &License"), this, &MainWindow::showModelLicense);
    m_menus = {{Menu::File, file}, {Menu::View, view}, {Menu::Engine, engine}, {Menu::Help, help}};
    view->addAction(tr("Reset &Layout"), this, [this] {
        if (!m_defaultLayout.isEmpty()) restoreState(m_defaultLayout);
    });
    view->addSeparator();
    rebuildRecentMenu();
}

void MainWindow::createStatusBar() {
    m_modelLabel = new QLabel(tr("Loading model…"), this);
    m_modelLabel->setObjectName("modelLabel");
    m_stateLabel = new QLabel(this);
    m_stateLabel->setObjectName("stateLabel");
    m_throughputLabel = new QLabel(this);
    m_throughputLabel->setObjectName("throughputLabel");
    m_kvLabel = new QLabel(this);
    m_kvLabel->setObjectName("kvLabel");
    m_loadBar = new QProgressBar(this);
    m_loadBar->setRange(0, 100);
    m_loadBar->setMaximumWidth(180);
    m_loadBar->setVisible(false);
    statusBar()->addWidget(m_modelLabel, 1);
    statusBar()->addPermanentWidget(m_loadBar);
    statusBar()->addPermanentWidget(m_stateLabel);
    statusBar()->addPermanentWidget(m_throughputLabel);
    statusBar()->addPermanentWidget(m_kvLabel);
}

void MainWindow::restoreLayout() {
    m_defaultLayout = saveState();
    restoreGeometry(m_store->value("window/geometry").toByteArray());
    if (!restoreState(m_store->value("window/state").toByteArray())) restoreState(m_defaultLayout);
    keepOnScreen();  // remembered on a larger screen, or an older layout larger than this one
}

void MainWindow::keepOnScreen() {
    const QScreen* s = screen();
    if (!s) return;
    const QRect frame = frameGeometry();
    const QRect fitted = fitToScreen(frame, s->availableGeometry());
    if (fitted == frame) return;
    const QRect inner = geometry();
    const QMargins decorations(inner.left() - frame.left(), inner.top() - frame.top(), frame.right() - inner.right(),
                               frame.bottom() - inner.bottom());
    setGeometry(fitted.marginsRemoved(decorations));
}

void MainWindow::rebuildRecentMenu() {
    m_recent->clear();
    for (const QString& source : m_settings.recentModels) {
        m_recent->addAction(source, this, [this, source] {
            LoadRequest r = m_session->modelReady() ? m_session->lastLoad() : m_settings.load;
            r.source = source;
            m_session->load(r);
        });
    }
    m_recent->setEnabled(!m_settings.recentModels.isEmpty());
}

void MainWindow::openModel() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open GGUF Model"), QString(), tr("GGUF models (*.gguf);;All files (*)"));
    if (!path.isEmpty()) openModelFile(path);
}

void MainWindow::openModelFile(const QString& path) {
    LoadRequest r = m_session->modelReady() ? m_session->lastLoad() : m_settings.load;
    r.source = path;
    SettingsDialog dialog(this);
    connect(&dialog, &SettingsDialog::inspectRequested, m_session, &Session::inspectModel);
    connect(m_session, &Session::modelInspected, &dialog, &SettingsDialog::setFileInfo);
    dialog.setRequest(r);
    if (dialog.exec() == QDialog::Accepted) m_session->load(dialog.request());
}

void MainWindow::openSettings() {
    openModelFile(m_session->modelReady() ? m_session->lastLoad().source : m_settings.load.source);
}

void MainWindow::stopAll() {
    m_batch->cancel();
    m_session->abortAll();
}

void MainWindow::report(const QString& error, const QString& done) {
    if (error.isEmpty()) {
        statusBar()->showMessage(done, 6000);
    } else {
        QMessageBox::critical(this, tr("Export failed"), error);
    }
}

void MainWindow::exportJson() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Session as JSON"),
                                                      QStringLiteral("kvscope-session.json"), tr("JSON (*.json)"));
    if (!path.isEmpty()) report(exportSessionJson(*m_session, path), tr("Session written to %1").arg(path));
}

void MainWindow::exportCsv() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Session as CSV"),
                                                      QStringLiteral("kvscope-session.csv"), tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    QString error;
    const QStringList files = exportSessionCsv(*m_session, path, &error);
    report(error, tr("Session written to %1").arg(files.join(QStringLiteral(", "))));
}

void MainWindow::exportInspectorImage() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Inspector View"),
                                                      QStringLiteral("kvscope-inspector.png"), tr("PNG image (*.png)"));
    if (!path.isEmpty())
        report(saveImageAtomically(path, m_inspector->viewImage()), tr("Inspector view written to %1").arg(path));
}

void MainWindow::onLoadStarted(const QString& source) {
    m_modelLabel->setText(
        tr("Loading %1…").arg(QFileInfo(source).fileName().isEmpty() ? source : QFileInfo(source).fileName()));
    m_loadBar->setValue(0);
    m_loadBar->setVisible(true);
}

void MainWindow::onLoadProgress(double fraction, const QString& stage) {
    m_loadBar->setValue(int(fraction * 100));
    m_loadBar->setToolTip(stage);
}

void MainWindow::onModelLoaded(const ModelSummary& s) {
    m_loadBar->setVisible(false);
    m_modelLabel->setText(tr("<b>%1</b> · %2 · %3M parameters · %4 weights · %5 · %6 KV blocks of %7 tokens")
                              .arg(s.name.toHtmlEscaped(), s.architecture)
                              .arg(double(s.numParams) / 1e6, 0, 'f', 2)
                              .arg(weightDescription(s), s.backend)
                              .arg(s.numBlocks)
                              .arg(s.blockSize));
    m_modelLabel->setToolTip(s.source);
    if (!s.backendNote.isEmpty()) statusBar()->showMessage(s.backendNote, 15000);
    setWindowTitle(tr("kvscope — %1").arg(s.name));
    if (!s.remoteKind.isEmpty()) return;  // a server: nothing to remember as a model
    m_settings.load = m_session->lastLoad();
    m_settings.addRecent(s.source);
    rebuildRecentMenu();
    saveSettings();
}

void MainWindow::onModelLoadFailed(const QString& message) {
    m_loadBar->setVisible(false);
    const QString kept =
        m_session->modelReady() ? tr("%1 is still loaded.").arg(m_session->model().name) : tr("No model is loaded.");
    m_modelLabel->setText(m_session->modelReady() ? m_modelLabel->toolTip() : tr("No model loaded"));
    if (m_session->modelReady()) onModelLoaded(m_session->model());
    QMessageBox::critical(this, tr("Cannot load the model"), message + QStringLiteral("\n\n") + kept);
}

void MainWindow::updateStatus() {
    const auto& samples = m_session->recorder()->samples();
    if (samples.empty()) return;
    const MetricSample& s = samples.back();
    const ChartPoint p = m_session->recorder()->point(samples.size() - 1);
    const auto rate = [](double v) { return std::isfinite(v) ? v : 0.0; };
    m_throughputLabel->setText(tr("%1 tok/s generated · %2 tok/s prompt")
                                   .arg(rate(p.generationTps), 0, 'f', 0)
                                   .arg(rate(p.promptTps), 0, 'f', 0));
    m_kvLabel->setText(tr("KV %1% used · %2 cached blocks").arg(100.0 * s.kvUsage, 0, 'f', 1).arg(s.cachedBlocks));
    QString state = m_session->paused()           ? tr("paused")
                    : (s.running + s.waiting > 0) ? tr("running %1, waiting %2").arg(s.running).arg(s.waiting)
                                                  : tr("idle");
    m_stateLabel->setText(state);
}

// Start is offered only while the engine is paused, Pause only while it runs.
void MainWindow::updateEngineActions() {
    m_startAction->setEnabled(m_session->paused());
    m_pauseAction->setEnabled(!m_session->paused());
}

void MainWindow::saveSettings() {
    m_settings.write(*m_store);
    m_store->setValue("window/geometry", saveGeometry());
    m_store->setValue("window/state", saveState());
    m_store->sync();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    saveSettings();
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    for (const QUrl& url : event->mimeData()->urls()) {
        if (url.isLocalFile()) {
            event->acceptProposedAction();
            return;
        }
    }
}

void MainWindow::dropEvent(QDropEvent* event) {
    for (const QUrl& url : event->mimeData()->urls()) {
        if (url.isLocalFile()) {
            event->acceptProposedAction();
            const QString path = url.toLocalFile();
            QTimer::singleShot(0, this, [this, path] { openModelFile(path); });  // not inside the drop
            return;
        }
    }
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About kvscope"),
                       tr("<b>kvscope %1</b> — a paged-attention LLM engine and a workbench to watch its KV cache."
                          "<p>Requests run through continuous batching over a KV cache cut into fixed-size blocks, "
                          "shared between prompts by prefix hashing and copied on write. The inspector shows every "
                          "block; the charts show what it costs and saves.</p>")
                           .arg(QApplication::applicationVersion()));
}

void MainWindow::showModelLicense() {
    QFile file(QStringLiteral(":/licenses/stories260K.md"));
    const QString text = file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll())
                                                        : tr("The license text is missing from this build.");
    QMessageBox box(this);
    box.setWindowTitle(tr("Embedded model license"));
    box.setTextFormat(Qt::MarkdownText);
    box.setText(text);
    box.exec();
}

}  // namespace kvscope::ui
