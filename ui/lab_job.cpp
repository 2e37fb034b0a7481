#include "ui/lab_job.h"

#include <QThread>
#include <new>

#include "engine/error.h"
#include "engine/lab/replay.h"

namespace kvscope::ui {

LabJob::LabJob(Trace trace, lab::LabConfig config, std::vector<lab::AllocatorSpec> allocators, QObject* parent)
    : QObject(parent), m_trace(std::move(trace)), m_config(config), m_allocators(std::move(allocators)) {
    m_thread = QThread::create([this] { run(); });
    m_thread->setObjectName(QStringLiteral("memory lab"));
    // QThread::finished is emitted by the ending thread: queued to this (UI) thread, after run().
    connect(m_thread, &QThread::finished, this, &LabJob::done, Qt::QueuedConnection);
}

LabJob::~LabJob() {
    m_cancel = true;
    m_thread->wait();
    delete m_thread;
}

void LabJob::start() {
    m_thread->start(QThread::LowPriority);
}

bool LabJob::isRunning() const {
    return m_thread->isRunning();
}

void LabJob::run() {
    try {
        m_report = lab::run_lab(m_trace, m_config, m_allocators, [this](int done, int total) {
            emit progressed(done, total);
            return !m_cancel.load();
        });
    } catch (const Error& e) {
        m_error = QString::fromStdString(e.what());
    } catch (const std::bad_alloc&) {
        m_error = tr("Out of memory while replaying the trace; choose fewer allocators or a shorter trace.");
    }
}

}  // namespace kvscope::ui
