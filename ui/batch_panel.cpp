#include "ui/batch_panel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>
#include <limits>

#include "engine/error.h"
#include "ui/adapter_combo.h"
#include "ui/batch_run.h"
#include "ui/batch_workload.h"
#include "ui/request_log.h"
#include "ui/session.h"

namespace kvscope::ui {

BatchPanel::BatchPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_kind = new QComboBox(this);
    m_kind->setObjectName("batchKind");
    m_kind->addItems({tr("Synthetic workload"), tr("Prompts file (JSONL)")});
    m_forms = new QStackedWidget(this);
    m_forms->addWidget(buildSyntheticForm());
    m_forms->addWidget(buildFileForm());
    m_lora = new QComboBox(this);
    m_lora->setObjectName("batchLoraCombo");
    m_lora->setToolTip(tr("The LoRA adapter the run's requests use; a prompts-file line may name its own "
                          "with \"lora\" (File ▸ Load LoRA Adapter…)"));
    m_loraRow = new QWidget(this);
    auto* loraLayout = new QHBoxLayout(m_loraRow);
    loraLayout->setContentsMargins(0, 0, 0, 0);
    loraLayout->addWidget(new QLabel(tr("Adapter:"), m_loraRow));
    loraLayout->addWidget(m_lora, 1);
    m_start = new QPushButton(tr("Start batch"), this);
    m_start->setObjectName("batchStart");
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName("batchCancel");
    m_progress = new QProgressBar(this);
    m_progress->setObjectName("batchProgress");
    m_progress->setFormat(tr("no batch yet"));  // "%v / %m done" once one runs
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_summary = new QLabel(tr("No batch has run yet."), this);
    m_summary->setObjectName("batchSummary");
    m_summary->setWordWrap(true);

    buildTable();

    auto* controlsBox = new QWidget(this);
    controlsBox->setMaximumWidth(250);
    auto* controls = new QVBoxLayout(controlsBox);
    controls->setContentsMargins(0, 0, 0, 0);
    controls->addWidget(m_kind);
    controls->addWidget(m_forms);
    controls->addWidget(m_loraRow);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_start);
    buttons->addWidget(m_cancel);
    controls->addLayout(buttons);
    controls->addStretch();
    auto* right = new QVBoxLayout;
    right->addWidget(m_progress);
    right->addWidget(m_summary);
    right->addWidget(m_table, 1);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(controlsBox);
    layout->addLayout(right, 1);

    connect(m_kind, &QComboBox::currentIndexChanged, m_forms, &QStackedWidget::setCurrentIndex);
    connect(m_start, &QPushButton::clicked, this, &BatchPanel::start);
    connect(m_cancel, &QPushButton::clicked, this, &BatchPanel::cancel);
    connect(m_table, &QTableView::clicked, this, [this](const QModelIndex& index) {
        const QModelIndex id = m_proxy->index(index.row(), RequestLog::Id);
        bool ok = false;
        const qint64 requestId = m_proxy->data(id).toLongLong(&ok);
        if (ok) m_session->focusRequest(requestId);
    });
    connect(session, &Session::modelLoaded, this, &BatchPanel::updateButtons);
    connect(session, &Session::lorasChanged, this, &BatchPanel::refreshLoras);
    refreshLoras();
    updateButtons();
}

void BatchPanel::refreshLoras() {
    m_loraRow->setVisible(fillAdapterCombo(m_lora, m_session->loras()));
}

