#include "ui/perplexity_panel.h"

#include <QAction>
#include <QCheckBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>

#include "resources/sample_text.h"
#include "ui/atomic_file.h"
#include "ui/perplexity_log.h"
#include "ui/perplexity_run.h"
#include "ui/session.h"

namespace kvscope::ui {
namespace {

constexpr qint64 kMaxTextBytes = qint64{256} << 20;  // a text file larger than this is refused
constexpr int kMaxContext = 1 << 20;                 // the context box's bound while no model says its own

}  // namespace

PerplexityPanel::PerplexityPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_file = new QLineEdit(this);
    m_file->setObjectName("perplexityFile");
    m_file->setPlaceholderText(tr("the built-in sample (%1)")
                                   .arg(QString::fromUtf8(kSampleTextName.data(), qsizetype(kSampleTextName.size()))));
    m_file->setToolTip(tr("A UTF-8 text file to score; leave empty for the built-in sample story"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(m_file, 1);
    fileRow->addWidget(browse);
    m_context = new QSpinBox(this);
    m_context->setObjectName("perplexityContext");
    m_context->setRange(4, kMaxContext);
    m_context->setValue(128);
    m_askedContext = m_context->value();
    m_context->setToolTip(tr("Tokens per chunk (llama-perplexity's -c); below the model's context length"));
    m_chunks = new QSpinBox(this);
    m_chunks->setObjectName("perplexityChunks");
    m_chunks->setRange(0, 1 << 20);
    m_chunks->setSpecialValueText(tr("all"));
    m_chunks->setToolTip(tr("Score only the first N chunks (--chunks)"));
    m_scoreAll = new QCheckBox(tr("Score every token"), this);
    m_scoreAll->setToolTip(
        tr("Score every token of each chunk after the first, not only the chunk's second half "
           "(llama-perplexity's default, which gives each scored token at least half a "
           "chunk of context)"));
    m_scoreAll->setObjectName("perplexityScoreAll");
    auto* numbers = new QHBoxLayout;
    numbers->addWidget(new QLabel(tr("Context:"), this));
    numbers->addWidget(m_context);
    numbers->addSpacing(12);
    numbers->addWidget(new QLabel(tr("Chunks:"), this));
    numbers->addWidget(m_chunks);
    numbers->addStretch(1);
    m_measure = new QPushButton(tr("Measure"), this);
    m_measure->setObjectName("measurePerplexity");
    m_measure->setToolTip(tr("Score the text with the loaded model, its weights and its KV cache as they are now"));
    m_stop = new QPushButton(tr("Stop"), this);
    m_stop->setObjectName("stopPerplexity");
    m_save = new QPushButton(tr("Save…"), this);
    m_save->setObjectName("savePerplexity");
    m_save->setToolTip(tr("Save the table of runs as CSV"));
    m_clear = new QPushButton(tr("Clear"), this);
    m_clear->setObjectName("clearPerplexity");
    m_clear->setToolTip(tr("Forget the runs in the table"));
    numbers->addWidget(m_clear);
    numbers->addWidget(m_save);
    numbers->addWidget(m_stop);
    numbers->addWidget(m_measure);
    m_status = new QLabel(this);
    m_status->setObjectName("perplexityStatus");
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_table = new QTableView(this);
    m_table->setObjectName("perplexityRuns");
    m_table->setModel(session->perplexityLog());
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->setVisible(false);
    m_table->setContextMenuPolicy(Qt::ActionsContextMenu);
    auto* compare = new QAction(tr("Compare with This Run"), m_table);
    compare->setToolTip(tr("Show every run's change in PPL from the selected (finished) run"));
    m_table->addAction(compare);
    connect(compare, &QAction::triggered, this, [this] { compareWith(m_table->currentIndex().row()); });
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(fileRow);
    layout->addLayout(numbers);
    layout->addWidget(m_scoreAll);
    layout->addWidget(m_status);
    layout->addWidget(m_table, 1);

    connect(browse, &QPushButton::clicked, this, &PerplexityPanel::browse);
    connect(m_measure, &QPushButton::clicked, this, &PerplexityPanel::measure);
    connect(m_stop, &QPushButton::clicked, this, &PerplexityPanel::stop);
    connect(m_save, &QPushButton::clicked, this, &PerplexityPanel::chooseAndSave);
    connect(m_clear, &QPushButton::clicked, this, &PerplexityPanel::clearRuns);
    connect(m_context, &QSpinBox::valueChanged, this, [this](int context) { m_askedContext = context; });
    connect(session, &Session::modelLoaded, this, &PerplexityPanel::onModelLoaded);
    // Clear and Save… need runs: they follow the session's log, whoever adds or clears them.
    PerplexityLog* log = session->perplexityLog();
    connect(log, &QAbstractItemModel::rowsInserted, this, &PerplexityPanel::updateButtons);
    connect(log, &QAbstractItemModel::rowsRemoved, this, &PerplexityPanel::updateButtons);
    connect(log, &QAbstractItemModel::modelReset, this, &PerplexityPanel::updateButtons);
    connect(session, &Session::perplexityPrepared, this, &PerplexityPanel::onChunks);
    setStatus(
        tr("Measures how well the loaded model predicts a text, as llama-perplexity does: load the model "
           "again with other weights or another KV cache dtype and measure again to compare."));
    updateButtons();
}

QString PerplexityPanel::statusText() const {
    return m_status->text();
}

void PerplexityPanel::setStatus(const QString& text, bool error) {
    m_status->setText(text);
    m_status->setStyleSheet(error ? QStringLiteral("color:#b00020") : QString());
}

void PerplexityPanel::updateButtons() {
    m_measure->setEnabled(m_modelReady && !busy());
    m_stop->setEnabled(busy());
    const bool runs = m_session->perplexityLog()->rowCount() > 0;
    m_clear->setEnabled(runs && !busy());
    m_save->setEnabled(runs);
}

void PerplexityPanel::onModelLoaded(const ModelSummary& summary) {
    m_model = summary;
    m_modelReady = true;
    // Each model clamps the context the user chose to its own length, not what an earlier model
    // clamped it to (a context of 0: not said, nothing to clamp to).
    const QSignalBlocker keepAsked(m_context);
    m_context->setMaximum(summary.contextLength > 4 ? summary.contextLength - 1 : kMaxContext);
    m_context->setValue(std::min(m_askedContext, m_context->maximum()));
    updateButtons();
}

QString PerplexityPanel::saveCsv(const QString& path) const {
    return writeAtomically(path, m_session->perplexityLog()->toCsv().toUtf8());
}

bool PerplexityPanel::compareWith(int row) {
    if (!m_session->perplexityLog()->setBase(row)) {
        setStatus(tr("Only a finished run can be compared with: choose one whose chunks were all scored."), true);
        return false;
    }
    setStatus(
        tr("Runs compared with run %1 (PPL %2).").arg(row + 1).arg(*m_session->perplexityLog()->basePpl(), 0, 'f', 4));
    return true;
}

void PerplexityPanel::clearRuns() {
    if (busy()) return;
    m_session->perplexityLog()->clear();
    setStatus(tr("The runs are cleared; the next one to finish is the base."));
}

void PerplexityPanel::chooseAndSave() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Save Perplexity Runs"),
                                                      QStringLiteral("perplexity.csv"), tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    const QString error = saveCsv(path);
    setStatus(
        error.isEmpty() ? tr("Saved %1 runs to %2.").arg(m_session->perplexityLog()->rowCount()).arg(path) : error,
        !error.isEmpty());
}

void PerplexityPanel::browse() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Text to Score"), m_file->text(),
                                                      tr("Text files (*.txt *.md *.raw);;All files (*)"));
    if (!path.isEmpty()) m_file->setText(path);
}

