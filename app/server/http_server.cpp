#include "app/server/http_server.h"

#include <cstdio>
#include <ctime>
#include <random>

#include "app/server/connection_pool.h"
#include "app/server/model_card.h"
#include "app/server/prometheus.h"
#include "app/server/server_impl.h"
#include "engine/error.h"

namespace kvscope::server {
namespace {

// Handlers never let an exception reach httplib: every failure becomes an error object.
template <typename Fn>
httplib::Server::Handler guarded(Fn fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
        try {
            fn(req, res);
        } catch (const ApiError& e) {
            send_error(res, e);
        } catch (const std::bad_alloc&) {
            send_error(res, ApiError(503, "the server is out of memory; retry with a smaller request", "", "",
                                     "server_error"));
        } catch (const std::exception& e) {
            send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "", "", "server_error"));
        }
    };
}

ApiError body_too_large(std::size_t max_bytes) {
    return ApiError(413, "the request body is larger than " + std::to_string(max_bytes) + " bytes; send less", "",
                    "request_too_large");
}

// A POST route that reads its body itself, up to max_bytes: httplib 0.11 applies its payload
// limit to bodies with a Content-Length only, so a chunked body could have any size (and be
// tokenized whole). Form-encoded bodies (curl -d without a JSON Content-Type) are read as they
// are, not as form fields.
template <typename Fn>
httplib::Server::HandlerWithContentReader guarded_post(std::size_t max_bytes, Fn fn) {
    return [max_bytes, handler = guarded(std::move(fn))](const httplib::Request& req, httplib::Response& res,
                                                         const httplib::ContentReader& read) {
        if (req.is_multipart_form_data()) {
            send_error(res, ApiError(400,
                                     "the body is multipart form data; send the request as JSON "
                                     "('Content-Type: application/json')",
                                     "", "invalid_json"));
            return;
        }
        const bool has_body = req.has_header("Content-Length") ||
                              req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
        if (!has_body) {  // a POST with no body at all: an empty one, which the handler names
            handler(req, res);
            return;
        }
        std::string body;
        bool too_large = false;
        const bool complete = read([&](const char* data, std::size_t n) {
            if (body.size() + n > max_bytes) {
                too_large = true;
                return false;
            }
            body.append(data, n);
            return true;
        });
        if (too_large || res.status == 413) {
            send_error(res, body_too_large(max_bytes));
            res.set_header("Connection", "close");  // the rest of the body is never read
            return;
        }
        if (!complete) {
            send_error(res, ApiError(400,
                                     "the request body could not be read (cut short, or a broken chunked "
                                     "encoding); send it again",
                                     "", "invalid_body"));
            res.set_header("Connection", "close");
            return;
        }
        httplib::Request with_body = req;
        with_body.body = std::move(body);
        handler(with_body, res);
    };
}

std::string default_model_name(const ServingInfo& info) {
    return info.model->config().name.empty() ? "kvscope" : info.model->config().name;
}

}  // namespace

bool constant_time_equal(const std::string& a, const std::string& b) {
    // Every byte of the longer string is looked at whatever the contents.
    const std::size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
    res.status = status;
    res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
    send_json(res, error.to_json(), error.status());
    if (error.status() == 401) res.set_header("WWW-Authenticate", "Bearer");
}

std::string random_id(const char* prefix) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    char hex[33];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(random()),
                  static_cast<unsigned long long>(random()));
    return prefix + std::string(hex);
}

HttpServer::Impl::Impl(EngineHost& host_, ServerOptions options_) : host(host_), options(std::move(options_)) {
    if (options.served_model_name.empty()) options.served_model_name = default_model_name(host.info());
    context.model = host.info().model.get();
    context.served_model_name = options.served_model_name;
    context.max_model_len = host.info().plan.max_model_len;
    context.limits = options.limits;
}

void HttpServer::Impl::track(const std::shared_ptr<RequestStream>& stream) {
    std::lock_guard lock(streams_mutex);
    streams.insert(stream);
}

void HttpServer::Impl::untrack(const std::shared_ptr<RequestStream>& stream) {
    std::lock_guard lock(streams_mutex);
    streams.erase(stream);
}

void HttpServer::Impl::handle_models(httplib::Response& res) {
    const ServingInfo& info = host.info();
    nlohmann::json model = {{"id", options.served_model_name},
                            {"object", "model"},
                            {"created", static_cast<std::int64_t>(std::time(nullptr))},
                            {"owned_by", "kvscope"},
                            {"root", info.model->config().name},
                            {"parent", nullptr},
                            {"max_model_len", info.plan.max_model_len},
                            {"permission", nlohmann::json::array()},
                            {"kvscope", to_json(model_card(info))}};
    nlohmann::json data = nlohmann::json::array({model});
    // Adapters as vLLM lists them: their own id, the adapter file as root, the base as parent.
    for (const ServedLora& lora : host.loras()) {
        nlohmann::json entry = model;
        entry["id"] = lora.name;
        entry["root"] = lora.source;
        entry["parent"] = options.served_model_name;
        data.push_back(entry);
    }
    send_json(res, {{"object", "list"}, {"data", data}});
}

void HttpServer::Impl::handle_metrics(httplib::Response& res) {
    const std::optional<ServingState> state = host.state();
    if (!state) throw ApiError(503, "the engine is not running", "", "", "server_error");
    res.set_content(render_prometheus(*state, host.info(), options.served_model_name),
                    "text/plain; version=0.0.4; charset=utf-8");
}

// Requests one kept-alive connection may send (about a day of polls at 10 a second).
constexpr std::size_t kMonitorKeepAliveRequests = 1'000'000;

