#pragma once
// The UI side of one workbench session: the single object panels talk to. It sends commands to
// the engine's thread as signals (app/ connects them, queued, to the EngineWorker), receives the
// worker's answers on the UI thread, routes each request's news to the panel that sent it, and
// keeps what the session has seen: the model, the latest snapshot, the request log, the
// perplexity runs and the recorded history. Nothing here waits for the engine.

#include <QHash>
#include <QObject>
#include <QPointer>
#include <memory>
#include <optional>
#include <vector>

#include "engine/request.h"
#include "engine/snapshot.h"
#include "ui/engine_messages.h"
#include "ui/model_summary.h"

namespace kvscope::ui {

class PerplexityLog;
class RequestListener;
class RequestLog;
class SessionRecorder;
struct UnsentRequest;

class Session final : public QObject {
    Q_OBJECT

public:
    explicit Session(QObject* parent = nullptr);
    ~Session() override;

    // Panels. `listener` must be a QObject too (it is forgotten when destroyed); `source` names
    // the sender in the request log ("chat 1", "batch 2"). Returns the request's tag.
    quint64 submit(const Request& request, RequestListener* listener, const QString& source);
    quint64 submitChat(const ChatRequest& request, RequestListener* listener, const QString& source);
    // Requests a panel will never send (a cancelled batch's later arrivals): logged under `source`
    // as not sent, each with a tag of its own.
    void logNotSent(const QString& source, const std::vector<UnsentRequest>& requests);
    void abort(qint64 requestId);
    void abortAll();
    void setPaused(bool paused);
    void resetPrefixCache();
    void load(const LoadRequest& request);
    void inspectModel(const QString& source);
    void requestBlockTokens(qint32 blockId);
    // Asks the engine's thread for the session's trace (traceArrived).
    void requestTrace();
    // Perplexity chunks of a text for the loaded model (perplexityPrepared; the embedded engine only).
    void preparePerplexity(const PerplexityText& request);
    // Asks the panels that show requests to show this one (the inspector draws its block table).
    void focusRequest(qint64 requestId);
    // Serve the engine over HTTP, or stop (servingChanged says how it went).
    void serve(const ServeRequest& request);
    void stopServing();
    // Follow a server instead of the embedded engine, or come back to it (attachChanged).
    void attach(const AttachRequest& request);
    void detach();
    // Load a LoRA adapter onto the loaded model (lorasChanged, or loraLoadFailed saying why).
    void loadLora(const LoraLoadRequest& request);
    // Unload one (lorasChanged, or loraLoadFailed saying why: requests under it still run).
    void unloadLora(const QString& name);

    bool modelReady() const { return m_modelReady; }
    bool loading() const { return m_loading; }
    bool paused() const { return m_paused; }
    const ModelSummary& model() const { return m_model; }
    const LoadRequest& lastLoad() const { return m_lastLoad; }
    // The LoRA adapters loaded onto the model, in the order loaded.
    const QVector<LoraSummary>& loras() const { return m_model.loras; }
    bool serving() const { return !m_servingAddress.isEmpty(); }
    const QString& servingAddress() const { return m_servingAddress; }
    bool attached() const { return !m_attachedUrl.isEmpty(); }
    const QString& attachedUrl() const { return m_attachedUrl; }
    // Why the attached server does not answer now (its last state is what the views show), or
    // empty while it answers (remoteAnsweringChanged).
    const QString& remoteProblem() const { return m_remoteProblem; }
    std::shared_ptr<const EngineSnapshot> latest() const { return m_latest; }
    std::shared_ptr<const EngineSnapshot> latestFull() const { return m_latestFull; }
    RequestLog* requestLog() const { return m_log; }
    // The perplexity runs (the perplexity tab writes them; exports read them).
    PerplexityLog* perplexityLog() const { return m_perplexity; }
    SessionRecorder* recorder() const { return m_recorder; }

signals:
    // Commands for the engine's thread.
    void submitCommand(quint64 tag, const kvscope::Request& request);
    void submitChatCommand(quint64 tag, const kvscope::ui::ChatRequest& request);
    void abortCommand(qint64 requestId);
    void abortAllCommand();
    void pauseCommand(bool paused);
    void resetPrefixCacheCommand();
    void loadCommand(const kvscope::ui::LoadRequest& request);
    void inspectCommand(const QString& source);
    void blockTokensCommand(qint32 blockId);
    void traceCommand();
    void perplexityCommand(const kvscope::ui::PerplexityText& request);
    void serveCommand(const kvscope::ui::ServeRequest& request);
    void stopServingCommand();
    void attachCommand(const kvscope::ui::AttachRequest& request);
    void detachCommand();
    void loraLoadCommand(const kvscope::ui::LoraLoadRequest& request);
    void loraUnloadCommand(const QString& name);

