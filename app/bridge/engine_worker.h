#pragma once
// The bridge between the engine and the UI: a QObject that lives on its own QThread and owns the
// Engine. Commands come in as queued slot calls; results go out as queued signals that carry
// values (outputs, snapshots), so nothing in ui/ ever waits for the engine. Between two engine
// steps the thread's event loop runs, so commands (submit, abort, pause, load) are taken promptly
// even while the engine runs flat out.
//
// Snapshots: at most ~30 a second. Most carry counters only (SnapshotDetail::CountersOnly: a few
// kilobytes); a full one, with the per-block arrays, goes out as often as a copy budget of
// kFullSnapshotBytesPerSecond allows, and always when the engine goes idle, pauses, loads or
// resets its cache. Each full one is taken with the last as `previous`, so it shares the chunks of
// blocks no step touched since (KvBlockList) and the budget counts only what it copied: with a
// 400-request batch, every one up to 64k blocks and ~18 a second at 256k (docs/PERFORMANCE.md).
// The first step after idle always publishes (a request that runs for less than the pacing
// interval is still seen holding its blocks). While idle or paused, a counters-only snapshot goes
// out every second (kIdleSnapshotMs), so that rates fall to zero and charts keep time. The history
// for the inspector's timeline is kept on the UI side (SessionRecorder): snapshots are immutable
// values behind shared pointers, so keeping one costs no copy.
//
// The session's trace, for the memory lab: the engine records every request that finishes
// (Engine::record_trace) from the model's load on; requestTrace hands the requests so far over as
// a Trace value (traceReady). A new model starts a new trace.
// LoRA adapters (engine_worker_lora.cpp): loadLora reads an adapter file for the loaded model and
// adds it to the engine under a name that chat turns pick; unloadLora takes one off once none of
// its requests is left. A new model takes the adapters along:
// each is read again for it, and one that does not fit is dropped with a loraLoadFailed message.
// Serving (engine_worker_serving.cpp): startServing runs app/server's HTTP server on this engine.
// Its handler threads hand requests to a WorkerHost mailbox that this thread empties between
// steps; a StreamRouter sends each step's outputs of HTTP requests back to their streams, and
// every output still goes to the UI too, so HTTP requests show in the request log, the inspector
// and the charts like the panels' own.

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QVector>
#include <deque>
#include <memory>
#include <vector>

#include "engine/config.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/snapshot.h"
#include "engine/trace.h"
#include "ui/engine_messages.h"
#include "ui/model_summary.h"

namespace kvscope::server {
struct ServedLora;
}