void BatchPanel::buildTable() {
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_session->requestLog());
    m_proxy->setFilterKeyColumn(RequestLog::Source);
    m_proxy->setSortRole(RequestLog::SortRole);
    m_proxy->setFilterRegularExpression(QRegularExpression(QStringLiteral("^$^")));  // nothing before a run
    m_table = new QTableView(this);
    m_table->setObjectName("batchTable");
    m_table->setModel(m_proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(RequestLog::State, Qt::AscendingOrder);  // running first, then waiting, then done
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->setVisible(false);
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setAlternatingRowColors(true);
    m_table->setToolTip(tr("Click a request to draw its block table in the inspector"));
    m_table->setColumnHidden(RequestLog::Source, true);  // the run's requests only: one source
    // What changes while a request runs first: blocks held and preemptions next to its tokens.
    QHeaderView* header = m_table->horizontalHeader();
    header->moveSection(header->visualIndex(RequestLog::Blocks), header->visualIndex(RequestLog::Ttft));
    header->moveSection(header->visualIndex(RequestLog::Preemptions), header->visualIndex(RequestLog::Ttft));
    // Fixed widths (measuring every row on every update would not scale to large batches).
    for (int c = 0; c < RequestLog::NumColumns; ++c) {
        const QString header = m_session->requestLog()->headerData(c, Qt::Horizontal, Qt::DisplayRole).toString();
        const int text = std::max(fontMetrics().horizontalAdvance(header), fontMetrics().horizontalAdvance("00000"));
        m_table->setColumnWidth(c, text + 22);
    }
}

QWidget* BatchPanel::buildSyntheticForm() {
    auto* form = new QWidget(this);
    m_count = new QSpinBox(form);
    m_count->setObjectName("batchCount");
    m_count->setRange(1, 100000);
    m_count->setValue(200);
    m_promptLen = new QLineEdit(QStringLiteral("uniform:160-256"), form);
    m_promptLen->setObjectName("batchPromptLen");
    m_promptLen->setToolTip(tr("Tokens per prompt: a number, uniform:LOW-HIGH or normal:MEAN,SD"));
    m_outputLen = new QLineEdit(QStringLiteral("uniform:32-128"), form);
    m_outputLen->setObjectName("batchOutputLen");
    m_outputLen->setToolTip(tr("Tokens generated per request: a number, uniform:LOW-HIGH or normal:MEAN,SD"));
    m_sharedPct = new QSpinBox(form);
    m_sharedPct->setObjectName("batchShared");
    m_sharedPct->setRange(0, 100);
    m_sharedPct->setValue(60);
    m_sharedPct->setSuffix(QStringLiteral(" %"));
    m_sharedPct->setToolTip(tr("Part of every prompt that is one common prefix (a system prompt): prefix-cache hits"));
    m_rate = new QDoubleSpinBox(form);
    m_rate->setObjectName("batchRate");
    m_rate->setRange(0, 10000);
    m_rate->setValue(40);
    m_rate->setSuffix(tr(" req/s"));
    m_rate->setSpecialValueText(tr("all at once"));
    m_rate->setToolTip(tr("Poisson arrival rate, replayed in real time (0: every request at once)"));
    m_seed = new QSpinBox(form);
    m_seed->setRange(0, 1 << 30);
    m_seed->setValue(1);
    m_temperature = new QDoubleSpinBox(form);
    m_temperature->setRange(0, 2);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.8);
    auto* layout = new QFormLayout(form);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addRow(tr("Requests"), m_count);
    layout->addRow(tr("Prompt length"), m_promptLen);
    layout->addRow(tr("Output length"), m_outputLen);
    layout->addRow(tr("Shared prefix"), m_sharedPct);
    layout->addRow(tr("Arrival rate"), m_rate);
    layout->addRow(tr("Seed"), m_seed);
    layout->addRow(tr("Temperature"), m_temperature);
    m_textNote = new QLabel(form);
    m_textNote->setObjectName("batchTextNote");
    m_textNote->setWordWrap(true);
    m_textNote->setVisible(false);
    layout->addRow(m_textNote);
    return form;
}