    // News for panels.
    void loadStarted(const QString& source);
    void loadProgressed(double fraction, const QString& stage);
    void modelLoaded(const kvscope::ui::ModelSummary& summary);
    void modelLoadFailed(const QString& message);
    void modelInspected(const kvscope::ui::ModelFileInfo& info);
    // Every snapshot (after the recorder has it); `full` ones carry the per-block arrays.
    void snapshotArrived(std::shared_ptr<const kvscope::EngineSnapshot> snapshot, double timeS);
    void pausedChanged(bool paused);
    void prefixCacheResetDone(bool done, const QString& message);
    void blockTokensArrived(const kvscope::ui::BlockTokens& tokens);
    void requestFocused(qint64 requestId);
    void traceArrived(const kvscope::Trace& trace);
    void perplexityPrepared(const kvscope::ui::PerplexityChunks& chunks);
    void servingChanged(bool serving, const QString& address, const QString& message);
    // `url`: the server followed now, empty when back on the embedded engine; `message`: an error
    // (an attach that failed, a connection lost) or "" on success.
    void attachChanged(const QString& url, const QString& message);
    void remoteAnsweringChanged(const QString& problem);
    // The adapters changed: one was loaded or unloaded, or a model came with its own list (loras()).
    void lorasChanged();
    // An adapter could not be loaded or unloaded, or was dropped with the previous model: a message to show.
    void loraLoadFailed(const QString& message);

public slots:
    // From the engine's thread.
    void onLoadProgress(double fraction, const QString& stage);
    void onModelLoaded(const kvscope::ui::ModelSummary& summary);
    void onModelLoadFailed(const QString& message);
    void onModelInspected(const kvscope::ui::ModelFileInfo& info);
    void onRequestAccepted(quint64 tag, qint64 requestId);
    void onRequestRejected(quint64 tag, const QString& message);
    // The embedded engine's count of a chat turn's prompt tokens (before it is accepted or rejected).
    void onChatTokenized(quint64 tag, qint32 promptTokens);
    void onOutputs(const QVector<kvscope::RequestOutput>& outputs);
    void onSnapshot(std::shared_ptr<const kvscope::EngineSnapshot> snapshot, double timeS);
    void onPausedChanged(bool paused);
    void onPrefixCacheReset(bool done, const QString& message);
    void onBlockTokens(const kvscope::ui::BlockTokens& tokens);
    void onTrace(const kvscope::Trace& trace);
    void onPerplexityPrepared(const kvscope::ui::PerplexityChunks& chunks);
    void onServingChanged(bool serving, const QString& address, const QString& message);
    // A request that no panel sent (an HTTP client's, while serving): logged under `source`.
    void onExternalRequest(qint64 requestId, const QString& source, qint32 promptTokens, qint32 numSamples);
    void onAttachChanged(const QString& url, const QString& message);
    // The attached server's own id of a request (the one its snapshots, and so the inspector,
    // show): focusRequest() of the local id focuses that one.
    void onRequestServedAs(qint64 requestId, qint64 serverRequestId);
    void onRemoteAnswering(const QString& problem);
    void onLoraLoaded(const kvscope::ui::LoraSummary& lora);
    void onLoraUnloaded(const QString& name);
    void onLoraLoadFailed(const QString& message);

private:
    struct Route {
        QPointer<QObject> owner;
        RequestListener* listener = nullptr;
    };
    RequestListener* listenerOf(const Route& route) const;
    quint64 track(RequestListener* listener, const QString& source, std::optional<qint32> promptTokens,
                  qint32 numSamples);

    quint64 m_nextTag = 1;
    QHash<quint64, Route> m_byTag;
    QHash<qint64, Route> m_byId;
    QHash<qint64, qint64> m_servedAs;  // local request id -> the attached server's
    bool m_modelReady = false;
    bool m_loading = false;
    bool m_paused = false;
    ModelSummary m_model;
    LoadRequest m_lastLoad;     // what the loaded engine was built from
    LoadRequest m_pendingLoad;  // the load in flight
    QString m_servingAddress;
    QString m_attachedUrl;
    QString m_remoteProblem;
    std::shared_ptr<const EngineSnapshot> m_latest;
    std::shared_ptr<const EngineSnapshot> m_latestFull;
    RequestLog* m_log = nullptr;
    PerplexityLog* m_perplexity = nullptr;
    SessionRecorder* m_recorder = nullptr;
};

}  // namespace kvscope::ui
