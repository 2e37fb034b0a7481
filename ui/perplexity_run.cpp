#include "ui/perplexity_run.h"

#include "ui/session.h"

namespace kvscope::ui {

PerplexityRun::PerplexityRun(Session* session, std::vector<std::vector<std::int32_t>> chunks,
                             const PerplexityOptions& options, QObject* parent)
    : QObject(parent),
      m_session(session),
      m_chunks(std::move(chunks)),
      m_options(options),
      m_results(m_chunks.size()),
      m_received(m_chunks.size(), 0),
      m_done(m_chunks.size(), false) {
    for (std::size_t i = 0; i < m_results.size(); ++i) m_results[i].index = std::int32_t(i);
}

void PerplexityRun::start() {
    for (std::size_t i = 0; i < m_chunks.size(); ++i) {
        const quint64 tag = m_session->submit(perplexity_request(m_chunks[i]), this,
                                              tr("perplexity %1/%2").arg(i + 1).arg(m_chunks.size()));
        m_byTag.insert(tag, int(i));
    }
    if (m_chunks.empty()) fail(tr("the text gave no chunk to score"));
}

void PerplexityRun::stop() {
    fail(tr("stopped"));
}

PerplexityEstimate PerplexityRun::estimate() const {
    return estimate_perplexity(std::span(m_results).first(std::size_t(m_reported)));
}

void PerplexityRun::requestAccepted(quint64 tag, qint64 requestId) {
    const int index = m_byTag.contains(tag) ? m_byTag.take(tag) : -1;
    if (index < 0) return;
    if (m_finished) {
        m_session->abort(requestId);  // stopped before the engine took it
        return;
    }
    m_byRequest.insert(requestId, index);
}

void PerplexityRun::requestRejected(quint64 tag, const QString& message) {
    const int index = m_byTag.contains(tag) ? m_byTag.take(tag) : -1;
    if (index >= 0) fail(tr("chunk %1 was refused: %2").arg(index + 1).arg(message));
}

void PerplexityRun::requestOutput(const RequestOutput& output) {
    const int index = m_byRequest.value(output.id, -1);
    if (index < 0) return;
    PerplexityChunk& chunk = m_results[std::size_t(index)];
    score_prompt_logprobs(chunk, m_received[std::size_t(index)], output.prompt_logprobs, m_options);
    if (!output.finished) return;
    m_byRequest.remove(output.id);
    if (m_finished) return;
    if (!output.error.empty()) {
        fail(tr("chunk %1: %2").arg(index + 1).arg(QString::fromStdString(output.error)));
        return;
    }
    if (chunk.num_scored != scored_per_chunk(m_options)) {
        fail(tr("chunk %1 ended with %2 of its %3 tokens scored (aborted?)")
                 .arg(index + 1)
                 .arg(chunk.num_scored)
                 .arg(scored_per_chunk(m_options)));
        return;
    }
    m_done[std::size_t(index)] = true;
    report();
}

void PerplexityRun::report() {
    const int before = m_reported;
    while (m_reported < numChunks() && m_done[std::size_t(m_reported)]) ++m_reported;
    for (int i = before; i < m_reported; ++i)
        emit chunkScored(i, estimate_perplexity(std::span(m_results).first(std::size_t(i) + 1)));
    if (m_reported == numChunks()) {
        m_finished = true;
        emit runFinished(QString());
    }
}

void PerplexityRun::fail(const QString& message) {
    if (m_finished) return;
    m_finished = true;
    m_error = message;
    for (auto it = m_byRequest.cbegin(); it != m_byRequest.cend(); ++it) m_session->abort(it.key());
    emit runFinished(message);
}

}  // namespace kvscope::ui
