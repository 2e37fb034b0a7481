#include "ui/main_window.h"

#include <QApplication>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>

#include "ui/generate_panel.h"

namespace kvscope::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("kvscope"));
    m_generate = new GeneratePanel(this);
    setCentralWidget(m_generate);

    m_modelLabel = new QLabel(tr("Loading model…"), this);
    m_throughputLabel = new QLabel(this);
    m_kvLabel = new QLabel(this);
    m_modelLabel->setObjectName("modelLabel");
    m_throughputLabel->setObjectName("throughputLabel");
    m_kvLabel->setObjectName("kvLabel");
    statusBar()->addWidget(m_modelLabel, 1);
    statusBar()->addPermanentWidget(m_throughputLabel);
    statusBar()->addPermanentWidget(m_kvLabel);
    createMenus();
    m_sinceThroughput.start();
    resize(980, 680);
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open Model…"), QKeySequence::Open, this, &MainWindow::openModel);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::closeAllWindows);
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About kvscope"), this, &MainWindow::showAbout);
    help->addAction(tr("Embedded Model &License"), this, &MainWindow::showModelLicense);
}

void MainWindow::openModel() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open GGUF Model"), QString(), tr("GGUF models (*.gguf);;All files (*)"));
    if (path.isEmpty()) return;
    m_modelLabel->setText(tr("Loading %1…").arg(path));
    emit openModelRequested(path);
}

void MainWindow::onModelLoaded(const ModelSummary& s) {
    m_modelLabel->setText(tr("%1 [%2] (%3, %4M parameters) on %5 — %6 KV blocks of %7 tokens")
                              .arg(s.name, QFileInfo(s.source).fileName(), s.architecture)
                              .arg(double(s.numParams) / 1e6, 0, 'f', 2)
                              .arg(s.backend)
                              .arg(s.numBlocks)
                              .arg(s.blockSize));
    setWindowTitle(tr("kvscope — %1").arg(s.name));
    m_generate->setModelReady(true);
}

void MainWindow::onModelLoadFailed(const QString& message) {
    m_modelLabel->setText(tr("Model load failed"));
    QMessageBox::critical(this, tr("Cannot load the model"), message);
}

void MainWindow::onSnapshot(std::shared_ptr<const EngineSnapshot> snapshot) {
    if (!snapshot) return;
    const qint64 generated = snapshot->metrics.generation_tokens;
    const double elapsed = double(m_sinceThroughput.restart()) / 1000.0;
    const qint64 delta = m_snapshot ? generated - m_lastGenerated : 0;
    m_lastGenerated = generated;
    m_snapshot = std::move(snapshot);
    if (elapsed > 0 && delta >= 0)
        m_throughputLabel->setText(tr("%1 tokens/s").arg(double(delta) / elapsed, 0, 'f', 1));
    const KvCacheStats& kv = m_snapshot->kv.stats;
    m_kvLabel->setText(
        tr("KV %1% used, %2 cached blocks").arg(100.0 * kv.usage(), 0, 'f', 1).arg(kv.num_cached_free_blocks));
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About kvscope"),
                       tr("<b>kvscope</b> — a paged-attention LLM engine and a workbench to watch its KV cache."
                          "<p>Requests run through continuous batching over a KV cache cut into fixed-size blocks, "
                          "shared between prompts by prefix hashing and copied on write.</p>"));
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
