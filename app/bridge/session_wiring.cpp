#include "app/bridge/session_wiring.h"

#include "app/bridge/engine_worker.h"
#include "app/bridge/remote_worker.h"
#include "ui/session.h"

namespace kvscope::app {
namespace {

template <class Worker>
QList<QMetaObject::Connection> connectCommands(ui::Session* session, Worker* worker) {
    using ui::Session;
    constexpr auto queued = Qt::QueuedConnection;
    return {
        QObject::connect(session, &Session::submitCommand, worker, &Worker::submit, queued),
        QObject::connect(session, &Session::submitChatCommand, worker, &Worker::submitChat, queued),
        QObject::connect(session, &Session::abortCommand, worker, &Worker::abortRequest, queued),
        QObject::connect(session, &Session::abortAllCommand, worker, &Worker::abortAll, queued),
        QObject::connect(session, &Session::pauseCommand, worker, &Worker::setPaused, queued),
        QObject::connect(session, &Session::resetPrefixCacheCommand, worker, &Worker::resetPrefixCache, queued),
        QObject::connect(session, &Session::loadCommand, worker, &Worker::loadModel, queued),
        QObject::connect(session, &Session::inspectCommand, worker, &Worker::inspectModel, queued),
        QObject::connect(session, &Session::blockTokensCommand, worker, &Worker::requestBlockTokens, queued),

        QObject::connect(worker, &Worker::loadProgress, session, &Session::onLoadProgress, queued),
        QObject::connect(worker, &Worker::modelLoaded, session, &Session::onModelLoaded, queued),
        QObject::connect(worker, &Worker::modelLoadFailed, session, &Session::onModelLoadFailed, queued),
        QObject::connect(worker, &Worker::modelInspected, session, &Session::onModelInspected, queued),
        QObject::connect(worker, &Worker::requestAccepted, session, &Session::onRequestAccepted, queued),
        QObject::connect(worker, &Worker::requestRejected, session, &Session::onRequestRejected, queued),
        QObject::connect(worker, &Worker::outputsReady, session, &Session::onOutputs, queued),
        QObject::connect(worker, &Worker::snapshotReady, session, &Session::onSnapshot, queued),
        QObject::connect(worker, &Worker::pausedChanged, session, &Session::onPausedChanged, queued),
        QObject::connect(worker, &Worker::prefixCacheReset, session, &Session::onPrefixCacheReset, queued),
        QObject::connect(worker, &Worker::blockTokensReady, session, &Session::onBlockTokens, queued),
    };
}

}  // namespace

QList<QMetaObject::Connection> connectSession(ui::Session* session, EngineWorker* worker) {
    QList<QMetaObject::Connection> connections = connectCommands(session, worker);
    // The session's trace (the memory lab) and LoRA adapters exist only on the embedded engine;
    // perplexity chunks come from its tokenizer (an attached server's: below), and so do chat
    // turns' prompt tokens (a server's are known when it answers).
    connections << QObject::connect(session, &ui::Session::traceCommand, worker, &EngineWorker::requestTrace,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &EngineWorker::chatTokenized, session, &ui::Session::onChatTokenized,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &EngineWorker::traceReady, session, &ui::Session::onTrace,
                                    Qt::QueuedConnection)
                << QObject::connect(session, &ui::Session::perplexityCommand, worker, &EngineWorker::preparePerplexity,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &EngineWorker::perplexityPrepared, session,
                                    &ui::Session::onPerplexityPrepared, Qt::QueuedConnection)
                << QObject::connect(session, &ui::Session::loraLoadCommand, worker, &EngineWorker::loadLora,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &EngineWorker::loraLoaded, session, &ui::Session::onLoraLoaded,
                                    Qt::QueuedConnection)
                << QObject::connect(session, &ui::Session::loraUnloadCommand, worker, &EngineWorker::unloadLora,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &EngineWorker::loraUnloaded, session, &ui::Session::onLoraUnloaded,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &EngineWorker::loraLoadFailed, session, &ui::Session::onLoraLoadFailed,
                                    Qt::QueuedConnection);
    return connections;
}

QList<QMetaObject::Connection> connectSession(ui::Session* session, RemoteWorker* worker) {
    QList<QMetaObject::Connection> connections = connectCommands(session, worker);
    // Perplexity chunks come from the server's tokenizer.
    connections << QObject::connect(session, &ui::Session::perplexityCommand, worker, &RemoteWorker::preparePerplexity,
                                    Qt::QueuedConnection)
                << QObject::connect(worker, &RemoteWorker::perplexityPrepared, session,
                                    &ui::Session::onPerplexityPrepared, Qt::QueuedConnection)
                << QObject::connect(worker, &RemoteWorker::requestServedAs, session, &ui::Session::onRequestServedAs,
                                    Qt::QueuedConnection);
    return connections;
}

void connectServing(ui::Session* session, EngineWorker* worker) {
    using ui::Session;
    constexpr auto queued = Qt::QueuedConnection;
    QObject::connect(session, &Session::serveCommand, worker, &EngineWorker::startServing, queued);
    QObject::connect(session, &Session::stopServingCommand, worker, &EngineWorker::stopServing, queued);
    QObject::connect(worker, &EngineWorker::servingChanged, session, &Session::onServingChanged, queued);
    QObject::connect(worker, &EngineWorker::externalRequestAccepted, session, &Session::onExternalRequest, queued);
}

}  // namespace kvscope::app
