#include "app/bridge/session_wiring.h"

#include "app/bridge/engine_worker.h"
#include "ui/session.h"

namespace kvscope::app {

void connectSession(ui::Session* session, EngineWorker* worker) {
    using ui::Session;
    constexpr auto queued = Qt::QueuedConnection;
    QObject::connect(session, &Session::submitCommand, worker, &EngineWorker::submit, queued);
    QObject::connect(session, &Session::submitChatCommand, worker, &EngineWorker::submitChat, queued);
    QObject::connect(session, &Session::abortCommand, worker, &EngineWorker::abortRequest, queued);
    QObject::connect(session, &Session::abortAllCommand, worker, &EngineWorker::abortAll, queued);
    QObject::connect(session, &Session::pauseCommand, worker, &EngineWorker::setPaused, queued);
    QObject::connect(session, &Session::resetPrefixCacheCommand, worker, &EngineWorker::resetPrefixCache, queued);
    QObject::connect(session, &Session::loadCommand, worker, &EngineWorker::loadModel, queued);
    QObject::connect(session, &Session::inspectCommand, worker, &EngineWorker::inspectModel, queued);
    QObject::connect(session, &Session::blockTokensCommand, worker, &EngineWorker::requestBlockTokens, queued);
    QObject::connect(session, &Session::traceCommand, worker, &EngineWorker::requestTrace, queued);

    QObject::connect(worker, &EngineWorker::loadProgress, session, &Session::onLoadProgress, queued);
    QObject::connect(worker, &EngineWorker::modelLoaded, session, &Session::onModelLoaded, queued);
    QObject::connect(worker, &EngineWorker::modelLoadFailed, session, &Session::onModelLoadFailed, queued);
    QObject::connect(worker, &EngineWorker::modelInspected, session, &Session::onModelInspected, queued);
    QObject::connect(worker, &EngineWorker::requestAccepted, session, &Session::onRequestAccepted, queued);
    QObject::connect(worker, &EngineWorker::requestRejected, session, &Session::onRequestRejected, queued);
    QObject::connect(worker, &EngineWorker::outputsReady, session, &Session::onOutputs, queued);
    QObject::connect(worker, &EngineWorker::snapshotReady, session, &Session::onSnapshot, queued);
    QObject::connect(worker, &EngineWorker::pausedChanged, session, &Session::onPausedChanged, queued);
    QObject::connect(worker, &EngineWorker::prefixCacheReset, session, &Session::onPrefixCacheReset, queued);
    QObject::connect(worker, &EngineWorker::blockTokensReady, session, &Session::onBlockTokens, queued);
    QObject::connect(worker, &EngineWorker::traceReady, session, &Session::onTrace, queued);
}

}  // namespace kvscope::app
