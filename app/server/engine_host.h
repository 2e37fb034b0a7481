#pragma once
// What the HTTP server needs from whoever drives the Engine. The server never calls the Engine:
// it hands RequestStreams to an EngineHost and asks it for state. EngineLoop (engine_loop.h) is
// the host of `kvscope-cli serve`: an engine thread of its own. The workbench can implement the
// same interface over its EngineWorker thread with a StreamRouter (stream_router.h), so that
// "Serve" runs this server beside the UI on the workbench's engine.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "app/server/request_stream.h"
#include "app/server/serving_metrics.h"
#include "engine/config.h"
#include "engine/lora_adapter.h"
#include "engine/model.h"
#include "engine/snapshot.h"

namespace kvscope::server {

// A LoRA adapter the engine serves: requests pick it by `name` as their "model".
struct ServedLora {
    std::string name;
    std::string source;  // the adapter file
};

// Facts that do not change while the host runs; readable from any thread.
struct ServingInfo {
    std::shared_ptr<const Model> model;
    EngineConfig config;
    CachePlan plan;  // blocks, context length, block bytes
    std::string backend;
    std::vector<ServedLora> loras;  // in the order added, when the host started (see EngineHost::loras)
};

// The engine's state at one moment, as the server reports it.
struct ServingState {
    EngineSnapshot engine;  // KV picture, sequences and engine metrics
    ServingMetrics serving;
    std::unordered_map<RequestId, std::string> labels;  // engine request id -> API request id
};

class EngineHost {
public:
    virtual ~EngineHost() = default;

    virtual const ServingInfo& info() const = 0;
    // The adapters served now, from any thread: info().loras, unless the host loads and unloads
    // adapters while it runs (the workbench's).
    virtual std::vector<ServedLora> loras() const { return info().loras; }
    // Queues the stream's requests for the engine thread, which accepts or rejects them on the
    // stream. Returns false (and closes the stream) when the host has stopped.
    virtual bool submit(std::shared_ptr<RequestStream> stream) = 0;
    // Aborts what is left of the stream's requests (their blocks are freed); also for a stream
    // that was not taken yet. Idempotent.
    virtual void cancel(std::shared_ptr<RequestStream> stream) = 0;
    // The state, taken on the engine thread between steps; nullopt when the host has stopped.
    virtual std::optional<ServingState> state() = 0;
    // False once the host has stopped (or its engine failed).
    virtual bool running() const = 0;
};

}  // namespace kvscope::server
