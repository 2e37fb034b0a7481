#pragma once
// The batch queue: a synthetic workload (count, prompt and output length distributions, shared
// prefix, Poisson arrival rate) or a JSONL prompts file, run through the same engine as the chat,
// with a progress bar, the per-request table of the run (from the session's request log) and
// Cancel. With LoRA adapters loaded, an Adapter box picks the one the run's requests use (a
// prompts-file line may name its own with "lora").

#include <QPointer>
#include <QWidget>

#include "engine/workload.h"
#include "ui/batch_run.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QSpinBox;
class QStackedWidget;
class QTableView;

namespace kvscope::ui {

class BatchRun;
class Session;

class BatchPanel final : public QWidget {
    Q_OBJECT

public:
    explicit BatchPanel(Session* session, QWidget* parent = nullptr);

    // The synthetic workload the controls describe (ConfigError for bad length texts). Attached
    // to a server that publishes no vocabulary (vLLM, llama.cpp), its prompts go as text.
    WorkloadSpec workloadSpec() const;
    void setWorkloadSpec(const WorkloadSpec& spec);
    BatchRun* currentRun() const { return m_run; }
    QTableView* table() const { return m_table; }
    QComboBox* loraCombo() const { return m_lora; }
    QString summaryText() const;

public slots:
    // Starts a run; returns false (and says why) when it cannot.
    bool startSynthetic(const kvscope::WorkloadSpec& spec);
    bool startFile(const QString& path);
    void start();
    void cancel();

signals:
    void runStarted(const QString& source);
    void runFinished(const QString& source);

private:
    void buildTable();
    QWidget* buildSyntheticForm();
    QWidget* buildFileForm();
    bool begin(std::vector<struct BatchItem> items, const QString& what);
    void updateProgress();
    void updateButtons();
    void fail(const QString& message);
    void refreshLoras();

    Session* m_session;
    QPointer<BatchRun> m_run;
    int m_numRuns = 0;
    QComboBox* m_kind = nullptr;
    QStackedWidget* m_forms = nullptr;
    QSpinBox* m_count = nullptr;
    QLineEdit* m_promptLen = nullptr;
    QLineEdit* m_outputLen = nullptr;
    QSpinBox* m_sharedPct = nullptr;
    QDoubleSpinBox* m_rate = nullptr;
    QSpinBox* m_seed = nullptr;
    QDoubleSpinBox* m_temperature = nullptr;
    QLabel* m_textNote = nullptr;  // synthetic prompts as text: the server says no vocabulary
    QLineEdit* m_path = nullptr;
    QSpinBox* m_fileMaxTokens = nullptr;
    QComboBox* m_lora = nullptr;  // "" = the base model, else an adapter's name
    QWidget* m_loraRow = nullptr;
    QPushButton* m_start = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_summary = nullptr;
    QTableView* m_table = nullptr;
    QSortFilterProxyModel* m_proxy = nullptr;
};

}  // namespace kvscope::ui