bool PerplexityPanel::measure() {
    if (busy() || !m_modelReady) return false;
    PerplexityText request;
    const QString path = m_file->text().trimmed();
    if (path.isEmpty()) {
        const std::string_view text = sample_text();
        request.text = QByteArray(text.data(), qsizetype(text.size()));
        m_textName = QString::fromUtf8(kSampleTextName.data(), qsizetype(kSampleTextName.size()));
    } else {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            setStatus(tr("Could not read %1: %2. Choose a readable text file.").arg(path, file.errorString()), true);
            return false;
        }
        if (file.size() > kMaxTextBytes) {
            setStatus(tr("%1 is %2 MiB; texts of at most %3 MiB are scored here (cut it, or use kvscope-cli "
                         "perplexity --chunks).")
                          .arg(path)
                          .arg(file.size() >> 20)
                          .arg(kMaxTextBytes >> 20),
                      true);
            return false;
        }
        request.text = file.readAll();
        m_textName = QFileInfo(path).fileName();
    }
    m_options.context = m_context->value();
    m_options.max_chunks = m_chunks->value();
    m_options.score_all = m_scoreAll->isChecked();
    request.options = m_options;
    request.id = ++m_asked;
    m_preparing = true;
    m_stopped = false;
    setStatus(tr("Tokenising %1…").arg(m_textName));
    m_session->preparePerplexity(request);
    updateButtons();
    return true;
}

