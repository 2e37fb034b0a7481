#pragma once
// The workbench's serving and attaching controls, added to a MainWindow: Engine ▸ Serve over
// HTTP… (a switch: app/server's OpenAI-compatible server on the embedded engine), File ▸ Attach
// to Server… / Detach from Server (follow a kvscope, vLLM or llama.cpp server instead of the
// embedded engine), and a status-bar label saying which is on. Everything goes through the
// Session; answers and errors come back as its servingChanged / attachChanged and show in the
// status bar, so nothing here waits.

#include <QObject>

#include "ui/engine_messages.h"

class QAction;
class QLabel;

namespace kvscope::ui {

class MainWindow;
class Session;

class RemoteControls final : public QObject {
    Q_OBJECT

public:
    RemoteControls(MainWindow* window, Session* session);

    QAction* serveAction() const { return m_serve; }
    QAction* attachAction() const { return m_attach; }
    QAction* detachAction() const { return m_detach; }
    QString statusText() const;

public slots:
    // The dialogs (host, port, API key; URL, API key), then the Session's serve / attach.
    void askServe();
    void askAttach();

private:
    void onServingChanged(bool serving, const QString& address, const QString& message);
    void onAttachChanged(const QString& url, const QString& message);
    void updateLabel();

    MainWindow* m_window;
    Session* m_session;
    QAction* m_serve = nullptr;
    QAction* m_attach = nullptr;
    QAction* m_detach = nullptr;
    QLabel* m_label = nullptr;
    ServeRequest m_lastServe;
    AttachRequest m_lastAttach;
    // What the user asked for from a dialog and has no answer yet: a refusal then gets a message
    // box (as a failed model load does), not only the status bar.
    bool m_serveAsked = false;
    bool m_attachAsked = false;
    void showProblem(const QString& title, const QString& message);
};

}  // namespace kvscope::ui
