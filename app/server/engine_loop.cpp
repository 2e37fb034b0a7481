#include "app/server/engine_loop.h"

#include <cstdio>
#include <future>

namespace kvscope::server {

EngineLoop::EngineLoop(std::shared_ptr<const Model> model, const EngineConfig& config,
                       const std::vector<NamedLora>& loras)
    : engine_(std::make_unique<Engine>(model, config)),
      info_{model, engine_->config(), engine_->cache_plan(), engine_->backend_name(), {}},
      router_(engine_->cache_plan().max_model_len) {
    for (const auto& [name, adapter] : loras) {
        engine_->add_lora(name, adapter);
        info_.loras.push_back(ServedLora{name, adapter->source()});
    }
    thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() {
    stop();
}

void EngineLoop::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool EngineLoop::submit(std::shared_ptr<RequestStream> stream) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_ && running_) {
            inbox_.submitted.push_back(std::move(stream));
            wake_.notify_all();
            return true;
        }
    }
    stream->close("the server is shutting down");
    return false;
}

void EngineLoop::cancel(std::shared_ptr<RequestStream> stream) {
    stream->mark_cancelled();
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    inbox_.cancelled.push_back(std::move(stream));
    wake_.notify_all();
}

bool EngineLoop::call(const std::function<void(Engine&)>& task) {
    auto done = std::make_shared<std::promise<bool>>();
    std::future<bool> result = done->get_future();
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || !running_) return false;
        inbox_.tasks.push_back([task, done](Engine& engine) {
            task(engine);
            done->set_value(true);
        });
    }
    wake_.notify_all();
    try {
        return result.get();
    } catch (const std::future_error&) {
        return false;  // dropped unrun at shutdown
    }
}

std::optional<ServingState> EngineLoop::state() {
    std::optional<ServingState> out;
    if (!call([&](Engine& engine) { out = router_.state(engine); })) return std::nullopt;
    return out;
}

void EngineLoop::run() {
    for (;;) {
        Inbox inbox;
        const bool has_work = engine_->has_work();
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || has_work || !inbox_.empty(); });
            if (stopping_) break;
            std::swap(inbox, inbox_);
        }
        try {
            for (const auto& stream : inbox.submitted) router_.accept(*engine_, stream);
            for (const auto& stream : inbox.cancelled) router_.cancel(*engine_, stream);
            for (const auto& task : inbox.tasks) task(*engine_);
            if (engine_->has_work()) router_.route(engine_->step());
        } catch (const std::exception& e) {
            // The engine is in an unknown state: stop serving rather than serve wrong answers.
            fail(std::string("the engine failed: ") + e.what());
            return;
        }
    }
    // Shutdown: abort everything; the promises of unrun tasks break, which their callers see.
    const std::string message = "the server is shutting down";
    router_.close_all(*engine_, message);
    running_ = false;
    std::lock_guard lock(mutex_);
    for (const auto& stream : inbox_.submitted) stream->close(message);
    inbox_ = Inbox{};
}

void EngineLoop::fail(const std::string& message) {
    std::fprintf(stderr, "kvscope serve: %s\n", message.c_str());
    running_ = false;
    try {
        router_.close_all(*engine_, message);
    } catch (const std::exception&) {
    }
    std::lock_guard lock(mutex_);
    for (const auto& stream : inbox_.submitted) stream->close(message);
    inbox_ = Inbox{};
}

}  // namespace kvscope::server
