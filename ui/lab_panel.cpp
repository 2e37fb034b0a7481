#include "ui/lab_panel.h"

#include <qcustomplot.h>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "engine/error.h"
#include "engine/lab/lab_json.h"
#include "engine/trace_io.h"
#include "ui/atomic_file.h"
#include "ui/lab_charts.h"
#include "ui/lab_job.h"
#include "ui/session.h"

namespace kvscope::ui {
namespace {

constexpr std::int32_t kBlockSizes[] = {8, 16, 32};
constexpr double kUnitBytes[] = {0.0, 1024.0 * 1024.0, 1024.0 * 1024.0 * 1024.0};  // tokens, MiB, GiB
constexpr int kPngChartWidth = 820, kPngChartHeight = 520;

QCheckBox* checkBox(const QString& text, const QString& name, bool checked, QWidget* parent) {
    auto* box = new QCheckBox(text, parent);
    box->setObjectName(name);
    box->setChecked(checked);
    return box;
}

QString percent(double fraction) {
    return QStringLiteral("%1%").arg(100.0 * fraction, 0, 'f', 1);
}

}  // namespace

LabPanel::LabPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(buildControls());
    layout->addWidget(buildResults(), 1);
    connect(session, &Session::traceArrived, this, &LabPanel::onTrace);
    connect(session, &Session::modelLoaded, this, [this] {
        if (source() == Source::Session) resetBudget();
        updateButtons();
    });
    setSource(Source::Session);
    setStatus(tr("Run a batch or chat, then <b>Run</b> to replay this session's requests under each allocator."));
}

LabPanel::~LabPanel() = default;  // a running LabJob (a child) cancels and waits

QWidget* LabPanel::buildControls() {
    auto* box = new QWidget(this);
    m_source = new QComboBox(box);
    m_source->setObjectName("labSource");
    m_source->addItems({tr("This session's requests"), tr("Trace file")});
    m_traceInfo = new QLabel(box);
    m_traceInfo->setObjectName("labTraceInfo");
    m_traceInfo->setTextFormat(Qt::PlainText);
    auto* open = new QPushButton(tr("Open Trace…"), box);
    open->setToolTip(tr("A JSONL trace: kvscope-cli generate --trace-out, or make-trace"));
    m_budget = new QDoubleSpinBox(box);
    m_budget->setObjectName("labBudget");
    m_budget->setRange(0, 1e12);
    m_budget->setDecimals(0);
    m_budget->setToolTip(tr("KV memory every allocator gets (default: this session's KV cache)"));
    m_unit = new QComboBox(box);
    m_unit->setObjectName("labBudgetUnit");
    m_unit->addItems({tr("tokens"), tr("MiB"), tr("GiB")});
    for (const std::int32_t size : kBlockSizes) {
        m_blockSizes.push_back(checkBox(QString::number(size), QStringLiteral("labBlock%1").arg(size), true, box));
    }
    m_paged = checkBox(tr("paged"), "labPaged", true, box);
    m_pagedPrefix = checkBox(tr("paged + prefix caching"), "labPagedPrefix", true, box);
    m_max = checkBox(tr("max"), "labMax", true, box);
    m_pow2 = checkBox(tr("pow2"), "labPow2", true, box);
    m_oracle = checkBox(tr("oracle"), "labOracle", true, box);
    m_run = new QPushButton(tr("Run"), box);
    m_run->setObjectName("labRun");
    m_cancel = new QPushButton(tr("Cancel"), box);
    m_progress = new QProgressBar(box);
    m_progress->setMaximumWidth(160);
    m_progress->setFormat(tr("%v of %m"));
    m_exportJson = new QPushButton(tr("Export JSON…"), box);
    m_exportPng = new QPushButton(tr("Export PNG…"), box);

    auto* first = new QHBoxLayout;
    first->addWidget(new QLabel(tr("Trace"), box));
    first->addWidget(m_source);
    first->addWidget(open);
    first->addWidget(m_traceInfo, 1);
    first->addWidget(m_exportJson);
    first->addWidget(m_exportPng);
    auto* second = new QHBoxLayout;
    second->addWidget(new QLabel(tr("Budget"), box));
    second->addWidget(m_budget);
    second->addWidget(m_unit);
    second->addSpacing(12);
    second->addWidget(new QLabel(tr("Blocks of"), box));
    for (QCheckBox* size : m_blockSizes) second->addWidget(size);
    second->addWidget(new QLabel(tr("tokens:"), box));
    second->addWidget(m_paged);
    second->addWidget(m_pagedPrefix);
    second->addSpacing(12);
    second->addWidget(new QLabel(tr("Orca (contiguous):"), box));
    second->addWidget(m_max);
    second->addWidget(m_pow2);
    second->addWidget(m_oracle);
    second->addStretch();
    second->addWidget(m_run);
    second->addWidget(m_cancel);
    second->addWidget(m_progress);
    auto* layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(first);
    layout->addLayout(second);

    connect(m_source, &QComboBox::currentIndexChanged, this, [this] { setSource(source()); });
    connect(open, &QPushButton::clicked, this, &LabPanel::browse);
    connect(m_unit, &QComboBox::currentIndexChanged, this, &LabPanel::updateUnits);
    connect(m_run, &QPushButton::clicked, this, &LabPanel::run);
    connect(m_cancel, &QPushButton::clicked, this, &LabPanel::cancel);
    connect(m_exportJson, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export Lab Report"),
                                                          QStringLiteral("kvscope-lab.json"), tr("JSON (*.json)"));
        if (path.isEmpty()) return;
        const QString error = exportJson(path);
        error.isEmpty() ? setStatus(tr("Report written to %1").arg(path.toHtmlEscaped())) : showError(error);
    });
    connect(m_exportPng, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export Lab Charts"),
                                                          QStringLiteral("kvscope-lab.png"), tr("PNG image (*.png)"));
        if (path.isEmpty()) return;
        const QString error = exportPng(path);
        error.isEmpty() ? setStatus(tr("Charts written to %1").arg(path.toHtmlEscaped())) : showError(error);
    });
    return box;
}