void HttpServer::Impl::install_routes() {
    // A thread for each connection, started as it comes (connection_pool.h): a probe or a scrape
    // is answered however many streams hold threads, up to num_threads connections.
    http.new_task_queue = [n = static_cast<std::size_t>(std::max(1, options.num_threads))] {
        return new ConnectionPool(ConnectionPoolOptions{.max_threads = n});
    };
    http.set_payload_max_length(options.limits.max_body_bytes);
    // Every event goes out at once: with Nagle's algorithm a small write waits for the ACK of the
    // previous one (up to a 40 ms delayed ACK), which shows up in TTFT and ITL.
    http.set_tcp_nodelay(true);
    // A connection keeps its worker thread while it stays alive, so a monitor that polls /metrics
    // and /v1/kv/snapshot over one kept-alive connection (the attached workbench, 10 times a
    // second) is still answered when streams hold every other thread. httplib's default closes
    // a connection after its 5th request, and the reconnection waited in the queue behind them.
    http.set_keep_alive_max_count(kMonitorKeepAliveRequests);
    // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and
    // silently take half its connections. Reuse only TIME_WAIT addresses (fast restarts).
    http.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        // Everything but /health and /metrics (as vLLM, which also leaves its tokenizer open; here
        // /tokenize and /detokenize take the key too: they spend the server's time).
        const bool guarded_path =
            req.path.rfind("/v1/", 0) == 0 || req.path == "/tokenize" || req.path == "/detokenize";
        if (options.api_key.empty() || !guarded_path) return httplib::Server::HandlerResponse::Unhandled;
        const std::string header = req.get_header_value("Authorization");
        const std::string prefix = "Bearer ";
        const bool ok = header.size() > prefix.size() && header.compare(0, prefix.size(), prefix) == 0 &&
                        constant_time_equal(header.substr(prefix.size()), options.api_key);
        if (ok) return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, ApiError(401,
                                 header.empty() ? "no API key: send the header 'Authorization: Bearer <key>'"
                                                : "the API key is not valid for this server",
                                 "", "invalid_api_key"));
        return httplib::Server::HandlerResponse::Handled;
    });
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                       httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const int status = res.status;
        if (status == 413) {
            send_error(res, body_too_large(options.limits.max_body_bytes));
        } else if (status == 404 && route_methods.contains(req.path)) {
            const std::string& allowed = route_methods.at(req.path);
            send_error(res, ApiError(405, req.method + " is not allowed on " + req.path + "; use " + allowed, "",
                                     "method_not_allowed"));
            res.set_header("Allow", allowed);
        } else if (status == 404) {
            send_error(res, ApiError(404, "no route for " + req.method + " " + req.path, "", "not_found"));
        } else {
            send_error(res, ApiError(status, "the request could not be handled (HTTP " + std::to_string(status) + ")"));
        }
        return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send_error(res, ApiError(500, "internal error", "", "", "server_error"));
    });

    auto get = [this](const char* path, httplib::Server::Handler handler) {
        http.Get(path, std::move(handler));
        route_methods[path] = "GET, HEAD";
    };
    auto post = [this](const char* path, httplib::Server::HandlerWithContentReader handler) {
        http.Post(path, std::move(handler));
        route_methods[path] = "POST";
    };
    get("/health", [this](const httplib::Request&, httplib::Response& res) {
        res.status = host.running() && !stopping ? 200 : 503;
    });
    get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) { handle_metrics(res); }));
    get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) { handle_models(res); }));
    get("/v1/kv/vocabulary",
        guarded([this](const httplib::Request&, httplib::Response& res) { handle_vocabulary(res); }));
    get("/v1/kv/snapshot",
        guarded([this](const httplib::Request& req, httplib::Response& res) { handle_snapshot(req, res); }));
    const std::size_t max_body = options.limits.max_body_bytes;
    post("/v1/completions", guarded_post(max_body, [this](const httplib::Request& req, httplib::Response& res) {
             handle_completion(req, res, ApiKind::Completion);
         }));
    post("/v1/chat/completions", guarded_post(max_body, [this](const httplib::Request& req, httplib::Response& res) {
             handle_completion(req, res, ApiKind::Chat);
         }));
    post("/tokenize", guarded_post(max_body, [this](const httplib::Request& req, httplib::Response& res) {
             handle_tokenize(req, res);
         }));
    post("/detokenize", guarded_post(max_body, [this](const httplib::Request& req, httplib::Response& res) {
             handle_detokenize(req, res);
         }));
}

HttpServer::HttpServer(EngineHost& host, ServerOptions options)
    : impl_(std::make_unique<Impl>(host, std::move(options))) {
    impl_->install_routes();
}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    Impl& s = *impl_;
    const ServerOptions& o = s.options;
    if (o.port == 0) {
        s.port = s.http.bind_to_any_port(o.host);
    } else {
        s.port = s.http.bind_to_port(o.host, o.port) ? o.port : -1;
    }
    if (s.port <= 0) {
        throw ConfigError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                          " (address in use, or not an address of this machine); choose another host or port");
    }
    s.http.raise_backlog(1024);
    s.thread = std::thread([&s] { s.http.listen_after_bind(); });
    // stop() only reaches a server that is already listening: wait for that.
    for (int i = 0; i < 10000 && !s.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::stop() {
    Impl& s = *impl_;
    if (s.stopping.exchange(true)) return;
    {
        std::lock_guard lock(s.streams_mutex);
        for (const auto& stream : s.streams) {
            s.host.cancel(stream);
            stream->close("the server is shutting down");
        }
    }
    s.http.stop();
    if (s.thread.joinable()) s.thread.join();
}

int HttpServer::port() const {
    return impl_->port;
}

const ServerOptions& HttpServer::options() const {
    return impl_->options;
}

}  // namespace kvscope::server
