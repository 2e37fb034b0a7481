#pragma once
// Perplexity: how well the loaded model, with its weight type and KV cache dtype, predicts a text,
// measured as llama-perplexity does (chunks of the context, each scored by its second half, or all
// of it) on the built-in sample or a text file. The chunks run as ordinary requests beside the chat
// and batches, so the inspector and charts show them. Each run stays in the table (the session's
// PerplexityLog, which exports carry too) with the settings it ran with, so that loads with other
// weights or cache dtypes compare row by row (the change from the first finished run). Attached
// to a kvscope or vLLM server, the server's tokenizer cuts the text and the server scores it.

#include <QElapsedTimer>
#include <QWidget>

#include "engine/perplexity.h"
#include "ui/engine_messages.h"
#include "ui/model_summary.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace kvscope::ui {

class PerplexityRun;
class Session;

class PerplexityPanel final : public QWidget {
    Q_OBJECT

public:
    explicit PerplexityPanel(Session* session, QWidget* parent = nullptr);

    QLineEdit* fileEdit() const { return m_file; }
    QSpinBox* contextBox() const { return m_context; }
    QSpinBox* chunksBox() const { return m_chunks; }
    QCheckBox* scoreAllBox() const { return m_scoreAll; }
    QPushButton* measureButton() const { return m_measure; }
    QPushButton* stopButton() const { return m_stop; }
    QPushButton* clearButton() const { return m_clear; }
    QTableView* table() const { return m_table; }
    QString statusText() const;
    PerplexityRun* currentRun() const { return m_run; }
    bool busy() const { return m_preparing || m_run != nullptr; }
    // Writes the runs as CSV (PerplexityLog::toCsv) to `path` atomically; "" on success, else why
    // not (one line).
    QString saveCsv(const QString& path) const;

public slots:
    // Reads the text (the file named, or the built-in sample when none is) and asks the engine's
    // thread for its chunks; false (with the reason shown) when it cannot start.
    bool measure();
    void stop();
    // Compares every run with the finished run in table row `row` (right-click ▸ Compare with This
    // Run); false (said in the status line) for one that has not finished.
    bool compareWith(int row);
    // Forgets the runs (not while one runs).
    void clearRuns();

private slots:
    void onModelLoaded(const kvscope::ui::ModelSummary& summary);
    void onChunks(const kvscope::ui::PerplexityChunks& chunks);
    void onChunkScored(int index, const kvscope::PerplexityEstimate& running);
    void onRunFinished(const QString& error);
    void browse();
    void chooseAndSave();

private:
    void addRow(const PerplexityChunks& chunks);
    void updateButtons();
    void setStatus(const QString& text, bool error = false);

    Session* m_session;
    ModelSummary m_model;
    bool m_modelReady = false;
    bool m_preparing = false;  // chunks asked for, not yet here
    quint64 m_asked = 0;       // the id of the last text sent for chunks (a stopped one's answer is dropped)
    bool m_stopped = false;    // the current run was stopped by the user
    int m_askedContext = 0;    // the context the user chose; the box shows it clamped to the model's
    PerplexityOptions m_options;
    QString m_textName;
    PerplexityRun* m_run = nullptr;
    int m_row = -1;         // the current run's row in the session's PerplexityLog
    QElapsedTimer m_clock;  // since the current run's chunks were submitted
    QLineEdit* m_file = nullptr;
    QSpinBox* m_context = nullptr;
    QSpinBox* m_chunks = nullptr;
    QCheckBox* m_scoreAll = nullptr;
    QPushButton* m_measure = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_save = nullptr;
    QPushButton* m_clear = nullptr;
    QLabel* m_status = nullptr;
    QTableView* m_table = nullptr;
};

}  // namespace kvscope::ui
