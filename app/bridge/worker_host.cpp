#include "app/bridge/worker_host.h"

namespace kvscope::app {

WorkerHost::WorkerHost(server::ServingInfo info, std::function<void()> wake)
    : info_(std::move(info)), wake_(std::move(wake)), loras_(info_.loras) {}

std::vector<server::ServedLora> WorkerHost::loras() const {
    std::lock_guard lock(loras_mutex_);
    return loras_;
}

void WorkerHost::set_loras(std::vector<server::ServedLora> loras) {
    std::lock_guard lock(loras_mutex_);
    loras_ = std::move(loras);
}

WorkerHost::~WorkerHost() {
    shutdown("the workbench stopped serving");
}

bool WorkerHost::submit(std::shared_ptr<server::RequestStream> stream) {
    std::string refused;
    {
        std::lock_guard lock(mutex_);
        if (running_) {
            inbox_.submitted.push_back(stream);
        } else {
            refused = message_;
        }
    }
    if (refused.empty()) {
        wake_();
        return true;
    }
    stream->close(refused);
    return false;
}

void WorkerHost::cancel(std::shared_ptr<server::RequestStream> stream) {
    stream->mark_cancelled();
    {
        std::lock_guard lock(mutex_);
        if (!running_) return;  // shutdown closes everything
        inbox_.cancelled.push_back(std::move(stream));
    }
    wake_();
}

std::optional<server::ServingState> WorkerHost::state() {
    auto query = std::make_shared<std::promise<server::ServingState>>();
    std::future<server::ServingState> answer = query->get_future();
    {
        std::lock_guard lock(mutex_);
        if (!running_) return std::nullopt;
        inbox_.queries.push_back(std::move(query));
    }
    wake_();
    try {
        return answer.get();
    } catch (const std::future_error&) {
        return std::nullopt;  // dropped unanswered at shutdown
    }
}

WorkerHost::Inbox WorkerHost::take() {
    std::lock_guard lock(mutex_);
    Inbox out;
    std::swap(out, inbox_);
    return out;
}

void WorkerHost::shutdown(const std::string& message) {
    Inbox left;
    {
        std::lock_guard lock(mutex_);
        if (!running_) return;
        running_ = false;
        message_ = message.empty() ? std::string("the server has stopped") : message;
        std::swap(left, inbox_);
    }
    for (const auto& stream : left.submitted) stream->close(message);
    // `left.queries` go out of scope unanswered: their callers see a broken promise.
}

}  // namespace kvscope::app
