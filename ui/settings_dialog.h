#pragma once
// Model and cache settings: the model file (with its metadata and tensor types, read on the
// engine's thread), weights as stored or re-quantised, cache dtype, block size, KV budget,
// scheduler limits, prefix caching and the backend. "Load" is offered only for settings the
// engine accepts; the problems are listed otherwise.

#include <QDialog>

#include "ui/engine_messages.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTableWidget;

namespace kvscope::ui {

class SettingsDialog final : public QDialog {
    Q_OBJECT

public:
    explicit SettingsDialog(QWidget* parent = nullptr);

    LoadRequest request() const;
    void setRequest(const LoadRequest& request);
    QStringList problems() const { return m_problems; }

public slots:
    void setFileInfo(const kvscope::ui::ModelFileInfo& info);

signals:
    // The chosen file changed: its header should be read (setFileInfo answers).
    void inspectRequested(const QString& source);

private:
    QWidget* buildModelBox();
    QWidget* buildEngineBox();
    void sourceChanged();
    void validate();
    void showWeightsEstimate();

    QLineEdit* m_source = nullptr;
    QLabel* m_summary = nullptr;
    QTableWidget* m_metadata = nullptr;
    QTableWidget* m_tensors = nullptr;
    QComboBox* m_weights = nullptr;
    QLabel* m_weightsEstimate = nullptr;  // the weights' size as stored or re-quantised, for the file
    QComboBox* m_dtype = nullptr;
    QComboBox* m_blockSize = nullptr;
    QSpinBox* m_budget = nullptr;
    QSpinBox* m_blocks = nullptr;
    QCheckBox* m_prefix = nullptr;
    QSpinBox* m_maxSeqs = nullptr;
    QSpinBox* m_maxTokens = nullptr;
    QCheckBox* m_chunked = nullptr;
    QSpinBox* m_maxLen = nullptr;
    QComboBox* m_backend = nullptr;
    QComboBox* m_preemption = nullptr;
    QSpinBox* m_threads = nullptr;
    QLabel* m_problemsLabel = nullptr;
    QDialogButtonBox* m_buttons = nullptr;
    QStringList m_problems;
    QString m_inspected;
    ModelFileInfo m_fileInfo;  // the last header read for the chosen file (no source: none yet)
};

}  // namespace kvscope::ui
