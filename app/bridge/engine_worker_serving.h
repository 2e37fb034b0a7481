#pragma once
// What EngineWorker holds while it serves (engine_worker_serving.cpp): the mailbox the HTTP
// handler threads fill, the router of the engine's outputs back to their streams, the server.

#include <memory>

#include "app/bridge/engine_worker.h"
#include "app/bridge/worker_host.h"
#include "app/server/http_server.h"
#include "app/server/stream_router.h"

namespace kvscope::app {

struct EngineWorker::Serving {
    ui::ServeRequest request;
    std::unique_ptr<WorkerHost> host;
    server::StreamRouter router;
    std::unique_ptr<server::HttpServer> http;  // declared last: stopped before the host goes
};

}  // namespace kvscope::app
