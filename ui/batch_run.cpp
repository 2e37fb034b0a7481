#include "ui/batch_run.h"

#include <QTimer>
#include <algorithm>
#include <cmath>

#include "ui/request_log.h"
#include "ui/session.h"

namespace kvscope::ui {

BatchRun::BatchRun(Session* session, QString source, std::vector<BatchItem> items, QObject* parent)
    : QObject(parent), m_session(session), m_source(std::move(source)), m_items(std::move(items)) {
    std::stable_sort(m_items.begin(), m_items.end(),
                     [](const BatchItem& a, const BatchItem& b) { return a.arrivalS < b.arrivalS; });
    m_timer = new QTimer(this);
    m_timer->setSingleShot(true);
    m_timer->setTimerType(Qt::PreciseTimer);
    connect(m_timer, &QTimer::timeout, this, &BatchRun::tick);
    m_clock = [this] { return m_steady.isValid() ? double(m_steady.nsecsElapsed()) / 1e9 : 0.0; };
}

void BatchRun::start() {
    if (m_started) return;
    m_started = true;
    m_steady.start();
    tick();
    checkDone();
}

double BatchRun::elapsed() const {
    return m_done ? m_doneAt : (m_started ? m_clock() : 0.0);
}

void BatchRun::tick() {
    if (!m_started || m_stopped) return;
    const double now = m_clock();
    bool sentAny = false;
    while (m_next < m_items.size() && m_items[m_next].arrivalS <= now) {
        const quint64 tag = m_session->submit(m_items[m_next].request, this, m_source);
        m_pending.insert(tag);
        ++m_next;
        sentAny = true;
    }
    if (m_next < m_items.size()) {
        const double wait = m_items[m_next].arrivalS - now;
        m_timer->start(std::clamp(int(std::ceil(wait * 1000.0)), 0, 60000));
    }
    if (sentAny) emit progressChanged();
}

void BatchRun::cancel() {
    if (m_done || m_stopped) return;
    m_stopped = true;
    m_timer->stop();
    m_cancelled += int(m_items.size() - m_next);
    std::vector<UnsentRequest> unsent;
    unsent.reserve(m_items.size() - m_next);
    for (std::size_t i = m_next; i < m_items.size(); ++i) {
        const Request& r = m_items[i].request;
        unsent.push_back(UnsentRequest{r.params.n, promptTokensOf(r)});
    }
    m_session->logNotSent(m_source, unsent);  // counted as cancelled above, logged as never sent
    m_next = m_items.size();
    for (const qint64 id : std::as_const(m_live)) m_session->abort(id);
    emit progressChanged();
    checkDone();
}

void BatchRun::requestAccepted(quint64 tag, qint64 requestId) {
    if (!m_pending.remove(tag)) return;
    m_live.insert(requestId);
    if (m_stopped) m_session->abort(requestId);
    emit progressChanged();
}

void BatchRun::requestRejected(quint64 tag, const QString& message) {
    if (!m_pending.remove(tag)) return;
    ++m_rejected;
    m_lastError = message;
    emit progressChanged();
    checkDone();
}

void BatchRun::requestOutput(const RequestOutput& output) {
    if (!m_live.contains(output.id)) return;
    for (const SequenceOutput& s : output.samples) m_generated += qint64(s.new_token_ids.size());
    if (!output.finished) return;
    m_live.remove(output.id);
    const bool aborted = std::any_of(output.samples.begin(), output.samples.end(),
                                     [](const SequenceOutput& s) { return s.finish_reason == FinishReason::abort; });
    ++(aborted ? m_cancelled : m_finished);
    emit progressChanged();
    checkDone();
}

void BatchRun::checkDone() {
    if (m_done || m_next < m_items.size() || !m_pending.isEmpty() || !m_live.isEmpty()) return;
    m_doneAt = m_started ? m_clock() : 0.0;
    m_done = true;
    emit done();
}

}  // namespace kvscope::ui
