#pragma once
// Sampling controls (vLLM's meanings): temperature, top-k, top-p, max tokens, seed, n.

#include <QWidget>

#include "engine/sampling_params.h"

class QDoubleSpinBox;
class QSpinBox;

namespace kvscope::ui {

class SamplingControls final : public QWidget {
    Q_OBJECT

public:
    explicit SamplingControls(QWidget* parent = nullptr);

    SamplingParams params() const;
    void setParams(const SamplingParams& params);

private:
    QDoubleSpinBox* m_temperature = nullptr;
    QSpinBox* m_topK = nullptr;
    QDoubleSpinBox* m_topP = nullptr;
    QSpinBox* m_maxTokens = nullptr;
    QSpinBox* m_seed = nullptr;
    QSpinBox* m_n = nullptr;
};

}  // namespace kvscope::ui
