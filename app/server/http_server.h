#pragma once
// kvscope's OpenAI-compatible HTTP server (cpp-httplib underneath, kept out of this header):
//   POST /v1/completions, POST /v1/chat/completions   (stream: true -> server-sent events)
//   GET  /v1/models (each entry with a "kvscope" object: model_card.h), GET /health,
//   GET  /metrics (Prometheus, vLLM's names)
//   GET  /v1/kv/snapshot[?include_free=false]          the block state, as JSON
//   GET  /v1/kv/snapshot?stream=true&interval_ms=250[&max_events=N]   the same, as events
// Requests go to an EngineHost; no handler thread ever calls the Engine. With an API key, every
// /v1/ path needs "Authorization: Bearer <key>" (as vLLM's --api-key; /health and /metrics stay
// open for probes and scrapers). Bad requests get OpenAI-style error objects (api_error.h).
// A streaming client that disconnects has its request aborted and its blocks freed.

#include <memory>
#include <string>

#include "app/server/engine_host.h"
#include "app/server/openai_request.h"

namespace kvscope::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8000;                // 0: any free port (see HttpServer::port())
    std::string api_key;            // empty: no authentication
    std::string served_model_name;  // the "model" of requests and responses; empty: the model's name
    ServerLimits limits;
    int num_threads = 512;         // the most connections served at once (a thread each, started as they come)
    int max_snapshot_streams = 8;  // concurrent GET /v1/kv/snapshot?stream=true
};

class HttpServer {
public:
    HttpServer(EngineHost& host, ServerOptions options);
    ~HttpServer();  // stop()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and starts serving on a thread of its own. Throws ConfigError when it cannot listen.
    void start();
    // Ends every open request (aborting its engine requests), stops listening, joins the threads.
    void stop();

    int port() const;  // the bound port, after start()
    const ServerOptions& options() const;

    struct Impl;  // server_impl.h: the routes' shared state (internal)

private:
    std::unique_ptr<Impl> impl_;
};

// Equal strings, compared in time that depends only on their lengths (API keys).
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace kvscope::server