QWidget* LabPanel::buildResults() {
    auto* box = new QWidget(this);
    m_status = new QLabel(box);
    m_status->setObjectName("labStatus");
    m_status->setWordWrap(true);
    m_bars = makeLabPlot(tr("Share of the KV memory in use, by allocator"), box);
    m_bars->setObjectName("labBars");
    m_series = makeLabPlot(tr("KV memory over the replay"), box);
    m_series->setObjectName("labSeries");
    m_seriesRun = new QComboBox(box);
    m_seriesRun->setObjectName("labSeriesRun");
    m_seriesRun->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_seriesRun->setToolTip(tr("The allocator whose memory the right chart follows"));
    m_table = new QTableWidget(0, 7, box);
    m_table->setObjectName("labTotals");
    m_table->setHorizontalHeaderLabels({tr("allocator"), tr("tokens"), tr("max\nbatch"), tr("mean\nbatch"),
                                        tr("pre-\nempted"), tr("refused"), tr("steps")});
    m_table->horizontalHeaderItem(1)->setToolTip(tr("Token states: their share of the memory in use"));
    m_table->verticalHeader()->setVisible(false);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);

    auto* seriesBox = new QWidget(box);
    auto* seriesHead = new QHBoxLayout;
    seriesHead->addWidget(new QLabel(tr("Over the steps:"), seriesBox));
    seriesHead->addWidget(m_seriesRun);
    seriesHead->addStretch();
    auto* seriesLayout = new QVBoxLayout(seriesBox);
    seriesLayout->setContentsMargins(0, 0, 0, 0);
    seriesLayout->addLayout(seriesHead);
    seriesLayout->addWidget(m_series, 1);
    auto* split = new QSplitter(Qt::Horizontal, box);
    split->addWidget(m_bars);
    split->addWidget(seriesBox);
    split->addWidget(m_table);
    split->setStretchFactor(0, 5);
    split->setStretchFactor(1, 5);
    split->setStretchFactor(2, 4);
    auto* layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_status);
    layout->addWidget(split, 1);

    connect(m_seriesRun, &QComboBox::currentIndexChanged, this, &LabPanel::showSeriesOf);
    connect(m_table, &QTableWidget::currentCellChanged, this, [this](int row) {
        if (row >= 0) m_seriesRun->setCurrentIndex(row);
    });
    return box;
}

LabPanel::Source LabPanel::source() const {
    return m_source->currentIndex() == 1 ? Source::File : Source::Session;
}

