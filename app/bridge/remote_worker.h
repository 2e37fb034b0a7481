#pragma once
// The workbench attached to a server instead of its embedded engine: a QObject on a QThread of
// its own that answers the Session's commands as the EngineWorker does (session_wiring.h), over
// plain HTTP. Chat turns and batch requests are streamed from /v1/chat/completions and
// /v1/completions (remote_completion.h), each on a thread of its own; the inspector and the
// charts follow GET /v1/kv/snapshot and /metrics, polled about 10 times a second; the perplexity
// tab's text is cut into chunks by the server's /tokenize (remote_perplexity.h).
//
// A kvscope server gives everything; a vLLM or llama.cpp server (told apart by its /metrics
// names) only what its metrics say: the charts fill, the inspector has no blocks to draw. What
// the embedded engine does and a server does not (pause, loading models, a block's tokens) is
// answered with a message, never by waiting. No call here waits for more than a few seconds.

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QVector>
#include <atomic>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "app/bridge/remote_http.h"
#include "app/bridge/remote_metrics.h"
#include "engine/request.h"
#include "engine/snapshot.h"
#include "ui/engine_messages.h"
#include "ui/model_summary.h"

class QTimer;

namespace kvscope::server {
struct ModelCard;
}

namespace kvscope::app {

class RemoteCompletion;

class RemoteWorker final : public QObject {
    Q_OBJECT

public:
    static constexpr int kPollMs = 100;
    // Local request ids start here, far from a kvscope server's own ids (which its snapshots show,
    // and requestServedAs names).
    static constexpr qint64 kFirstRequestId = qint64(1) << 40;

    // `clock`: where snapshots' `timeS` count from (the EngineWorker's, so that time goes on).
    explicit RemoteWorker(const QElapsedTimer& clock, QObject* parent = nullptr);
    ~RemoteWorker() override;

public slots:
    // Probes the server: attached(url, kind) or attachFailed(message), within a few seconds.
    void attach(const kvscope::ui::AttachRequest& request);
    // After attached: says what the server runs (modelLoaded) and starts following it.
    void start();

    // The Session's commands, as EngineWorker has them.
    void submit(quint64 tag, const kvscope::Request& request);
    void submitChat(quint64 tag, const kvscope::ui::ChatRequest& request);
    void abortRequest(qint64 requestId);
    void abortAll();
    void setPaused(bool paused);
    void resetPrefixCache();
    void loadModel(const kvscope::ui::LoadRequest& request);
    void inspectModel(const QString& source);
    void requestBlockTokens(qint32 blockId);
    // The text cut into chunks by the server's tokenizer (POST /tokenize, on a thread of its own:
    // a long text may take the server a while): perplexityPrepared. A llama.cpp server is refused
    // (it serves no prompt logprobs).
    void preparePerplexity(const kvscope::ui::PerplexityText& request);

signals:
    void attached(const QString& url, const QString& kind);
    void attachFailed(const QString& message);
    // Something for the status bar: the server stopped answering (or answers again: `message`
    // empty), or a command a server cannot carry out.
    void notice(const QString& message);
    // The server stopped answering (`problem`: why) or answers again (empty): a lasting state.
    void answeringChanged(const QString& problem);

    void loadProgress(double fraction, const QString& stage);
    void modelLoaded(const kvscope::ui::ModelSummary& summary);
    void modelLoadFailed(const QString& message);
    void modelInspected(const kvscope::ui::ModelFileInfo& info);
    void requestAccepted(quint64 tag, qint64 requestId);
    // After requestAccepted, when the server named its own id of the request (a kvscope server:
    // X-Kvscope-Request-Ids), the one its snapshots show.
    void requestServedAs(qint64 requestId, qint64 serverRequestId);
    void requestRejected(quint64 tag, const QString& message);
    void outputsReady(const QVector<kvscope::RequestOutput>& outputs);
    void snapshotReady(std::shared_ptr<const kvscope::EngineSnapshot> snapshot, double timeS);
    void pausedChanged(bool paused);
    void prefixCacheReset(bool done, const QString& message);
    void blockTokensReady(const kvscope::ui::BlockTokens& tokens);
    void perplexityPrepared(const kvscope::ui::PerplexityChunks& chunks);

private slots:
    void poll();

private:
    struct Call;
    struct Tokenizing {
        std::unique_ptr<httplib::Client> client;  // stopped when the worker goes
        std::thread thread;
        std::atomic<bool> done{false};
    };
    void launch(quint64 tag, const std::string& path, nlohmann::json body);
    // The "model" to send: the name the server gave, or "" (none) when it named none.
    std::string requestModel() const;
    void reap();
    std::optional<server::PromText> fetchMetrics(std::string& error);
    std::shared_ptr<const ui::TokenVocabulary> fetchVocabulary();
    std::shared_ptr<const EngineSnapshot> fetchSnapshot(std::string& error);
    void report(const std::string& error);
    void describeModel(const server::ModelCard& card);

    RemoteEndpoint m_endpoint;
    ServerKind m_kind = ServerKind::Kvscope;
    LatencyFollower m_latency;
    std::unique_ptr<httplib::Client> m_client;  // probes and polls, on this thread only
    QTimer* m_timer = nullptr;
    QElapsedTimer m_clock;
    QString m_lastError;
    ui::ModelSummary m_summary;
    std::list<std::unique_ptr<Call>> m_calls;
    std::list<std::unique_ptr<Tokenizing>> m_tokenizing;  // perplexity texts at the server's /tokenize
    qint64 m_nextId = kFirstRequestId;
};

}  // namespace kvscope::app
