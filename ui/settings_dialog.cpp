#include "ui/settings_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableWidget>
#include <QThread>
#include <QVBoxLayout>

#include "engine/model_load_options.h"
#include "kernels/cuda/cuda_backend.h"
#include "ui/model_summary.h"
#include "ui/workbench_settings.h"

namespace kvscope::ui {
namespace {

QSpinBox* spin(QWidget* parent, int lo, int hi, const QString& tip, const QString& special = {}) {
    auto* s = new QSpinBox(parent);
    s->setRange(lo, hi);
    s->setToolTip(tip);
    if (!special.isEmpty()) s->setSpecialValueText(special);
    return s;
}

// CPU, CUDA (enabled only when this build has it and a device answers: the item says why not)
// and Auto; the data is the BackendKind.
void addBackendItems(QComboBox* box) {
    box->addItem(QObject::tr("CPU (threads, AVX2 / AVX-512)"), int(BackendKind::Cpu));
    const CudaDeviceInfo& device = cuda_device_info();
    box->addItem(device.available ? QObject::tr("CUDA — %1").arg(QString::fromStdString(device.name))
                                  : QObject::tr("CUDA — %1").arg(QString::fromStdString(device.reason)),
                 int(BackendKind::Cuda));
    if (!device.available) {
        if (auto* model = qobject_cast<QStandardItemModel*>(box->model())) model->item(1)->setEnabled(false);
    }
    box->addItem(QObject::tr("Auto (CUDA when a GPU is there, else the CPU)"), int(BackendKind::Auto));
}

QTableWidget* table(QWidget* parent, const QStringList& headers) {
    auto* t = new QTableWidget(0, int(headers.size()), parent);
    t->setHorizontalHeaderLabels(headers);
    t->verticalHeader()->setVisible(false);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    return t;
}

}  // namespace

SettingsDialog::SettingsDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Model and Cache Settings"));
    m_problemsLabel = new QLabel(this);
    m_problemsLabel->setObjectName("settingsProblems");
    m_problemsLabel->setWordWrap(true);
    m_problemsLabel->setStyleSheet(QStringLiteral("color:#b00020"));
    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_buttons->button(QDialogButtonBox::Ok)->setText(tr("Load"));
    auto* body = new QHBoxLayout;
    body->addWidget(buildModelBox(), 3);
    body->addWidget(buildEngineBox(), 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(body, 1);
    layout->addWidget(m_problemsLabel);
    layout->addWidget(m_buttons);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    setRequest(LoadRequest{embeddedModelSource(), std::nullopt, EngineConfig{}});
    resize(980, 620);
}

QWidget* SettingsDialog::buildModelBox() {
    auto* box = new QGroupBox(tr("Model"), this);
    m_source = new QLineEdit(box);
    m_source->setObjectName("modelSource");
    auto* browse = new QPushButton(tr("Browse…"), box);
    auto* embedded = new QPushButton(tr("Embedded"), box);
    embedded->setToolTip(tr("The stories260K model compiled into kvscope"));
    auto* row = new QHBoxLayout;
    row->addWidget(m_source, 1);
    row->addWidget(browse);
    row->addWidget(embedded);
    m_summary = new QLabel(box);
    m_summary->setObjectName("modelFileSummary");
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_metadata = table(box, {tr("Key"), tr("Value")});
    m_tensors = table(box, {tr("Tensor"), tr("Type"), tr("Shape"), tr("Bytes")});
    auto* tabs = new QTabWidget(box);
    tabs->addTab(m_metadata, tr("Metadata"));
    tabs->addTab(m_tensors, tr("Tensors"));
    m_weights = new QComboBox(box);
    m_weights->setObjectName("weightType");
    m_weights->addItem(tr("as stored"), QString());
    for (TensorType t : requantization_targets()) {
        const QString name = tensorTypeText(t);
        m_weights->addItem(tr("re-quantised to %1").arg(name), name);
    }
    for (TensorType base : {TensorType::Q4_K, TensorType::Q5_K}) {
        const QString name = QString::fromStdString(WeightConversion{base, true}.name());
        m_weights->addItem(tr("re-quantised to %1 (llama.cpp's mixture)").arg(name), name);
    }
    m_weights->setToolTip(
        tr("Re-quantise every 2-D weight at load (rows whose length does not fit the type's blocks "
           "stay as stored). The _M mixtures keep the output and some attn_v and ffn_down weights at "
           "Q6_K, as llama.cpp's Q4_K_M and Q5_K_M files do."));
    m_weightsEstimate = new QLabel(box);
    m_weightsEstimate->setObjectName("weightsEstimate");
    auto* weightsRow = new QHBoxLayout;
    weightsRow->addWidget(m_weights);
    weightsRow->addWidget(m_weightsEstimate, 1);
    auto* form = new QFormLayout;
    form->addRow(tr("Weights"), weightsRow);
    auto* layout = new QVBoxLayout(box);
    layout->addLayout(row);
    layout->addWidget(m_summary);
    layout->addWidget(tabs, 1);
    layout->addLayout(form);
    connect(m_source, &QLineEdit::editingFinished, this, &SettingsDialog::sourceChanged);
    connect(m_source, &QLineEdit::textChanged, this, &SettingsDialog::validate);  // another path: Load again
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open GGUF Model"), QString(),
                                                          tr("GGUF models (*.gguf);;All files (*)"));
        if (path.isEmpty()) return;
        m_source->setText(path);
        sourceChanged();
    });
    connect(embedded, &QPushButton::clicked, this, [this] {
        m_source->setText(embeddedModelSource());
        sourceChanged();
    });
    connect(m_weights, &QComboBox::currentIndexChanged, this, &SettingsDialog::validate);
    connect(m_weights, &QComboBox::currentIndexChanged, this, &SettingsDialog::showWeightsEstimate);
    return box;
}

