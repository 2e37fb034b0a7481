#include "app/server/request_stream.h"

namespace kvscope::server {

RequestStream::RequestStream(std::string label, std::vector<Request> requests)
    : label_(std::move(label)), num_requests_(requests.size()), requests_(std::move(requests)) {}

std::vector<Request> RequestStream::take_requests() {
    std::lock_guard lock(mutex_);
    return std::move(requests_);
}

void RequestStream::accept(std::vector<RequestId> engine_ids) {
    std::lock_guard lock(mutex_);
    if (state_ == State::Pending) {
        state_ = num_requests_ == 0 ? State::Finished : State::Running;
        engine_ids_ = std::move(engine_ids);
    }
    changed_.notify_all();
}

void RequestStream::reject(std::string message) {
    std::lock_guard lock(mutex_);
    if (state_ == State::Pending) {
        state_ = State::Rejected;
        message_ = std::move(message);
    }
    changed_.notify_all();
}

void RequestStream::push(std::size_t prompt_index, RequestOutput output) {
    std::lock_guard lock(mutex_);
    if (state_ != State::Running) return;
    if (output.finished && ++num_finished_ == num_requests_) state_ = State::Finished;
    items_.push_back({prompt_index, std::move(output)});
    changed_.notify_all();
}

void RequestStream::close(std::string message) {
    std::lock_guard lock(mutex_);
    if (state_ == State::Pending || state_ == State::Running) {
        state_ = State::Closed;
        message_ = std::move(message);
    }
    changed_.notify_all();
}

RequestStream::State RequestStream::wait_started() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return state_ != State::Pending; });
    return state_;
}

RequestStream::State RequestStream::wait(std::vector<StreamItem>& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout,
                      [&] { return !items_.empty() || (state_ != State::Running && state_ != State::Pending); });
    for (StreamItem& item : items_) out.push_back(std::move(item));
    items_.clear();
    return state_;
}

RequestStream::State RequestStream::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

std::string RequestStream::message() const {
    std::lock_guard lock(mutex_);
    return message_;
}

std::vector<RequestId> RequestStream::engine_ids() const {
    std::lock_guard lock(mutex_);
    return engine_ids_;
}

void RequestStream::mark_cancelled() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
}

bool RequestStream::cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
}

}  // namespace kvscope::server