QWidget* BatchPanel::buildFileForm() {
    auto* form = new QWidget(this);
    m_path = new QLineEdit(form);
    m_path->setObjectName("batchPath");
    m_path->setPlaceholderText(tr("prompts.jsonl: one {\"prompt\": \"...\"} per line"));
    auto* browse = new QPushButton(tr("Browse…"), form);
    m_fileMaxTokens = new QSpinBox(form);
    m_fileMaxTokens->setRange(1, 1 << 20);
    m_fileMaxTokens->setValue(64);
    m_fileMaxTokens->setToolTip(tr("For lines that set no max_tokens"));
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);
    auto* layout = new QFormLayout(form);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addRow(tr("File"), pathRow);
    layout->addRow(tr("Max tokens"), m_fileMaxTokens);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open Prompts"), QString(),
                                                          tr("JSON lines (*.jsonl *.json);;All files (*)"));
        if (!path.isEmpty()) m_path->setText(path);
    });
    return form;
}

WorkloadSpec BatchPanel::workloadSpec() const {
    WorkloadSpec spec;
    spec.num_requests = m_count->value();
    spec.prompt_len = LengthDistribution::parse(m_promptLen->text().trimmed().toStdString(), "prompt length");
    spec.output_len = LengthDistribution::parse(m_outputLen->text().trimmed().toStdString(), "output length");
    spec.shared_prefix_fraction = m_sharedPct->value() / 100.0;
    spec.request_rate = m_rate->value() > 0 ? m_rate->value() : std::numeric_limits<double>::infinity();
    spec.seed = std::uint64_t(m_seed->value());
    return spec;
}

void BatchPanel::setWorkloadSpec(const WorkloadSpec& spec) {
    m_kind->setCurrentIndex(0);
    m_count->setValue(spec.num_requests);
    m_promptLen->setText(QString::fromStdString(spec.prompt_len.to_string()));
    m_outputLen->setText(QString::fromStdString(spec.output_len.to_string()));
    m_sharedPct->setValue(int(std::lround(spec.shared_prefix_fraction * 100)));
    m_rate->setValue(std::isinf(spec.request_rate) ? 0.0 : spec.request_rate);
    m_seed->setValue(int(spec.seed));
}

void BatchPanel::start() {
    if (m_kind->currentIndex() == 1) {
        startFile(m_path->text().trimmed());
        return;
    }
    try {
        startSynthetic(workloadSpec());
    } catch (const Error& e) {
        fail(QString::fromStdString(e.what()));
    }
}

bool BatchPanel::startSynthetic(const WorkloadSpec& spec) {
    if (!m_session->modelReady()) return false;
    setWorkloadSpec(spec);  // the form shows what runs
    const ModelSummary& m = m_session->model();
    WorkloadSpec fitted = spec;
    if (m.contextLength > 0) {
        // The fixed length, the lowest of a uniform range, or the mean: most prompts are at least
        // this long, and none of those could run.
        if (spec.prompt_len.a >= m.contextLength) {
            fail(tr("Prompt lengths of %1 do not fit %2's context of %3 tokens (prompt and output); "
                    "choose shorter prompts.")
                     .arg(QString::fromStdString(spec.prompt_len.to_string()), m.name)
                     .arg(m.contextLength));
            return false;
        }
        // A longer draw (a distribution's tail) is refused by the engine as it arrives; cut, it
        // still is, without the memory of a prompt that no engine runs.
        fitted.max_prompt_len = m.contextLength;
    }
    try {
        if (m.vocabSize <= 0) {  // a server that does not say its vocabulary: text prompts
            return begin(syntheticTextBatch(fitted, m_temperature->value()),
                         tr("%1 synthetic requests, as text").arg(spec.num_requests));
        }
        return begin(syntheticBatch(fitted, m.vocabSize, m.firstTokenId, m.bosId, m_temperature->value()),
                     tr("%1 synthetic requests").arg(spec.num_requests));
    } catch (const Error& e) {
        fail(QString::fromStdString(e.what()));
        return false;
    }
}

