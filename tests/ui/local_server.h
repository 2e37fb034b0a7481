#pragma once
// A kvscope server in the test's process, on the embedded model and an ephemeral loopback port:
// what the attach tests follow. (The GoogleTest side has tests/server/test_server.h.)

#include <QString>
#include <string>

#include "app/server/engine_loop.h"
#include "app/server/http_server.h"
#include "resources/embedded_model.h"

namespace kvscope::test {

struct LocalServer {
    explicit LocalServer(const EngineConfig& config, server::ServerOptions options = {})
        : loop(Model::load(std::string(kEmbeddedModelName)), config), http(loop, onAnyPort(std::move(options))) {
        http.start();
    }

    static server::ServerOptions onAnyPort(server::ServerOptions o) {
        o.host = "127.0.0.1";
        o.port = 0;
        return o;
    }

    int port() const { return http.port(); }
    QString url() const { return QStringLiteral("http://127.0.0.1:%1").arg(http.port()); }

    server::EngineLoop loop;
    server::HttpServer http;
};

}  // namespace kvscope::test
