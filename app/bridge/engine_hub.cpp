#include "app/bridge/engine_hub.h"

#include "app/bridge/engine_worker.h"
#include "app/bridge/remote_worker.h"
#include "app/bridge/session_wiring.h"
#include "ui/session.h"

namespace kvscope::app {

EngineHub::EngineHub(ui::Session* session, QObject* parent) : QObject(parent), m_session(session) {
    EngineWorker::registerMetaTypes();
    m_engineThread.setObjectName(QStringLiteral("engine"));
    m_worker = new EngineWorker;
    m_worker->moveToThread(&m_engineThread);
    connect(&m_engineThread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_links = connectSession(session, m_worker);
    connectServing(session, m_worker);
    connect(session, &ui::Session::attachCommand, this, &EngineHub::attach);
    connect(session, &ui::Session::detachCommand, this, &EngineHub::detach);
    m_engineThread.start();
}

EngineHub::~EngineHub() {
    dropRemote(true);
    // Remote threads dropped earlier that have not ended yet (or whose deleteLater has not run):
    // children of this hub, deleted with it once they have ended.
    for (QThread* thread : findChildren<QThread*>(Qt::FindDirectChildrenOnly)) thread->wait();
    m_engineThread.quit();
    m_engineThread.wait();
}

void EngineHub::attach(const kvscope::ui::AttachRequest& request) {
    if (m_remote) detach();
    m_remoteThread = new QThread(this);
    m_remoteThread->setObjectName(QStringLiteral("remote"));
    m_remote = new RemoteWorker(m_worker->clock());
    m_remote->moveToThread(m_remoteThread);
    connect(m_remoteThread, &QThread::finished, m_remote, &QObject::deleteLater);
    connect(m_remote, &RemoteWorker::attached, this, &EngineHub::onAttached, Qt::QueuedConnection);
    connect(m_remote, &RemoteWorker::attachFailed, this, &EngineHub::onAttachFailed, Qt::QueuedConnection);
    connect(m_remote, &RemoteWorker::notice, this, &EngineHub::onNotice, Qt::QueuedConnection);
    connect(m_remote, &RemoteWorker::answeringChanged, this, &EngineHub::onAnsweringChanged, Qt::QueuedConnection);
    m_remoteThread->start();
    RemoteWorker* remote = m_remote;
    QMetaObject::invokeMethod(
        remote, [remote, request] { remote->attach(request); }, Qt::QueuedConnection);
}

void EngineHub::onAttached(const QString& url, const QString&) {
    if (!m_remote || sender() != m_remote) return;  // an attach given up meanwhile
    for (const QMetaObject::Connection& c : m_links) QObject::disconnect(c);
    m_links = connectSession(m_session, m_remote);
    m_remoteLive = true;
    m_url = url;
    m_session->onAttachChanged(url, QString());
    QMetaObject::invokeMethod(m_remote, &RemoteWorker::start, Qt::QueuedConnection);
}

void EngineHub::onAttachFailed(const QString& message) {
    if (!m_remote || sender() != m_remote) return;
    dropRemote();
    m_session->onAttachChanged(QString(), message);
}

void EngineHub::onNotice(const QString& message) {
    if (m_remoteLive && sender() == m_remote) m_session->onAttachChanged(m_url, message);
}

void EngineHub::onAnsweringChanged(const QString& problem) {
    if (m_remoteLive && sender() == m_remote) m_session->onRemoteAnswering(problem);
}

void EngineHub::detach() {
    if (!m_remote) return;
    const bool wasLive = m_remoteLive;
    dropRemote();
    if (!wasLive) return;
    m_links = connectSession(m_session, m_worker);
    m_session->onAttachChanged(QString(), QString());
    QMetaObject::invokeMethod(m_worker, &EngineWorker::announce, Qt::QueuedConnection);
}

// The remote worker ends on its own thread (its in-flight requests broken off, which makes a
// kvscope server free their blocks); nothing here waits for it but the destructor.
void EngineHub::dropRemote(bool wait) {
    if (!m_remote) return;
    if (m_remoteLive) {
        for (const QMetaObject::Connection& c : m_links) QObject::disconnect(c);
        m_links.clear();
    }
    disconnect(m_remote, nullptr, this, nullptr);
    m_remoteLive = false;
    m_remote = nullptr;
    QThread* thread = m_remoteThread;
    m_remoteThread = nullptr;
    if (wait) {
        thread->quit();
        thread->wait();
        delete thread;
    } else {
        // Connected before quit(): a thread that ended at once still deletes itself.
        connect(thread, &QThread::finished, thread, &QObject::deleteLater);
        thread->quit();
    }
}

}  // namespace kvscope::app