bool BatchPanel::startFile(const QString& path) {
    if (!m_session->modelReady()) return false;
    SamplingParams defaults;
    defaults.max_tokens = m_fileMaxTokens->value();
    defaults.temperature = m_temperature->value();
    try {
        return begin(readPromptsFile(path, defaults), path);
    } catch (const Error& e) {
        fail(QString::fromStdString(e.what()));
        return false;
    }
}

bool BatchPanel::begin(std::vector<BatchItem> items, const QString& what) {
    const std::string lora = m_lora->currentData().toString().toStdString();
    for (BatchItem& item : items) {
        if (item.request.lora.empty()) item.request.lora = lora;  // a file's line may name its own
    }
    if (m_run && !m_run->isDone()) m_run->cancel();
    const QString source = tr("batch %1").arg(++m_numRuns);
    m_run = new BatchRun(m_session, source, std::move(items), this);
    m_proxy->setFilterRegularExpression(
        QRegularExpression(QStringLiteral("^%1$").arg(QRegularExpression::escape(source))));
    m_progress->setFormat(tr("%v / %m done"));
    m_progress->setRange(0, m_run->total());
    m_progress->setValue(0);
    connect(m_run, &BatchRun::progressChanged, this, &BatchPanel::updateProgress);
    connect(m_run, &BatchRun::done, this, [this, source] {
        updateProgress();
        updateButtons();
        emit runFinished(source);
    });
    m_summary->setProperty("what", what);
    m_run->start();
    updateProgress();
    updateButtons();
    emit runStarted(source);
    return true;
}

void BatchPanel::cancel() {
    if (m_run) m_run->cancel();
}

QString BatchPanel::summaryText() const {
    return m_summary->text();
}

void BatchPanel::updateProgress() {
    if (!m_run) return;
    const BatchRun& r = *m_run;
    m_progress->setValue(r.finished() + r.rejected() + r.cancelled());
    const double t = r.elapsed();
    QString text = tr("<b>%1</b> (%2): %3 finished · %4 in flight · %5 not sent yet · %6 rejected · %7 cancelled · "
                      "%8 s · %9 tokens/s generated")
                       .arg(r.source(), m_summary->property("what").toString())
                       .arg(r.finished())
                       .arg(r.inFlight())
                       .arg(r.total() - r.sent())
                       .arg(r.rejected())
                       .arg(r.cancelled())
                       .arg(t, 0, 'f', 1)
                       .arg(t > 0 ? double(r.generatedTokens()) / t : 0.0, 0, 'f', 0);
    if (!r.lastError().isEmpty())
        text += tr("<br><span style=\"color:#b00020\">last rejection: %1</span>").arg(r.lastError().toHtmlEscaped());
    m_summary->setText(text);
}

void BatchPanel::updateButtons() {
    const ModelSummary& m = m_session->model();
    const bool text = m_session->modelReady() && m.vocabSize <= 0;
    m_textNote->setVisible(text);
    m_textNote->setText(text ? tr("<i>The %1 server does not publish its vocabulary: synthetic prompts go as text of "
                                  "common words (about one token each), so their lengths are approximate.</i>")
                                   .arg(m.remoteKind.toHtmlEscaped())
                             : QString());
    const bool running = m_run && !m_run->isDone();
    m_start->setEnabled(m_session->modelReady());
    // One batch runs at a time: a new one cancels the one that runs, and the button says so.
    m_start->setText(running ? tr("Cancel && start another") : tr("Start batch"));
    m_start->setToolTip(running ? tr("Cancels %1 (its running requests are aborted, the rest never sent) and "
                                     "starts a new batch")
                                      .arg(m_run->source())
                                : tr("Starts the batch described above"));
    m_cancel->setEnabled(running);
}

void BatchPanel::fail(const QString& message) {
    m_summary->setText(QStringLiteral("<span style=\"color:#b00020\">%1</span>").arg(message.toHtmlEscaped()));
}

}  // namespace kvscope::ui
