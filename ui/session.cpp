#include "ui/session.h"

#include "ui/perplexity_log.h"
#include "ui/request_listener.h"
#include "ui/request_log.h"
#include "ui/session_recorder.h"

namespace kvscope::ui {

Session::Session(QObject* parent) : QObject(parent) {
    m_log = new RequestLog(this);
    m_perplexity = new PerplexityLog(this);
    m_recorder = new SessionRecorder(this);
}

Session::~Session() = default;

quint64 Session::track(RequestListener* listener, const QString& source, std::optional<qint32> promptTokens,
                       qint32 numSamples) {
    const quint64 tag = m_nextTag++;
    m_byTag.insert(tag, Route{dynamic_cast<QObject*>(listener), listener});
    m_log->added(tag, source, numSamples, promptTokens);
    return tag;
}

quint64 Session::submit(const Request& request, RequestListener* listener, const QString& source) {
    const quint64 tag = track(listener, source, promptTokensOf(request), request.params.n);
    emit submitCommand(tag, request);
    return tag;
}

quint64 Session::submitChat(const ChatRequest& request, RequestListener* listener, const QString& source) {
    const quint64 tag = track(listener, source, std::nullopt, request.params.n);  // tokenised by the worker
    emit submitChatCommand(tag, request);
    return tag;
}

void Session::logNotSent(const QString& source, const std::vector<UnsentRequest>& requests) {
    m_log->addedNotSent(m_nextTag, source, requests);
    m_nextTag += requests.size();
}

void Session::abort(qint64 requestId) {
    emit abortCommand(requestId);
}

void Session::abortAll() {
    emit abortAllCommand();
}

void Session::setPaused(bool paused) {
    emit pauseCommand(paused);
}

void Session::resetPrefixCache() {
    emit resetPrefixCacheCommand();
}

void Session::load(const LoadRequest& request) {
    m_loading = true;
    m_pendingLoad = request;
    emit loadStarted(request.source);
    emit loadCommand(request);
}

void Session::inspectModel(const QString& source) {
    emit inspectCommand(source);
}

void Session::requestBlockTokens(qint32 blockId) {
    emit blockTokensCommand(blockId);
}

void Session::requestTrace() {
    emit traceCommand();
}

void Session::preparePerplexity(const PerplexityText& request) {
    emit perplexityCommand(request);
}

void Session::focusRequest(qint64 requestId) {
    emit requestFocused(m_servedAs.value(requestId, requestId));
}

void Session::serve(const ServeRequest& request) {
    emit serveCommand(request);
}

void Session::stopServing() {
    emit stopServingCommand();
}

void Session::attach(const AttachRequest& request) {
    emit attachCommand(request);
}

void Session::detach() {
    emit detachCommand();
}

void Session::loadLora(const LoraLoadRequest& request) {
    emit loraLoadCommand(request);
}

void Session::unloadLora(const QString& name) {
    emit loraUnloadCommand(name);
}

RequestListener* Session::listenerOf(const Route& route) const {
    return route.owner ? route.listener : nullptr;
}

void Session::onLoadProgress(double fraction, const QString& stage) {
    emit loadProgressed(fraction, stage);
}

void Session::onModelLoaded(const ModelSummary& summary) {
    m_loading = false;
    m_modelReady = true;
    m_model = summary;
    if (summary.remoteKind.isEmpty()) {  // a server's summary is no load to repeat
        m_lastLoad = m_pendingLoad;
        m_lastLoad.source = summary.source;
        m_lastLoad.config = summary.config;
    }
    m_recorder->startEpoch(/*attached=*/!summary.remoteKind.isEmpty());
    emit modelLoaded(summary);
    emit lorasChanged();
}

void Session::onModelLoadFailed(const QString& message) {
    m_loading = false;
    emit modelLoadFailed(message);
}

void Session::onModelInspected(const ModelFileInfo& info) {
    emit modelInspected(info);
}

void Session::onRequestAccepted(quint64 tag, qint64 requestId) {
    const Route route = m_byTag.take(tag);
    m_log->accepted(tag, requestId);
    m_byId.insert(requestId, route);
    if (RequestListener* l = listenerOf(route)) l->requestAccepted(tag, requestId);
}

void Session::onRequestRejected(quint64 tag, const QString& message) {
    const Route route = m_byTag.take(tag);
    m_log->rejected(tag, message);
    if (RequestListener* l = listenerOf(route)) l->requestRejected(tag, message);
}

void Session::onChatTokenized(quint64 tag, qint32 promptTokens) {
    m_log->tokenized(tag, promptTokens);
}

void Session::onOutputs(const QVector<RequestOutput>& outputs) {
    for (const RequestOutput& out : outputs) {
        m_log->output(out);
        const auto it = m_byId.constFind(out.id);
        if (it == m_byId.constEnd()) continue;
        const Route route = *it;
        if (out.finished) m_byId.remove(out.id);
        if (RequestListener* l = listenerOf(route)) l->requestOutput(out);
    }
}

void Session::onSnapshot(std::shared_ptr<const EngineSnapshot> snapshot, double timeS) {
    if (!snapshot) return;
    m_latest = snapshot;
    if (snapshot->detail == SnapshotDetail::Full) {
        m_latestFull = snapshot;
        m_log->snapshot(*snapshot);
    }
    m_recorder->record(snapshot, timeS);
    emit snapshotArrived(std::move(snapshot), timeS);
}

void Session::onPausedChanged(bool paused) {
    m_paused = paused;
    emit pausedChanged(paused);
}

void Session::onPrefixCacheReset(bool done, const QString& message) {
    emit prefixCacheResetDone(done, message);
}

void Session::onBlockTokens(const BlockTokens& tokens) {
    emit blockTokensArrived(tokens);
}

void Session::onTrace(const Trace& trace) {
    emit traceArrived(trace);
}

void Session::onPerplexityPrepared(const PerplexityChunks& chunks) {
    emit perplexityPrepared(chunks);
}

void Session::onServingChanged(bool serving, const QString& address, const QString& message) {
    m_servingAddress = serving ? address : QString();
    emit servingChanged(serving, address, message);
}

void Session::onExternalRequest(qint64 requestId, const QString& source, qint32 promptTokens, qint32 numSamples) {
    const quint64 tag = m_nextTag++;
    m_log->added(tag, source, numSamples, promptTokens);
    m_log->accepted(tag, requestId);
}

void Session::onAttachChanged(const QString& url, const QString& message) {
    if (url != m_attachedUrl) {  // a new attachment, or none: its own ids, and it starts answering
        m_servedAs.clear();
        if (!m_remoteProblem.isEmpty()) {
            m_remoteProblem.clear();
            emit remoteAnsweringChanged(m_remoteProblem);
        }
    }
    m_attachedUrl = url;
    emit attachChanged(url, message);
}

void Session::onRequestServedAs(qint64 requestId, qint64 serverRequestId) {
    m_servedAs.insert(requestId, serverRequestId);
}

void Session::onRemoteAnswering(const QString& problem) {
    if (problem == m_remoteProblem) return;
    if (!problem.isEmpty()) m_recorder->markGap();  // no snapshot comes until it answers again
    m_remoteProblem = problem;
    emit remoteAnsweringChanged(problem);
}

void Session::onLoraLoaded(const LoraSummary& lora) {
    m_model.loras.append(lora);
    emit lorasChanged();
}

void Session::onLoraUnloaded(const QString& name) {
    m_model.loras.removeIf([&](const LoraSummary& l) { return l.name == name; });
    emit lorasChanged();
}

void Session::onLoraLoadFailed(const QString& message) {
    emit loraLoadFailed(message);
}

}  // namespace kvscope::ui
