#include "ui/generate_panel.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTextCursor>
#include <QVBoxLayout>

namespace kvscope::ui {

GeneratePanel::GeneratePanel(QWidget* parent) : QWidget(parent) {
    m_prompt = new QPlainTextEdit(this);
    m_prompt->setObjectName("prompt");
    m_prompt->setPlaceholderText(tr("Write the beginning of a story…"));
    m_prompt->setPlainText(QStringLiteral("Once upon a time"));
    m_prompt->setMaximumHeight(90);

    m_maxTokens = new QSpinBox(this);
    m_maxTokens->setObjectName("maxTokens");
    m_maxTokens->setRange(1, 1 << 20);
    m_maxTokens->setValue(128);
    m_temperature = new QDoubleSpinBox(this);
    m_temperature->setObjectName("temperature");
    m_temperature->setRange(0.0, 5.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.8);
    m_temperature->setToolTip(tr("0 = greedy: always the most likely token"));
    m_seed = new QSpinBox(this);
    m_seed->setObjectName("seed");
    m_seed->setRange(-1, 1 << 30);
    m_seed->setValue(-1);
    m_seed->setSpecialValueText(tr("random"));

    m_generate = new QPushButton(tr("&Generate"), this);
    m_generate->setObjectName("generate");
    m_generate->setDefault(true);
    m_stop = new QPushButton(tr("&Stop"), this);
    m_stop->setObjectName("stop");

    auto* controls = new QHBoxLayout;
    auto* form = new QFormLayout;
    form->addRow(tr("Max tokens"), m_maxTokens);
    auto* form2 = new QFormLayout;
    form2->addRow(tr("Temperature"), m_temperature);
    auto* form3 = new QFormLayout;
    form3->addRow(tr("Seed"), m_seed);
    controls->addLayout(form);
    controls->addLayout(form2);
    controls->addLayout(form3);
    controls->addStretch();
    controls->addWidget(m_generate);
    controls->addWidget(m_stop);

    m_output = new QPlainTextEdit(this);
    m_output->setObjectName("output");
    m_output->setReadOnly(true);
    m_output->setPlaceholderText(tr("The generated text appears here, token by token."));
    QFont mono = m_output->font();
    mono.setPointSizeF(mono.pointSizeF() * 1.1);
    m_output->setFont(mono);

    m_status = new QLabel(this);
    m_status->setObjectName("status");

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("Prompt"), this));
    layout->addWidget(m_prompt);
    layout->addLayout(controls);
    layout->addWidget(m_output, 1);
    layout->addWidget(m_status);

    connect(m_generate, &QPushButton::clicked, this, &GeneratePanel::generate);
    connect(m_stop, &QPushButton::clicked, this, [this] {
        if (m_requestId >= 0) emit stopRequested(m_requestId);
    });
    setModelReady(false);
}

QString GeneratePanel::outputText() const {
    return m_output->toPlainText();
}

void GeneratePanel::setPrompt(const QString& prompt) {
    m_prompt->setPlainText(prompt);
}

void GeneratePanel::setModelReady(bool ready) {
    m_ready = ready;
    m_generate->setEnabled(ready && !m_busy);
    m_stop->setEnabled(m_busy);
}

void GeneratePanel::generate() {
    if (!m_ready || m_busy) return;
    Request request;
    request.prompt = m_prompt->toPlainText().toStdString();
    request.params.max_tokens = m_maxTokens->value();
    request.params.temperature = m_temperature->value();
    if (m_seed->value() >= 0) request.params.seed = static_cast<std::uint64_t>(m_seed->value());
    m_busy = true;
    m_requestId = -1;
    m_numTokens = 0;
    m_output->setPlainText(m_prompt->toPlainText());
    m_status->setText(tr("Waiting for the engine…"));
    setModelReady(m_ready);
    emit generateRequested(request);
}

void GeneratePanel::onRequestAccepted(qint64 requestId) {
    m_requestId = requestId;
    m_status->setText(tr("Generating (request %1)…").arg(requestId));
}

void GeneratePanel::onRequestRejected(const QString& message) {
    finish(tr("Rejected: %1").arg(message));
}

void GeneratePanel::applyOutputs(const QVector<RequestOutput>& outputs) {
    for (const RequestOutput& out : outputs) {
        if (out.id != m_requestId) continue;
        for (const SequenceOutput& s : out.samples) {
            m_numTokens += static_cast<int>(s.new_token_ids.size());
            if (!s.text_delta.empty()) {
                QTextCursor cursor = m_output->textCursor();
                cursor.movePosition(QTextCursor::End);
                cursor.insertText(QString::fromStdString(s.text_delta));
                m_output->setTextCursor(cursor);
            }
        }
        if (out.finished) {
            const FinishReason reason = out.samples.empty() ? FinishReason::none : out.samples.back().finish_reason;
            const double tps = out.timings.decode_time > 0
                                   ? double(out.timings.num_generation_tokens - 1) / out.timings.decode_time
                                   : 0.0;
            finish(tr("Done: %1 tokens, finish reason \"%2\", first token after %3 ms, %4 tokens/s")
                       .arg(m_numTokens)
                       .arg(QString::fromStdString(std::string(finish_reason_name(reason))))
                       .arg(out.timings.time_to_first_token * 1000.0, 0, 'f', 1)
                       .arg(tps, 0, 'f', 1));
        }
    }
}

void GeneratePanel::finish(const QString& status) {
    m_busy = false;
    m_requestId = -1;
    m_status->setText(status);
    setModelReady(m_ready);
}

}  // namespace kvscope::ui
