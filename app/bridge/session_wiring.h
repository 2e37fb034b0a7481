#pragma once
// Connects the UI's Session to the worker that answers its commands, living on another thread:
// the EngineWorker (the embedded engine) or a RemoteWorker (a server the workbench attached to).
// Commands go in and answers come out through queued connections only, so neither side ever
// calls into the other. The connections are returned, so that the EngineHub can switch workers.

#include <QList>
#include <QMetaObject>

namespace kvscope::ui {
class Session;
}

namespace kvscope::app {

class EngineWorker;
class RemoteWorker;

QList<QMetaObject::Connection> connectSession(ui::Session* session, EngineWorker* worker);
QList<QMetaObject::Connection> connectSession(ui::Session* session, RemoteWorker* worker);
// The Serve switch and the HTTP clients' requests: always the embedded engine's.
void connectServing(ui::Session* session, EngineWorker* worker);

}  // namespace kvscope::app
