#pragma once
// Internals of HttpServer shared by its .cpp files (routes are split by endpoint). Not installed
// anywhere else: it pulls in httplib.h.

#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "app/server/api_error.h"
#include "app/server/http_server.h"

namespace kvscope::server {

// httplib listens with a backlog of 5 (compiled into Debian's library): a burst of clients then
// sees dropped SYNs and one-second retransmits. Listening again on the bound socket raises it.
class ListeningServer : public httplib::Server {
public:
    void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

struct HttpServer::Impl {
    Impl(EngineHost& host, ServerOptions options);

    void install_routes();
    void handle_completion(const httplib::Request& req, httplib::Response& res, ApiKind kind);
    void handle_snapshot(const httplib::Request& req, httplib::Response& res);
    void handle_metrics(httplib::Response& res);
    void handle_models(httplib::Response& res);
    void handle_tokenize(const httplib::Request& req, httplib::Response& res);
    void handle_detokenize(const httplib::Request& req, httplib::Response& res);
    void handle_vocabulary(httplib::Response& res);
    // `context` with the names of the adapters served at this moment.
    RequestContext context_now() const;

    void track(const std::shared_ptr<RequestStream>& stream);
    void untrack(const std::shared_ptr<RequestStream>& stream);

    EngineHost& host;
    ServerOptions options;
    RequestContext context;
    ListeningServer http;
    std::thread thread;
    int port = -1;
    std::atomic<bool> stopping{false};
    std::atomic<int> snapshot_streams{0};
    std::mutex streams_mutex;
    std::set<std::shared_ptr<RequestStream>> streams;  // open completions, ended on stop()
    // Path -> the methods it answers ("GET, HEAD" or "POST"), filled as the routes are installed:
    // a known path asked with another method is 405, not 404.
    std::map<std::string, std::string> route_methods;
};

void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, const ApiError& error);
// A fresh id: prefix + 32 random hex digits ("cmpl-...", "chatcmpl-...").
std::string random_id(const char* prefix);

}  // namespace kvscope::server
