#pragma once
// Connects the UI's Session to an EngineWorker living on another thread: commands go in and
// answers come out through queued connections only, so neither side ever calls into the other.

namespace kvscope::ui {
class Session;
}

namespace kvscope::app {

class EngineWorker;

void connectSession(ui::Session* session, EngineWorker* worker);

}  // namespace kvscope::app
