#pragma once
// One batch run: sends its requests through the Session as their arrival times come (a timer
// replays the Poisson arrivals in real time), follows them to the end, and can be cancelled
// (requests not sent yet are dropped, the others aborted).

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSet>
#include <functional>
#include <vector>

#include "ui/batch_workload.h"
#include "ui/request_listener.h"

class QTimer;

namespace kvscope::ui {

class Session;

class BatchRun final : public QObject, public RequestListener {
    Q_OBJECT

public:
    BatchRun(Session* session, QString source, std::vector<BatchItem> items, QObject* parent = nullptr);

    // Seconds since start(); the default is a steady clock (tests set their own and call tick()).
    void setClock(std::function<double()> clock) { m_clock = std::move(clock); }
    void start();
    void cancel();
    // Sends every request whose arrival time has come, and arms the timer for the next.
    void tick();

    const QString& source() const { return m_source; }
    int total() const { return int(m_items.size()); }
    int sent() const { return int(m_next); }
    int finished() const { return m_finished; }
    int rejected() const { return m_rejected; }
    int cancelled() const { return m_cancelled; }
    int inFlight() const { return int(m_pending.size() + m_live.size()); }
    qint64 generatedTokens() const { return m_generated; }
    bool isDone() const { return m_done; }
    double elapsed() const;
    QString lastError() const { return m_lastError; }

    void requestAccepted(quint64 tag, qint64 requestId) override;
    void requestRejected(quint64 tag, const QString& message) override;
    void requestOutput(const RequestOutput& output) override;

signals:
    void progressChanged();
    void done();

private:
    void checkDone();

    Session* m_session;
    QString m_source;
    std::vector<BatchItem> m_items;
    std::size_t m_next = 0;
    QSet<quint64> m_pending;  // sent, not yet accepted
    QSet<qint64> m_live;      // accepted, not finished
    int m_finished = 0, m_rejected = 0, m_cancelled = 0;
    qint64 m_generated = 0;
    bool m_started = false, m_stopped = false, m_done = false;
    double m_doneAt = 0;
    QString m_lastError;
    QTimer* m_timer = nullptr;
    QElapsedTimer m_steady;
    std::function<double()> m_clock;
};

}  // namespace kvscope::ui
