#pragma once
// The engine thread of `kvscope-cli serve`: owns an Engine and runs step() while there is work;
// between steps it takes new streams, cancellations and state queries from an inbox that any
// thread may fill. The only thread that ever touches the Engine is the loop's own.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/server/engine_host.h"
#include "app/server/stream_router.h"

namespace kvscope::server {

class EngineLoop final : public EngineHost {
public:
    // Builds the engine on the calling thread (ConfigError surfaces there), then starts the
    // engine thread.
    // `loras`: adapters (loaded for `model`) added to the engine under their names.
    using NamedLora = std::pair<std::string, std::shared_ptr<const LoraAdapter>>;
    EngineLoop(std::shared_ptr<const Model> model, const EngineConfig& config, const std::vector<NamedLora>& loras = {});
    // Stops: aborts every request, closes every stream, joins the thread.
    ~EngineLoop() override;

    const ServingInfo& info() const override { return info_; }
    bool submit(std::shared_ptr<RequestStream> stream) override;
    void cancel(std::shared_ptr<RequestStream> stream) override;
    std::optional<ServingState> state() override;
    bool running() const override { return running_.load(); }

    // Aborts everything, closes every stream and joins the thread; later calls do nothing.
    void stop();

private:
    struct Inbox {
        std::vector<std::shared_ptr<RequestStream>> submitted;
        std::vector<std::shared_ptr<RequestStream>> cancelled;
        std::vector<std::function<void(Engine&)>> tasks;
        bool empty() const { return submitted.empty() && cancelled.empty() && tasks.empty(); }
    };

    void run();
    void fail(const std::string& message);
    // Runs `task` on the engine thread and waits for it; false when the loop has stopped.
    bool call(const std::function<void(Engine&)>& task);

    std::unique_ptr<Engine> engine_;
    ServingInfo info_;
    StreamRouter router_;

    std::mutex mutex_;
    std::condition_variable wake_;
    Inbox inbox_;
    bool stopping_ = false;
    std::atomic<bool> running_{true};
    std::thread thread_;
};

}  // namespace kvscope::server