QWidget* SettingsDialog::buildEngineBox() {
    auto* box = new QGroupBox(tr("KV cache, scheduler and backend"), this);
    m_dtype = new QComboBox(box);
    m_dtype->setObjectName("cacheDtype");
    for (const char* t : {"F32", "F16", "Q8_0"}) m_dtype->addItem(QString(t), QString(t));
    m_blockSize = new QComboBox(box);
    m_blockSize->setObjectName("blockSize");
    for (int b : {8, 16, 32}) m_blockSize->addItem(tr("%1 tokens").arg(b), b);
    m_budget = spin(box, 1, 1 << 20, tr("Memory for K and V of all layers"));
    m_budget->setObjectName("kvBudget");
    m_budget->setSuffix(tr(" MiB"));
    m_blocks = spin(box, 0, 1 << 24, tr("An exact number of blocks instead of the budget"), tr("from the budget"));
    m_blocks->setObjectName("kvBlocks");
    m_prefix = new QCheckBox(tr("Prefix caching"), box);
    m_prefix->setObjectName("prefixCaching");
    m_maxSeqs = spin(box, 1, 1 << 16, tr("Sequences running at once"));
    m_maxSeqs->setObjectName("maxNumSeqs");
    m_maxTokens = spin(box, 1, 1 << 24, tr("Tokens per step: decodes plus prefill chunks"));
    m_maxTokens->setObjectName("maxBatchedTokens");
    m_chunked = new QCheckBox(tr("Chunked prefill"), box);
    m_maxLen = spin(box, 0, 1 << 24, tr("Prompt + output per sequence"), tr("the model's"));
    m_backend = new QComboBox(box);
    m_backend->setObjectName("backend");
    addBackendItems(m_backend);
    m_preemption = new QComboBox(box);
    m_preemption->setObjectName("preemptionMode");
    m_preemption->addItem(tr("Recompute (free the blocks, prefill again)"), int(PreemptionMode::Recompute));
    m_preemption->addItem(tr("Swap (copy the blocks to host memory and back)"), int(PreemptionMode::Swap));
    // Long item texts (a CUDA reason, the preemption modes) must not widen the box past the model
    // pane: the combos show a shorter width and elide.
    for (QComboBox* c : {m_backend, m_preemption}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(24);
    }
    m_threads =
        spin(box, 0, 1024, tr("CPU threads (0: all %1 hardware threads)").arg(QThread::idealThreadCount()), tr("all"));
    m_threads->setObjectName("threads");
    auto* form = new QFormLayout(box);
    form->addRow(tr("Cache dtype"), m_dtype);
    form->addRow(tr("Block size"), m_blockSize);
    form->addRow(tr("KV budget"), m_budget);
    form->addRow(tr("KV blocks"), m_blocks);
    form->addRow(QString(), m_prefix);
    form->addRow(tr("Max sequences"), m_maxSeqs);
    form->addRow(tr("Max batched tokens"), m_maxTokens);
    form->addRow(QString(), m_chunked);
    form->addRow(tr("Max model length"), m_maxLen);
    form->addRow(tr("Preemption"), m_preemption);
    form->addRow(tr("Backend"), m_backend);
    form->addRow(tr("Threads"), m_threads);
    for (QSpinBox* s : {m_budget, m_blocks, m_maxSeqs, m_maxTokens, m_maxLen, m_threads})
        connect(s, &QSpinBox::valueChanged, this, &SettingsDialog::validate);
    for (QComboBox* c : {m_dtype, m_blockSize})
        connect(c, &QComboBox::currentIndexChanged, this, &SettingsDialog::validate);
    return box;
}