void PerplexityPanel::stop() {
    if (m_run) {
        m_stopped = true;
        m_run->stop();
    } else if (m_preparing) {
        m_preparing = false;  // the chunks are ignored when they come
        setStatus(tr("Stopped."));
        updateButtons();
    }
}

void PerplexityPanel::onChunks(const PerplexityChunks& chunks) {
    if (!m_preparing || chunks.id != m_asked) return;
    m_preparing = false;
    if (!chunks.error.isEmpty()) {
        setStatus(tr("%1: %2").arg(m_textName, chunks.error), true);
        updateButtons();
        return;
    }
    addRow(chunks);
    m_run = new PerplexityRun(m_session, chunks.chunks, m_options, this);
    connect(m_run, &PerplexityRun::chunkScored, this, &PerplexityPanel::onChunkScored);
    connect(m_run, &PerplexityRun::runFinished, this, &PerplexityPanel::onRunFinished);
    setStatus(tr("%1: %2 tokens, %3 chunks of %4 running…")
                  .arg(m_textName)
                  .arg(chunks.numTokens)
                  .arg(chunks.chunks.size())
                  .arg(m_options.context));
    updateButtons();
    m_clock.start();
    m_run->start();
}

void PerplexityPanel::addRow(const PerplexityChunks& chunks) {
    PerplexityRecord r;
    r.model = m_model.name;
    r.weights = weightDescription(m_model);
    // A kvscope server says its cache dtype (/v1/models); other servers do not.
    const bool knownCache = m_model.remoteKind.isEmpty() || m_model.remoteKind == QLatin1String("kvscope");
    r.cacheDtype = knownCache ? tensorTypeText(m_model.config.cache_dtype) : tr("(%1's)").arg(m_model.remoteKind);
    r.text = m_textName;
    r.context = m_options.context;
    r.scoreAll = m_options.score_all;
    r.textTokens = chunks.numTokens;
    r.numChunks = qint32(chunks.chunks.size());
    m_row = m_session->perplexityLog()->start(std::move(r));
    m_table->scrollToBottom();
}

void PerplexityPanel::onChunkScored(int index, const PerplexityEstimate& running) {
    if (!m_run) return;
    m_session->perplexityLog()->progress(m_row, index + 1, running, double(m_clock.nsecsElapsed()) * 1e-9);
    setStatus(tr("%1: chunk %2 of %3 · running PPL %4 ± %5")
                  .arg(m_textName)
                  .arg(index + 1)
                  .arg(m_run->numChunks())
                  .arg(running.ppl, 0, 'f', 4)
                  .arg(running.ppl_error, 0, 'f', 4));
}

void PerplexityPanel::onRunFinished(const QString& error) {
    if (!m_run) return;
    const PerplexityEstimate e = m_run->estimate();
    const double seconds = double(m_clock.nsecsElapsed()) * 1e-9;
    PerplexityLog* log = m_session->perplexityLog();
    if (error.isEmpty()) {
        log->finish(m_row, e, seconds);
        setStatus(tr("%1: Final estimate: PPL = %2 +/- %3 over %4 tokens in %5 chunks (%6 s)")
                      .arg(m_textName)
                      .arg(e.ppl, 0, 'f', 4)
                      .arg(e.ppl_error, 0, 'f', 5)
                      .arg(e.num_scored)
                      .arg(m_run->numChunks())
                      .arg(seconds, 0, 'f', seconds < 10 ? 2 : 1));
    } else {
        log->end(m_row, m_stopped ? PerplexityRecord::State::Stopped : PerplexityRecord::State::Failed, error, seconds);
        setStatus(tr("%1: %2").arg(m_textName, error), !m_stopped);
    }
    m_run->deleteLater();
    m_run = nullptr;
    m_row = -1;
    updateButtons();
}

}  // namespace kvscope::ui