void LabPanel::setSource(Source source) {
    m_source->setCurrentIndex(source == Source::File ? 1 : 0);
    if (source == Source::File) {
        m_traceInfo->setText(
            m_fileTrace ? tr("%1: %2 requests").arg(QFileInfo(m_filePath).fileName()).arg(m_fileTrace->requests.size())
                        : tr("no file opened yet"));
    } else {
        m_traceInfo->setText(tr("the requests this session has finished since the model was loaded"));
    }
    resetBudget();
    updateButtons();
}

void LabPanel::browse() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open Trace"), QString(), tr("Traces (*.jsonl *.json);;All files (*)"));
    if (!path.isEmpty()) openTraceFile(path);
}

bool LabPanel::openTraceFile(const QString& path) {
    try {
        m_fileTrace = read_trace(path.toStdString());
    } catch (const Error& e) {
        showError(QString::fromStdString(e.what()));
        return false;
    }
    m_filePath = path;
    setSource(Source::File);
    return true;
}

qint64 LabPanel::bytesPerToken() const {
    if (source() == Source::File && m_fileTrace && m_fileTrace->header.kv_bytes_per_token) {
        return *m_fileTrace->header.kv_bytes_per_token;
    }
    if (source() == Source::File && m_fileTrace) return 0;  // another model's trace: bytes unknown
    const ModelSummary& m = m_session->model();
    return m_session->modelReady() && m.blockSize > 0 ? m.blockBytes / m.blockSize : 0;
}

// The budget that source ran with: the trace's header, else this session's KV cache.
void LabPanel::resetBudget() {
    qint64 tokens = 0;
    if (source() == Source::File && m_fileTrace && m_fileTrace->header.kv_cache_tokens) {
        tokens = *m_fileTrace->header.kv_cache_tokens;
    } else if (m_session->modelReady()) {
        tokens = qint64(m_session->model().numBlocks) * m_session->model().blockSize;
    }
    setBudgetTokens(tokens);
}

void LabPanel::setBudgetTokens(qint64 tokens) {
    const QSignalBlocker block(m_unit);
    m_unit->setCurrentIndex(0);
    m_unit->setProperty("unit", 0);
    m_budget->setDecimals(0);
    m_budget->setValue(double(tokens));
    updateUnits();
}

// Bytes need a token's size; switching units converts the value shown.
void LabPanel::updateUnits() {
    const qint64 bpt = bytesPerToken();
    auto* units = qobject_cast<QStandardItemModel*>(m_unit->model());
    for (int u = 1; u < m_unit->count(); ++u) units->item(u)->setEnabled(bpt > 0);
    const int unit = m_unit->currentIndex(), previous = m_unit->property("unit").toInt();
    if (unit != previous && bpt > 0) {
        const double tokens =
            previous == 0 ? m_budget->value() : m_budget->value() * kUnitBytes[previous] / double(bpt);
        m_budget->setDecimals(unit == 0 ? 0 : 2);
        m_budget->setValue(unit == 0 ? std::round(tokens) : tokens * double(bpt) / kUnitBytes[unit]);
    }
    m_unit->setProperty("unit", unit);
    m_budget->setToolTip(bpt > 0 ? tr("%1 tokens at %2 bytes a token").arg(budgetTokens()).arg(bpt)
                                 : tr("%1 tokens (the KV bytes per token are not known)").arg(budgetTokens()));
}

qint64 LabPanel::budgetTokens() const {
    const int unit = m_unit->currentIndex();
    if (unit == 0) return qint64(std::llround(m_budget->value()));
    const qint64 bpt = bytesPerToken();
    return bpt > 0 ? qint64(m_budget->value() * kUnitBytes[unit] / double(bpt)) : 0;
}

std::vector<lab::AllocatorSpec> LabPanel::selectedAllocators() const {
    using Kind = lab::AllocatorSpec::Kind;
    std::vector<lab::AllocatorSpec> specs;
    if (m_max->isChecked()) specs.push_back({Kind::OrcaMax, 16, false});
    if (m_pow2->isChecked()) specs.push_back({Kind::OrcaPow2, 16, false});
    if (m_oracle->isChecked()) specs.push_back({Kind::OrcaOracle, 16, false});
    for (const bool prefix : {false, true}) {  // the CLI's order: paged-8, -16, -32, then with prefix caching
        if (!(prefix ? m_pagedPrefix : m_paged)->isChecked()) continue;
        for (std::size_t i = 0; i < m_blockSizes.size(); ++i) {
            if (m_blockSizes[i]->isChecked()) specs.push_back({Kind::Paged, kBlockSizes[i], prefix});
        }
    }
    return specs;
}