LoadRequest SettingsDialog::request() const {
    LoadRequest r;
    r.source = m_source->text().trimmed();
    setWeightConversion(r, m_weights->currentData().toString());
    EngineConfig& c = r.config;
    c.cache_dtype = parse_tensor_type(m_dtype->currentData().toString().toStdString()).value_or(TensorType::F32);
    c.block_size = m_blockSize->currentData().toInt();
    c.kv_cache_bytes = std::int64_t(m_budget->value()) << 20;
    c.num_kv_blocks = m_blocks->value() > 0 ? std::optional<std::int32_t>(m_blocks->value()) : std::nullopt;
    c.enable_prefix_caching = m_prefix->isChecked();
    c.max_num_seqs = m_maxSeqs->value();
    c.max_num_batched_tokens = m_maxTokens->value();
    c.enable_chunked_prefill = m_chunked->isChecked();
    c.max_model_len = m_maxLen->value();
    c.num_threads = m_threads->value();
    c.backend = static_cast<BackendKind>(m_backend->currentData().toInt());
    c.preemption_mode = static_cast<PreemptionMode>(m_preemption->currentData().toInt());
    return r;
}

void SettingsDialog::setRequest(const LoadRequest& r) {
    m_source->setText(r.source);
    m_weights->setCurrentIndex(std::max(0, m_weights->findData(weightConversionText(r))));
    const EngineConfig& c = r.config;
    m_dtype->setCurrentIndex(std::max(0, m_dtype->findData(QString::fromUtf8(type_name(c.cache_dtype).data()))));
    m_blockSize->setCurrentIndex(std::max(0, m_blockSize->findData(c.block_size)));
    m_budget->setValue(int(c.kv_cache_bytes >> 20));
    m_blocks->setValue(c.num_kv_blocks.value_or(0));
    m_prefix->setChecked(c.enable_prefix_caching);
    m_maxSeqs->setValue(c.max_num_seqs);
    m_maxTokens->setValue(c.max_num_batched_tokens);
    m_chunked->setChecked(c.enable_chunked_prefill);
    m_maxLen->setValue(c.max_model_len);
    m_threads->setValue(c.num_threads);
    m_backend->setCurrentIndex(std::max(0, m_backend->findData(int(c.backend))));
    m_preemption->setCurrentIndex(std::max(0, m_preemption->findData(int(c.preemption_mode))));
    m_inspected.clear();  // a new request: its file is read again (the dialog may be new)
    sourceChanged();
}

void SettingsDialog::sourceChanged() {
    const QString source = m_source->text().trimmed();
    validate();
    if (source.isEmpty() || source == m_inspected) return;
    m_inspected = source;
    m_summary->setText(tr("Reading %1…").arg(source));
    m_fileInfo = ModelFileInfo{};
    showWeightsEstimate();
    m_metadata->setRowCount(0);
    m_tensors->setRowCount(0);
    emit inspectRequested(source);
}

