#pragma once
// Who answers the Session: the embedded EngineWorker on its thread, or, while attached to a
// server, a RemoteWorker on a thread of its own. Attaching probes the server first (on the
// remote thread: the UI never waits) and switches only when it answered; detaching switches back
// and has the embedded engine say again what it runs. The Serve switch always drives the
// embedded engine.

#include <QList>
#include <QObject>
#include <QThread>

#include "ui/engine_messages.h"

namespace kvscope::ui {
class Session;
}

namespace kvscope::app {

class EngineWorker;
class RemoteWorker;

class EngineHub final : public QObject {
    Q_OBJECT

public:
    // Starts the engine's thread and connects `session` to it.
    explicit EngineHub(ui::Session* session, QObject* parent = nullptr);
    // Detaches, then stops both threads (waits for them).
    ~EngineHub() override;

    EngineWorker* engineWorker() const { return m_worker; }
    bool attached() const { return m_remote != nullptr && m_remoteLive; }

public slots:
    void attach(const kvscope::ui::AttachRequest& request);
    void detach();

private slots:
    void onAttached(const QString& url, const QString& kind);
    void onAttachFailed(const QString& message);
    void onNotice(const QString& message);
    void onAnsweringChanged(const QString& problem);

private:
    void dropRemote(bool wait = false);

    ui::Session* m_session;
    QThread m_engineThread;
    EngineWorker* m_worker = nullptr;
    QList<QMetaObject::Connection> m_links;  // the Session's, to whichever worker answers it
    QThread* m_remoteThread = nullptr;
    RemoteWorker* m_remote = nullptr;
    bool m_remoteLive = false;  // the Session talks to m_remote
    QString m_url;
};

}  // namespace kvscope::app