// As `kvscope-cli lab`: the budget, the trace's context (else 2048); a session's trace also
// replays under the engine's own batch limits.
lab::LabConfig LabPanel::configFor(const TraceHeader& header, bool fromSession) const {
    lab::LabConfig config;
    config.budget_tokens = budgetTokens();
    config.bytes_per_token = bytesPerToken();
    config.max_model_len = header.max_model_len.value_or(config.max_model_len);
    if (fromSession) {
        const EngineConfig& engine = m_session->model().config;
        config.max_num_seqs = engine.max_num_seqs;
        config.max_num_batched_tokens = engine.max_num_batched_tokens;
        config.enable_chunked_prefill = engine.enable_chunked_prefill;
    }
    return config;
}

bool LabPanel::isRunning() const {
    return m_awaitingTrace || m_job;
}

void LabPanel::run() {
    if (isRunning()) return;
    m_lastError.clear();
    if (selectedAllocators().empty()) {
        showError(tr("No allocator is chosen: tick at least one (and a block size for the paged ones)."));
        return;
    }
    if (source() == Source::File) {
        if (!m_fileTrace) {
            showError(tr("No trace file is open: choose one with Open Trace…"));
            return;
        }
        start(*m_fileTrace, false, m_filePath);
        return;
    }
    if (!m_session->modelReady()) {
        showError(tr("No model is loaded, so this session has no requests yet; open a trace file instead."));
        return;
    }
    if (m_session->attached()) {
        showError(tr("The workbench follows %1: that server's requests are not recorded here. Detach to replay "
                     "the embedded engine's session, or open a trace file.")
                      .arg(m_session->attachedUrl()));
        return;
    }
    m_awaitingTrace = true;
    setStatus(tr("Collecting this session's requests…"));
    updateButtons();
    m_session->requestTrace();
}

void LabPanel::onTrace(const Trace& trace) {
    if (!m_awaitingTrace) return;  // asked by someone else, or cancelled
    m_awaitingTrace = false;
    if (trace.requests.empty()) {
        updateButtons();  // nothing runs: Run again, Cancel off
        showError(tr("This session has no finished requests yet: run a batch or chat first, or open a trace file."));
        emit finished();
        return;
    }
    start(trace, true, tr("this session"));
}

void LabPanel::start(const Trace& trace, bool fromSession, const QString& label) {
    const std::vector<lab::AllocatorSpec> allocators = selectedAllocators();
    m_job = new LabJob(trace, configFor(trace.header, fromSession), allocators, this);
    m_jobLabel = label;
    m_progress->setRange(0, int(allocators.size()));
    m_progress->setValue(0);
    connect(m_job, &LabJob::progressed, this, [this](int done) { m_progress->setValue(done); });
    connect(m_job, &LabJob::done, this, &LabPanel::onJobDone);
    setStatus(tr("Replaying %1 requests of %2 under %3 allocators…")
                  .arg(trace.requests.size())
                  .arg(label.toHtmlEscaped())
                  .arg(allocators.size()));
    m_job->start();
    updateButtons();
}

void LabPanel::cancel() {
    if (m_job) {
        m_job->cancel();
        setStatus(tr("Cancelling…"));
    } else if (m_awaitingTrace) {
        m_awaitingTrace = false;
        setStatus(tr("Cancelled; the previous results are kept."));
        updateButtons();
        emit finished();
    }
}

void LabPanel::onJobDone() {
    LabJob* job = m_job;
    m_job = nullptr;
    job->deleteLater();
    if (job->isCancelled()) {
        setStatus(tr("Cancelled; the previous results are kept."));
    } else if (!job->error().isEmpty()) {
        showError(job->error());
    } else {
        m_report = *job->report();
        m_reportLabel = m_jobLabel;
        showReport();
    }
    updateButtons();
    emit finished();
}