namespace {

QString mebibytes(quint64 bytes) {
    return QObject::tr("%1 MiB").arg(double(bytes) / (1024.0 * 1024.0), 0, 'f', 1);
}

}  // namespace

// "2098.4 MiB" as stored; "2098.4 MiB -> 590.4 MiB (156 of 156 weights)" re-quantised; or why
// nothing would change. Empty until the chosen file's header has been read.
void SettingsDialog::showWeightsEstimate() {
    if (m_fileInfo.source.isEmpty() || !m_fileInfo.error.isEmpty()) {
        m_weightsEstimate->clear();
        return;
    }
    const QString target = m_weights->currentData().toString();
    if (target.isEmpty()) {
        m_weightsEstimate->setText(mebibytes(m_fileInfo.weightBytes));
        return;
    }
    for (const ModelFileInfo::Requantized& r : m_fileInfo.requantized) {
        if (r.type != target) continue;
        if (r.numConverted == 0) {
            m_weightsEstimate->setText(tr("%1 (no weight's rows fit %2's blocks: kept as stored)")
                                           .arg(mebibytes(m_fileInfo.weightBytes), target));
        } else {
            m_weightsEstimate->setText(tr("%1 → %2 (%3 of %4 weights)")
                                           .arg(mebibytes(m_fileInfo.weightBytes), mebibytes(r.weightBytes))
                                           .arg(r.numConverted)
                                           .arg(m_fileInfo.numMatrices));
        }
        return;
    }
    m_weightsEstimate->clear();
}

void SettingsDialog::setFileInfo(const ModelFileInfo& info) {
    if (info.source != m_source->text().trimmed()) return;  // an answer for a file no longer chosen
    m_fileInfo = info;
    showWeightsEstimate();
    validate();  // a file known not to load cannot be loaded
    if (!info.error.isEmpty()) {
        m_summary->setText(QStringLiteral("<span style=\"color:#b00020\">%1</span>").arg(info.error.toHtmlEscaped()));
        return;
    }
    QStringList types;
    for (const auto& [type, count] : info.typeCounts) types << tr("%1 × %2").arg(count).arg(type);
    QString text = info.runnable
                       ? info.summary.toHtmlEscaped().replace('\n', "<br>")
                       : QStringLiteral("<span style=\"color:#b00020\">%1</span>").arg(info.runProblem.toHtmlEscaped());
    text += tr("<br>tensors: %1").arg(types.join(QStringLiteral(", ")));
    m_summary->setText(text);
    m_metadata->setRowCount(int(info.metadata.size()));
    for (int i = 0; i < int(info.metadata.size()); ++i) {
        m_metadata->setItem(i, 0, new QTableWidgetItem(info.metadata[i].first));
        m_metadata->setItem(i, 1, new QTableWidgetItem(info.metadata[i].second));
    }
    m_tensors->setRowCount(int(info.tensors.size()));
    for (int i = 0; i < int(info.tensors.size()); ++i) {
        const TensorRow& t = info.tensors[i];
        m_tensors->setItem(i, 0, new QTableWidgetItem(t.name));
        m_tensors->setItem(i, 1, new QTableWidgetItem(t.type));
        m_tensors->setItem(i, 2, new QTableWidgetItem(t.shape));
        auto* bytes = new QTableWidgetItem(QString::number(t.bytes));
        bytes->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_tensors->setItem(i, 3, bytes);
    }
    m_metadata->resizeColumnToContents(0);
    m_tensors->resizeColumnsToContents();
}

void SettingsDialog::validate() {
    m_problems = validateLoadRequest(request());
    m_problemsLabel->setText(m_problems.join(QStringLiteral("\n")));
    // The chosen file's header said it cannot be read or run (the summary says why): no Load.
    const bool knownBad = m_fileInfo.source == m_source->text().trimmed() && !m_fileInfo.source.isEmpty() &&
                          (!m_fileInfo.error.isEmpty() || !m_fileInfo.runnable);
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(m_problems.isEmpty() && !knownBad);
}

}  // namespace kvscope::ui
