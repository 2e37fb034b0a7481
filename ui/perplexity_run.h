#pragma once
// One perplexity measurement in the workbench: a text's chunks (PerplexityChunks) run as ordinary
// requests with prompt logprobs (so the inspector, the charts and the request log show them
// beside the chat and batches), each chunk scored as its outputs arrive and reported in text
// order with the running estimate, as llama-perplexity prints [1]..., [2]...

#include <QHash>
#include <QObject>
#include <QString>
#include <vector>

#include "engine/perplexity.h"
#include "ui/engine_messages.h"  // PerplexityEstimate's metatype
#include "ui/request_listener.h"

namespace kvscope::ui {

class Session;

class PerplexityRun final : public QObject, public RequestListener {
    Q_OBJECT

public:
    PerplexityRun(Session* session, std::vector<std::vector<std::int32_t>> chunks, const PerplexityOptions& options,
                  QObject* parent = nullptr);

    // Submits every chunk at once (the scheduler batches them).
    void start();
    // Aborts the chunks still running; the run finishes with "stopped".
    void stop();

    const PerplexityOptions& options() const { return m_options; }
    int numChunks() const { return int(m_chunks.size()); }
    // Chunks scored so far, in text order (those after a gap wait for it).
    int numReported() const { return m_reported; }
    bool finished() const { return m_finished; }
    const QString& error() const { return m_error; }
    // Over the chunks reported so far.
    PerplexityEstimate estimate() const;
    const std::vector<PerplexityChunk>& results() const { return m_results; }

    // RequestListener
    void requestAccepted(quint64 tag, qint64 requestId) override;
    void requestRejected(quint64 tag, const QString& message) override;
    void requestOutput(const RequestOutput& output) override;

signals:
    // Chunk `index` (0-based) and every one before it are scored; `running`: the estimate over them.
    void chunkScored(int index, const kvscope::PerplexityEstimate& running);
    // Every chunk scored (error ""), or the run ended without them (why).
    void runFinished(const QString& error);

private:
    void fail(const QString& message);
    void report();

    Session* m_session;
    std::vector<std::vector<std::int32_t>> m_chunks;
    PerplexityOptions m_options;
    std::vector<PerplexityChunk> m_results;
    std::vector<std::int32_t> m_received;  // prompt-logprob entries per chunk
    std::vector<bool> m_done;
    QHash<quint64, int> m_byTag;
    QHash<qint64, int> m_byRequest;  // running chunks
    int m_reported = 0;
    bool m_finished = false;
    QString m_error;
};

}  // namespace kvscope::ui