namespace kvscope::app {

class EngineWorker final : public QObject {
    Q_OBJECT

public:
    static constexpr qint64 kSnapshotIntervalMs = 33;
    static constexpr double kFullSnapshotBytesPerSecond = 32.0 * 1024 * 1024;
    static constexpr int kIdleSnapshotMs = 1000;
    static constexpr std::size_t kTraceCapacity = 100000;  // requests kept for the lab (the oldest dropped)

    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // Registers the value types carried by the queued signals (once, before connecting).
    static void registerMetaTypes();
    // The clock of snapshotReady's `timeS` (started with the worker; read-only afterwards), which a
    // RemoteWorker shares so that the session's time goes on across attach and detach.
    const QElapsedTimer& clock() const { return clock_; }

public slots:
    // Loads a model and builds a new engine, reporting progress; the previous engine keeps
    // running (and its requests keep theirs) if this fails.
    void loadModel(const kvscope::ui::LoadRequest& request);
    // Reads a GGUF file's header for the settings dialog (modelInspected).
    void inspectModel(const QString& source);
    // Queues a request; `tag` lets the caller match the answer (requestAccepted / requestRejected).
    void submit(quint64 tag, const kvscope::Request& request);
    // Queues a chat turn rendered with the model's chat template.
    void submitChat(quint64 tag, const kvscope::ui::ChatRequest& request);
    void abortRequest(qint64 requestId);
    // Stops every request.
    void abortAll();
    // Paused: requests are taken but no step runs until resumed.
    void setPaused(bool paused);
    // Forgets the cached prefixes (prefixCacheReset says whether it could: not while blocks are held).
    void resetPrefixCache();
    // What block `blockId` holds now (blockTokensReady).
    void requestBlockTokens(qint32 blockId);
    // The requests finished since the model was loaded, as a trace (traceReady).
    void requestTrace();
    // Tokenises a text and cuts it into perplexity chunks for the loaded model (perplexityPrepared).
    void preparePerplexity(const kvscope::ui::PerplexityText& request);
    // Serves this engine over HTTP (servingChanged); a server already running is restarted.
    void startServing(const kvscope::ui::ServeRequest& request);
    // Stops the server: its in-flight requests are aborted (their blocks freed).
    void stopServing();
    // Says again what is loaded (modelLoaded, a full snapshot): the UI comes back from a remote attach.
    void announce();
    // Reads a LoRA adapter for the loaded model and adds it (loraLoaded, or loraLoadFailed saying why).
    void loadLora(const kvscope::ui::LoraLoadRequest& request);
    // Unloads an adapter (loraUnloaded, or loraLoadFailed saying why: its requests still run).
    void unloadLora(const QString& name);

signals:
    void loadProgress(double fraction, const QString& stage);
    void modelLoaded(const kvscope::ui::ModelSummary& summary);
    void modelLoadFailed(const QString& message);
    void modelInspected(const kvscope::ui::ModelFileInfo& info);
    void loraLoaded(const kvscope::ui::LoraSummary& lora);
    void loraUnloaded(const QString& name);
    // An adapter that could not be loaded or unloaded, or was dropped when another model was loaded.
    void loraLoadFailed(const QString& message);
    void requestAccepted(quint64 tag, qint64 requestId);
    // A chat turn's prompt as the template rendered and the tokenizer encoded it, before it is
    // accepted or rejected (the UI sent no tokens: it knows the count from here).
    void chatTokenized(quint64 tag, qint32 promptTokens);
    void requestRejected(quint64 tag, const QString& message);
    void outputsReady(const QVector<kvscope::RequestOutput>& outputs);
    // `timeS`: seconds since the worker started (one clock across model loads).
    void snapshotReady(std::shared_ptr<const kvscope::EngineSnapshot> snapshot, double timeS);
    void pausedChanged(bool paused);
    void prefixCacheReset(bool done, const QString& message);
    void blockTokensReady(const kvscope::ui::BlockTokens& tokens);
    // Arrival times in seconds from the first request; the header names the engine's budget.
    void traceReady(const kvscope::Trace& trace);
    void perplexityPrepared(const kvscope::ui::PerplexityChunks& chunks);
    // `address`: "http://127.0.0.1:8000" while serving; `message`: why it stopped or failed.
    void servingChanged(bool serving, const QString& address, const QString& message);
    // An HTTP client's request entered the engine (`source`: the API's request id).
    void externalRequestAccepted(qint64 requestId, const QString& source, qint32 promptTokens, qint32 numSamples);

private slots:
    void runStep();
    void idleTick();

private:
    // Paced: skipped within kSnapshotIntervalMs of the last; Start: never skipped, full when due
    // as a paced one would be.
    enum class Detail { Paced, Start, Full, CountersOnly };
    void scheduleStep();
    // After aborts: the next step reports them, or at once while paused.
    void reportAborts();
    void publishSnapshot(Detail detail);
    void armIdleTick();
    void emitOutputs(std::vector<RequestOutput>& outputs);
    void accept(quint64 tag, Request request);
    void serveInbox();
    ui::ServeRequest servingRequest() const;
    void shutDownServer(const QString& message);
    // The adapters loaded now, as the server lists them; handed to a running server after each
    // load and unload, so that its /v1/models and its requests follow the LoRA panel.
    std::vector<server::ServedLora> servedLoras() const;
    void updateServedLoras();
    void route(std::vector<RequestOutput>& outputs);

    struct Serving;
    struct LoadedLora {
        QString name;
        QString path;
        std::shared_ptr<const LoraAdapter> adapter;
    };
    // Reads `path` for `engine`'s model (loaded from `source`) and adds it as `name`; throws
    // kvscope::Error saying why not.
    static LoadedLora attachLora(Engine& engine, const QString& source, const QString& name, const QString& path);
    // The adapters read again for a new engine; messages for those that do not fit it.
    std::vector<LoadedLora> carryLoras(Engine& engine, const QString& source, QStringList& dropped) const;
    ui::ModelSummary summary() const;

    std::shared_ptr<const Model> model_;
    // summary()'s token vocabulary and the model it was built from.
    mutable std::shared_ptr<const ui::TokenVocabulary> vocabulary_;
    mutable std::weak_ptr<const Model> vocabularyOf_;
    QString source_;
    std::unique_ptr<Engine> engine_;
    std::vector<LoadedLora> loras_;   // on engine_, in the order added
    std::deque<TraceRequest> trace_;  // what take_trace handed over so far, oldest first
    std::unique_ptr<Serving> serving_;
    bool paused_ = false;
    bool stepQueued_ = false;
    bool idleTickArmed_ = false;
    bool running_ = false;  // the last step left work: the next one is not the first of a run
    QElapsedTimer clock_;
    qint64 lastSnapshotMs_ = -1000000;
    qint64 lastFullMs_ = -1000000;
    qint64 fullIntervalMs_ = kSnapshotIntervalMs;
    // The last full snapshot published: the next one shares its unchanged chunks of blocks.
    std::shared_ptr<const EngineSnapshot> lastFull_;
};

}  // namespace kvscope::app
