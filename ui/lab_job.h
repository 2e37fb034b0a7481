#pragma once
// One memory-lab replay (engine/lab/replay.h run_lab) on a thread of its own, so that the UI
// never waits for it: progress after each allocator comes back as a queued signal, and `done`
// once the thread has ended, when report() or error() hold the outcome. cancel() stops the
// replay after the allocator in progress; destroying the job cancels it and waits.

#include <QObject>
#include <QString>
#include <atomic>
#include <optional>
#include <vector>

#include "engine/lab/lab_result.h"
#include "engine/trace.h"

class QThread;

namespace kvscope::ui {

class LabJob final : public QObject {
    Q_OBJECT

public:
    LabJob(Trace trace, lab::LabConfig config, std::vector<lab::AllocatorSpec> allocators, QObject* parent = nullptr);
    ~LabJob() override;

    void start();
    void cancel() { m_cancel = true; }
    bool isCancelled() const { return m_cancel; }
    bool isRunning() const;
    int numAllocators() const { return int(m_allocators.size()); }

    // After `done`: the report (the allocators replayed before a cancel only), or the one-line
    // message of a refused configuration.
    const std::optional<lab::LabReport>& report() const { return m_report; }
    const QString& error() const { return m_error; }

signals:
    void progressed(int done, int total);
    void done();

private:
    void run();  // on m_thread

    Trace m_trace;
    lab::LabConfig m_config;
    std::vector<lab::AllocatorSpec> m_allocators;
    std::atomic<bool> m_cancel{false};
    QThread* m_thread = nullptr;
    std::optional<lab::LabReport> m_report;  // written by m_thread before it ends
    QString m_error;
};

}  // namespace kvscope::ui
