#pragma once
// An in-process kvscope server on an ephemeral loopback port, on the embedded model, and small
// HTTP helpers for the server tests. Traffic goes to 127.0.0.1 only.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "app/server/engine_loop.h"
#include "app/server/http_server.h"
#include "app/server/sse_parser.h"
#include "resources/embedded_model.h"
#include "tests/support/run_alone.h"

namespace kvscope::test {

inline std::shared_ptr<const Model> embedded_model() {
    static const std::shared_ptr<const Model> model = Model::load(std::string(kEmbeddedModelName));
    return model;
}

inline EngineConfig small_engine_config() {
    EngineConfig c;
    c.num_kv_blocks = 256;  // 4096 tokens of 16-token blocks
    c.num_threads = 1;
    return c;
}

struct TestServer {
    explicit TestServer(server::ServerOptions options = {}, EngineConfig config = small_engine_config(),
                        std::shared_ptr<const Model> model = embedded_model())
        : loop(std::move(model), config), http(loop, with_test_defaults(std::move(options))) {
        http.start();
    }

    static server::ServerOptions with_test_defaults(server::ServerOptions o) {
        o.host = "127.0.0.1";
        o.port = 0;
        if (o.served_model_name.empty()) o.served_model_name = "stories260K";
        return o;
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(http.port()); }

    std::unique_ptr<httplib::Client> client(int read_timeout_s = 60) const {
        auto c = std::make_unique<httplib::Client>("127.0.0.1", http.port());
        c->set_read_timeout(read_timeout_s, 0);
        return c;
    }

    // Waits (bounded) until `n` requests have ended (stop, length or abort) and the engine is
    // idle. wait_idle() alone can return before a request reaches the engine at all: a client
    // that has already given up does not mean the server has read its request yet (it had not
    // under ThreadSanitizer on a loaded machine).
    server::ServingState wait_ended(std::int64_t n) {
        for (int i = 0; i < 2000; ++i) {
            const std::optional<server::ServingState> s = loop.state();
            if (s) {
                const auto& m = s->engine.metrics;
                const std::int64_t ended = m.request_success_stop + m.request_success_length + m.request_success_abort;
                if (ended >= n && s->engine.sequences.empty() && s->engine.kv.stats.num_used_blocks == 0) return *s;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "fewer than " << n << " requests ended";
        return *loop.state();
    }

    // Waits (bounded, 10 s) until some request runs in the engine.
    void wait_running() {
        for (int i = 0; i < 2000; ++i) {
            const std::optional<server::ServingState> s = loop.state();
            if (s && !s->engine.sequences.empty()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    // Waits (bounded) until no request runs and no block is held; returns the state then.
    server::ServingState wait_idle() {
        for (int i = 0; i < 2000; ++i) {
            const std::optional<server::ServingState> s = loop.state();
            if (s && s->engine.sequences.empty() && s->engine.kv.stats.num_used_blocks == 0) return *s;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "the server did not become idle";
        return *loop.state();
    }

    server::EngineLoop loop;
    server::HttpServer http;
};

struct HttpReply {
    int status = 0;
    std::string text;
    nlohmann::json body;  // parsed when the reply is JSON
};

inline HttpReply to_reply(const httplib::Result& res) {
    HttpReply r;
    if (!res) {
        ADD_FAILURE() << "HTTP request failed: " << httplib::to_string(res.error());
        return r;
    }
    r.status = res->status;
    r.text = res->body;
    r.body = nlohmann::json::parse(r.text, nullptr, false);
    return r;
}

inline HttpReply post_json(httplib::Client& c, const std::string& path, const nlohmann::json& body,
                           const httplib::Headers& headers = {}) {
    return to_reply(c.Post(path.c_str(), headers, body.dump(), "application/json"));
}

inline HttpReply get(httplib::Client& c, const std::string& path, const httplib::Headers& headers = {}) {
    return to_reply(c.Get(path.c_str(), headers));
}

struct SseReply {
    int status = 0;
    std::vector<nlohmann::json> events;  // every data event but [DONE], parsed
    bool done = false;                   // ended with data: [DONE]
    std::string raw;
};

// POSTs and reads the server-sent events. stop_after > 0: disconnects after that many events.
inline SseReply post_stream(httplib::Client& c, const std::string& path, const nlohmann::json& body,
                            std::size_t stop_after = 0) {
    SseReply r;
    server::SseParser parser;
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.response_handler = [&](const httplib::Response& res) {
        r.status = res.status;
        return true;
    };
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
        r.raw.append(data, n);
        std::vector<std::string> events;
        parser.feed(std::string_view(data, n), events);
        for (const std::string& e : events) {
            if (e == "[DONE]") {
                r.done = true;
            } else {
                r.events.push_back(nlohmann::json::parse(e, nullptr, false));
            }
        }
        return stop_after == 0 || r.events.size() < stop_after;
    };
    c.send(req);
    return r;
}

// The error object of a reply, checked for OpenAI's shape.
inline void expect_error_shape(const HttpReply& r, int status, const std::string& param = {}) {
    EXPECT_EQ(r.status, status) << r.text;
    ASSERT_TRUE(r.body.is_object()) << r.text;
    ASSERT_TRUE(r.body.contains("error")) << r.text;
    const nlohmann::json& e = r.body["error"];
    ASSERT_TRUE(e.is_object());
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << r.text;
    EXPECT_TRUE(e["type"].is_string()) << r.text;
    EXPECT_TRUE(e.contains("param") && (e["param"].is_null() || e["param"].is_string())) << r.text;
    EXPECT_TRUE(e.contains("code")) << r.text;
    if (!param.empty()) {
        EXPECT_EQ(e["param"], param) << r.text;
    }
}

}  // namespace kvscope::test
