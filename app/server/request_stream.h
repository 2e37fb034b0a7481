#pragma once
// One HTTP request's path through the engine thread (DESIGN.md "Threads"). The handler thread
// makes a RequestStream holding the engine requests (one per prompt) and hands it to an
// EngineHost; the engine thread takes the requests, says whether the engine accepted them, and
// pushes each step's outputs into the stream; the handler thread waits on it and writes HTTP.
// Nothing here touches the Engine: a stream is only a locked mailbox between two threads.
//
//   handler:  host.submit(stream); stream->wait_started(); while (stream->wait(items, 50ms) ...)
//   engine:   stream->take_requests(); engine.add_request(...); stream->accept(ids); stream->push(...)

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "engine/request.h"

namespace kvscope::server {

struct StreamItem {
    std::size_t prompt_index = 0;  // which of the stream's requests
    RequestOutput output;
};

class RequestStream {
public:
    enum class State {
        Pending,   // not yet taken by the engine thread
        Running,   // accepted: outputs are coming
        Rejected,  // the engine refused a request (message() says why); none of them runs
        Finished,  // every request has finished
        Closed,    // the host stopped (shutdown or an engine failure; message() says why)
    };

    // `label` names the stream in snapshots and logs (the API's "cmpl-..." id).
    RequestStream(std::string label, std::vector<Request> requests);

    const std::string& label() const { return label_; }
    std::size_t num_requests() const { return num_requests_; }

    // --- engine thread ---
    std::vector<Request> take_requests();
    // `engine_ids`: the engine's ids of the stream's requests, in prompt order.
    void accept(std::vector<RequestId> engine_ids);
    void reject(std::string message);
    void push(std::size_t prompt_index, RequestOutput output);
    void close(std::string message);

    // --- handler thread ---
    // Blocks until the stream left Pending; returns the new state.
    State wait_started();
    // Waits up to `timeout` for news, moves it into `out` (appending), returns the state. Items
    // may come with Finished or Closed: handle them before stopping.
    State wait(std::vector<StreamItem>& out, std::chrono::milliseconds timeout);
    State state() const;
    std::string message() const;
    // The engine's ids of the requests, in prompt order, once accepted (else empty).
    std::vector<RequestId> engine_ids() const;

    // --- any thread ---
    // The client went away: the host aborts what is left (see EngineHost::cancel).
    void mark_cancelled();
    bool cancelled() const;

private:
    const std::string label_;
    const std::size_t num_requests_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Request> requests_;
    std::vector<StreamItem> items_;
    std::vector<RequestId> engine_ids_;
    std::size_t num_finished_ = 0;
    State state_ = State::Pending;
    std::string message_;
    bool cancelled_ = false;
};

}  // namespace kvscope::server
