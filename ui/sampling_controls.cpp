#include "ui/sampling_controls.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QSpinBox>

namespace kvscope::ui {

SamplingControls::SamplingControls(QWidget* parent) : QWidget(parent) {
    m_temperature = new QDoubleSpinBox(this);
    m_temperature->setObjectName("temperature");
    m_temperature->setRange(0.0, 2.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.8);
    m_temperature->setToolTip(tr("0 = greedy: always the most likely token"));
    m_topK = new QSpinBox(this);
    m_topK->setObjectName("topK");
    m_topK->setRange(0, 100000);
    m_topK->setSpecialValueText(tr("off"));
    m_topK->setToolTip(tr("Keep the k most likely tokens (0: off)"));
    m_topP = new QDoubleSpinBox(this);
    m_topP->setObjectName("topP");
    m_topP->setRange(0.01, 1.0);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(1.0);
    m_topP->setToolTip(tr("Keep the most likely tokens up to this probability mass (1: off)"));
    m_maxTokens = new QSpinBox(this);
    m_maxTokens->setObjectName("maxTokens");
    m_maxTokens->setRange(1, 1 << 20);
    m_maxTokens->setValue(128);
    m_maxTokens->setToolTip(tr("Most tokens generated per sample"));
    m_seed = new QSpinBox(this);
    m_seed->setObjectName("seed");
    m_seed->setRange(-1, 1 << 30);
    m_seed->setValue(-1);
    m_seed->setSpecialValueText(tr("random"));
    m_seed->setToolTip(tr("The same seed gives the same text"));
    m_n = new QSpinBox(this);
    m_n->setObjectName("n");
    m_n->setRange(1, 16);
    m_n->setToolTip(tr("Samples per turn: they share the prompt's KV blocks (copy-on-write)"));

    auto* left = new QFormLayout;
    left->addRow(tr("Temperature"), m_temperature);
    left->addRow(tr("Max tokens"), m_maxTokens);
    auto* middle = new QFormLayout;
    middle->addRow(tr("Top-k"), m_topK);
    middle->addRow(tr("Seed"), m_seed);
    auto* right = new QFormLayout;
    right->addRow(tr("Top-p"), m_topP);
    right->addRow(tr("n"), m_n);
    auto* row = new QHBoxLayout(this);
    row->setContentsMargins(0, 0, 0, 0);
    row->addLayout(left);
    row->addLayout(middle);
    row->addLayout(right);
}

SamplingParams SamplingControls::params() const {
    SamplingParams p;
    p.temperature = m_temperature->value();
    p.top_k = m_topK->value();
    p.top_p = m_topP->value();
    p.max_tokens = m_maxTokens->value();
    if (m_seed->value() >= 0) p.seed = std::uint64_t(m_seed->value());
    p.n = m_n->value();
    return p;
}

void SamplingControls::setParams(const SamplingParams& p) {
    m_temperature->setValue(p.temperature);
    m_topK->setValue(std::max(0, p.top_k));
    m_topP->setValue(p.top_p);
    m_maxTokens->setValue(p.max_tokens);
    m_seed->setValue(p.seed ? int(*p.seed) : -1);
    m_n->setValue(p.n);
}

}  // namespace kvscope::ui
