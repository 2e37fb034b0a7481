// kvscope-cli serve: the paged engine behind an OpenAI-compatible HTTP server, until SIGINT or
// SIGTERM.

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/engine_options.h"
#include "app/cli/lora_options.h"
#include "app/server/engine_loop.h"
#include "app/server/http_server.h"
#include "engine/chat_template.h"
#include "resources/embedded_model.h"

namespace kvscope::cli {
namespace {

server::ServerOptions server_options_from_args(const ParsedArgs& a) {
    server::ServerOptions o;
    o.host = a.string("host").value_or(o.host);
    o.port = static_cast<int>(a.integer("port", o.port, 0, 65535));
    if (auto key = a.string("api-key")) {
        o.api_key = *key;
    } else if (const char* env = std::getenv("KVSCOPE_API_KEY"); env && *env) {
        o.api_key = env;
    }
    if (a.has("api-key") && o.api_key.empty()) throw UsageError("--api-key: the key must not be empty");
    // The name clients send as "model": as given, like vLLM, or the embedded model's short name.
    std::string model = a.string("model").value_or(std::string(kEmbeddedModelName));
    if (model == kEmbeddedModelName) model = model.substr(model.find(':') + 1);
    o.served_model_name = a.string("served-model-name").value_or(model);
    if (auto bytes = a.string("max-body-bytes"))
        o.limits.max_body_bytes = static_cast<std::size_t>(parse_bytes(*bytes, "max-body-bytes"));
    o.limits.max_prompt_tokens = static_cast<std::int32_t>(a.integer("max-prompt-tokens", 0, 1, 1 << 24));
    o.limits.max_n = static_cast<std::int32_t>(a.integer("max-n", o.limits.max_n, 1, kMaxSamplesPerRequest));
    o.limits.max_output_tokens = static_cast<std::int32_t>(a.integer("max-output-tokens", 0, 1, 1 << 24));
    o.num_threads = static_cast<int>(a.integer("http-threads", o.num_threads, 1, 4096));
    return o;
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
    std::vector<OptionSpec> options = {
        {"host", "ADDR", "address to listen on (default 127.0.0.1: this machine only)"},
        {"port", "N", "port to listen on; 0 = any free port (default 8000)"},
        {"api-key", "KEY", "require 'Authorization: Bearer KEY' on /v1/ (default: $KVSCOPE_API_KEY, else none)"},
        {"served-model-name", "NAME", "the model name of the API (default: the --model argument)"},
        {"max-body-bytes", "BYTES", "largest request body, e.g. 1M (default 1M)"},
        {"max-prompt-tokens", "N", "most tokens per prompt (default: the context length - 1)"},
        {"max-n", "N", "most samples per prompt (default 16)"},
        {"max-output-tokens", "N", "largest max_tokens a request may ask for (default: the context length)"},
        {"http-threads", "N", "most connections served at once, a thread each, started as they come (default 512)"},
    };
    append_model_options(options);
    append_engine_options(options);
    append_lora_options(options);
    const ArgParser parser("serve", "Serve the model over an OpenAI-compatible HTTP API until SIGINT or SIGTERM.",
                           options);
    if (ArgParser::wants_help(args)) {
        std::cout << parser.help();
        return 0;
    }
    const ParsedArgs a = parser.parse(args);
    const EngineConfig config = engine_config_from_args(a);
    const server::ServerOptions server_options = server_options_from_args(a);
    // "model": the served name picks the base model, so an adapter of that name could never be picked.
    for (const std::string& spec : a.strings("lora")) {
        if (parse_lora_spec(spec).first == server_options.served_model_name) {
            throw UsageError("--lora " + spec + ": '" + server_options.served_model_name +
                             "' is the served model's name (it picks the base model); give the adapter another name");
        }
    }

    // Every thread started from here on inherits the blocked signals; this one waits for them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    const std::shared_ptr<const Model> model = load_model_from_args(a);
    server::EngineLoop loop(model, config, load_loras_from_args(a, *model));
    server::HttpServer http(loop, server_options);
    http.start();
    const server::ServingInfo& info = loop.info();
    std::fprintf(stderr, "kvscope: serving '%s' (%s on %s, %d KV blocks of %d tokens, context %d) at http://%s:%d\n",
                 http.options().served_model_name.c_str(), model->config().name.c_str(), info.backend.c_str(),
                 info.plan.num_blocks, config.block_size, info.plan.max_model_len, server_options.host.c_str(),
                 http.port());
    if (!model->chat_template().recognised()) {
        std::fprintf(stderr,
                     "kvscope: warning: the model's chat template is none that kvscope renders (%s); "
                     "/v1/chat/completions joins the messages into one text. Send your own prompt format to "
                     "/v1/completions instead.\n",
                     std::string(kRenderedChatFamilies).c_str());
    }
    std::fflush(stderr);

    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::fprintf(stderr, "kvscope: %s: shutting down\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
    http.stop();
    loop.stop();
    return 0;
}

}  // namespace kvscope::cli
