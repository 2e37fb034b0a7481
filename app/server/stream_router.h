#pragma once
// The engine-thread half of serving: adds the requests of RequestStreams to an Engine, routes each
// step's outputs back to their streams, aborts cancelled ones, and keeps the request-level
// serving metrics. Not thread-safe: call it only on the thread that drives the Engine (the
// EngineLoop's thread, or the workbench's EngineWorker thread), between steps.

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "app/server/engine_host.h"
#include "engine/engine.h"

namespace kvscope::server {

// An engine request a stream added (what the workbench's request log shows of it).
struct AcceptedRequest {
    RequestId id = 0;
    std::int32_t num_prompt_tokens = 0;
    std::int32_t n = 1;
};

class StreamRouter {
public:
    explicit StreamRouter(std::int32_t max_model_len) : metrics_(max_model_len) {}

    // Adds every request of the stream, or none: when the engine refuses one (ConfigError), the
    // ones already added are aborted and the stream is rejected with the engine's message.
    // A stream cancelled before it got here is rejected without touching the engine. Returns the
    // requests added (none when rejected).
    std::vector<AcceptedRequest> accept(Engine& engine, const std::shared_ptr<RequestStream>& stream);
    // Aborts the stream's unfinished requests.
    void cancel(Engine& engine, const std::shared_ptr<RequestStream>& stream);
    // Hands each output to its stream; returns the outputs of requests the router does not know
    // (a workbench's own requests, or the abort notices of rejected streams).
    std::vector<RequestOutput> route(std::vector<RequestOutput> outputs);
    // Aborts everything and closes every stream with `message` (shutdown, engine failure).
    void close_all(Engine& engine, const std::string& message);

    ServingState state(const Engine& engine) const;
    std::size_t num_requests() const { return routes_.size(); }

private:
    struct Route {
        std::shared_ptr<RequestStream> stream;
        std::size_t prompt_index = 0;
        std::int32_t n = 1;
        std::int32_t max_tokens = 0;
        std::vector<std::int32_t> sample_tokens;  // tokens generated per sample
    };

    std::unordered_map<RequestId, Route> routes_;
    ServingMetrics metrics_;
};

}  // namespace kvscope::server
