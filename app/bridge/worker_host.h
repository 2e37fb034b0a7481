#pragma once
// The EngineHost of the workbench's "Serve" switch: the HTTP server's handler threads hand their
// RequestStreams, cancellations and state queries to this mailbox, and the EngineWorker's thread
// takes them between two engine steps (EngineWorker::serveInbox). So one engine, the one the
// inspector shows, serves both the workbench's panels and HTTP clients. No Qt here: `wake` is how
// the mailbox tells the worker's thread that there is something to take.

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app/server/engine_host.h"

namespace kvscope::app {

class WorkerHost final : public server::EngineHost {
public:
    struct Inbox {
        std::vector<std::shared_ptr<server::RequestStream>> submitted;
        std::vector<std::shared_ptr<server::RequestStream>> cancelled;
        std::vector<std::shared_ptr<std::promise<server::ServingState>>> queries;
    };

    // `wake` is called from any thread, without the lock held, after the inbox gained something.
    WorkerHost(server::ServingInfo info, std::function<void()> wake);
    ~WorkerHost() override;

    const server::ServingInfo& info() const override { return info_; }
    std::vector<server::ServedLora> loras() const override;
    bool submit(std::shared_ptr<server::RequestStream> stream) override;
    void cancel(std::shared_ptr<server::RequestStream> stream) override;
    // Waits for the worker's thread to answer; nullopt once shut down.
    std::optional<server::ServingState> state() override;
    bool running() const override { return running_.load(); }

    // --- the worker's thread ---
    // The adapters from now on, after one was loaded or unloaded.
    void set_loras(std::vector<server::ServedLora> loras);
    Inbox take();
    // Takes nothing more: streams not taken yet are closed with `message`, waiting state()
    // calls return nullopt. Idempotent.
    void shutdown(const std::string& message);

private:
    const server::ServingInfo info_;
    const std::function<void()> wake_;
    std::mutex mutex_;
    Inbox inbox_;
    std::string message_;
    std::atomic<bool> running_{true};
    mutable std::mutex loras_mutex_;
    std::vector<server::ServedLora> loras_;
};

}  // namespace kvscope::app
