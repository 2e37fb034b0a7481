#pragma once
// The memory lab panel (docs/MEMORY_LAB.md): replays a trace — the requests this session has
// finished, or a JSONL trace file — under the chosen KV allocators with one budget, on a thread of
// its own (LabJob), and shows where the memory went: the PagedAttention paper's stacked share bars
// beside one allocator's memory over the steps, and a table of totals. Exports the lab's JSON
// report and the charts as PNG.

#include <QPointer>
#include <QWidget>
#include <optional>
#include <vector>

#include "engine/lab/lab_result.h"
#include "engine/trace.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace kvscope::ui {

class LabJob;
class Session;

class LabPanel final : public QWidget {
    Q_OBJECT

public:
    enum class Source { Session, File };

    explicit LabPanel(Session* session, QWidget* parent = nullptr);
    ~LabPanel() override;

    // Reads a trace file and makes it the source; on a bad file, shows the reader's message and
    // keeps the previous trace and results (returns false).
    bool openTraceFile(const QString& path);
    void setSource(Source source);
    Source source() const;
    // The budget the controls name, in tokens (0 when it cannot be told: bytes without a size).
    qint64 budgetTokens() const;
    void setBudgetTokens(qint64 tokens);
    std::vector<lab::AllocatorSpec> selectedAllocators() const;

    bool isRunning() const;
    const std::optional<lab::LabReport>& report() const { return m_report; }
    QCustomPlot* barChart() const { return m_bars; }
    QCustomPlot* seriesChart() const { return m_series; }
    QTableWidget* totalsTable() const { return m_table; }
    QString statusText() const;
    QString lastError() const { return m_lastError; }

    // Return "" or a one-line error; both write atomically.
    QString exportJson(const QString& path) const;
    QString exportPng(const QString& path) const;
    QImage chartsImage() const;

public slots:
    void run();
    void cancel();
    void showSeriesOf(int runIndex);

signals:
    // A run ended: with results, cancelled, or failed (lastError).
    void finished();
    void errorShown(const QString& message);

private:
    QWidget* buildControls();
    QWidget* buildResults();
    void browse();
    void onTrace(const kvscope::Trace& trace);
    void start(const Trace& trace, bool fromSession, const QString& label);
    void onJobDone();
    void showReport();
    void fillTable();
    void resetBudget();
    void updateUnits();
    void updateButtons();
    void setStatus(const QString& html);
    void showError(const QString& message);
    lab::LabConfig configFor(const TraceHeader& header, bool fromSession) const;
    qint64 bytesPerToken() const;

    Session* m_session;
    QComboBox* m_source = nullptr;
    QLabel* m_traceInfo = nullptr;
    QDoubleSpinBox* m_budget = nullptr;
    QComboBox* m_unit = nullptr;
    std::vector<QCheckBox*> m_blockSizes;  // 8, 16, 32
    QCheckBox* m_paged = nullptr;
    QCheckBox* m_pagedPrefix = nullptr;
    QCheckBox* m_max = nullptr;
    QCheckBox* m_pow2 = nullptr;
    QCheckBox* m_oracle = nullptr;
    QPushButton* m_run = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QPushButton* m_exportJson = nullptr;
    QPushButton* m_exportPng = nullptr;
    QCustomPlot* m_bars = nullptr;
    QCustomPlot* m_series = nullptr;
    QComboBox* m_seriesRun = nullptr;
    QTableWidget* m_table = nullptr;

    std::optional<Trace> m_fileTrace;
    QString m_filePath;
    bool m_awaitingTrace = false;
    QPointer<LabJob> m_job;
    QString m_jobLabel;
    std::optional<lab::LabReport> m_report;
    QString m_reportLabel;  // the trace it replayed: a path, or "this session"
    QString m_lastError;
};

}  // namespace kvscope::ui