void LabPanel::showReport() {
    const lab::LabReport& r = *m_report;
    QString budget = tr("%1 tokens").arg(r.config.budget_tokens);
    if (r.config.bytes_per_token > 0) {
        budget += tr(" (%1 MiB)").arg(double(r.config.budget_tokens * r.config.bytes_per_token) / (1 << 20), 0, 'f', 1);
    }
    setStatus(tr("<b>%1</b>: %2 requests, %3 prompt + %4 output tokens · budget %5 · context %6 · at most %7 "
                 "sequences. Bars: shares of the memory in use, averaged over the steps; above each: token states.")
                  .arg(m_reportLabel.toHtmlEscaped())
                  .arg(r.num_requests)
                  .arg(r.num_prompt_tokens)
                  .arg(r.num_output_tokens)
                  .arg(budget)
                  .arg(r.config.max_model_len)
                  .arg(r.config.max_num_seqs));
    drawShareBars(m_bars, r);
    fillTable();
    const QString shown = m_seriesRun->currentText();
    const QSignalBlocker block(m_seriesRun);
    m_seriesRun->clear();
    int index = 0;
    for (std::size_t i = 0; i < r.runs.size(); ++i) {
        const QString name = QString::fromStdString(r.runs[i].name);
        m_seriesRun->addItem(name);
        if (name == shown || (shown.isEmpty() && name == QLatin1String("paged-16"))) index = int(i);
    }
    m_seriesRun->setCurrentIndex(index);
    showSeriesOf(index);
}

void LabPanel::fillTable() {
    const auto& runs = m_report->runs;
    m_table->setRowCount(int(runs.size()));
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const lab::LabTotals& t = runs[i].totals;
        const QStringList cells = {QString::fromStdString(runs[i].name), percent(t.token_share_of_used()),
                                   QString::number(t.max_batch),         QString::number(t.mean_batch, 'f', 1),
                                   QString::number(t.num_preemptions),   QString::number(t.num_refused),
                                   QString::number(t.makespan_steps)};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            item->setTextAlignment(c == 0 ? Qt::AlignLeft | Qt::AlignVCenter : Qt::AlignRight | Qt::AlignVCenter);
            m_table->setItem(int(i), c, item);
        }
    }
}

void LabPanel::showSeriesOf(int runIndex) {
    if (!m_report || runIndex < 0 || runIndex >= int(m_report->runs.size())) return;
    drawMemorySeries(m_series, m_report->runs[std::size_t(runIndex)]);
}

QString LabPanel::statusText() const {
    return m_status->text();
}

void LabPanel::setStatus(const QString& html) {
    m_status->setText(html);
}

void LabPanel::showError(const QString& message) {
    m_lastError = message;
    setStatus(QStringLiteral("<span style=\"color:#b00020\">%1</span>").arg(message.toHtmlEscaped()));
    auto* box = new QMessageBox(QMessageBox::Critical, tr("Memory lab"), message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();  // window-modal, never a nested event loop
    emit errorShown(message);
}

void LabPanel::updateButtons() {
    const bool running = isRunning();
    m_run->setEnabled(!running);
    m_cancel->setEnabled(running);
    m_exportJson->setEnabled(m_report.has_value());
    m_exportPng->setEnabled(m_report.has_value());
}

QString LabPanel::exportJson(const QString& path) const {
    if (!m_report) return tr("Nothing to export yet: run the lab first.");
    lab::LabJsonOptions options;
    options.trace_path = m_reportLabel.toStdString();
    options.indent = 2;
    return writeAtomically(path, QByteArray::fromStdString(lab::lab_report_json(*m_report, options) + "\n"));
}

// Both charts side by side, at a fixed size (whatever the dock's).
QImage LabPanel::chartsImage() const {
    QImage image(2 * kPngChartWidth, kPngChartHeight, QImage::Format_ARGB32);
    image.fill(Qt::white);
    QPainter painter(&image);
    painter.drawPixmap(0, 0, m_bars->toPixmap(kPngChartWidth, kPngChartHeight));
    painter.drawPixmap(kPngChartWidth, 0, m_series->toPixmap(kPngChartWidth, kPngChartHeight));
    return image;
}

QString LabPanel::exportPng(const QString& path) const {
    if (!m_report) return tr("Nothing to export yet: run the lab first.");
    return saveImageAtomically(path, chartsImage());
}

}  // namespace kvscope::ui
