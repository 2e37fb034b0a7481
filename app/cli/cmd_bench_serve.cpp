// kvscope-cli bench serve: a load generator against any OpenAI-compatible server (like vLLM's
// `bench serve`); the client itself lives in app/server/bench_serve.h.

#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "app/cli/args.h"
#include "app/cli/bench_commands.h"
#include "app/cli/engine_options.h"
#include "app/cli/output_path.h"
#include "app/server/bench_serve.h"
#include "engine/atomic_file.h"
#include "engine/error.h"
#include "resources/embedded_model.h"

namespace kvscope::cli {
namespace {

server::BenchServeOptions bench_serve_options(const ParsedArgs& a) {
    server::BenchServeOptions o;
    o.url = a.string("url").value_or(o.url);
    while (!o.url.empty() && o.url.back() == '/') o.url.pop_back();
    o.endpoint = a.string("endpoint").value_or(o.endpoint);
    if (o.endpoint.empty() || o.endpoint.front() != '/')
        throw UsageError("--endpoint: expected a path such as /v1/completions");
    o.model = a.string("model").value_or("");
    if (auto key = a.string("api-key")) {
        o.api_key = *key;
    } else if (const char* env = std::getenv("OPENAI_API_KEY"); env && *env) {
        o.api_key = env;
    }
    WorkloadSpec& w = o.workload;
    w.num_requests = static_cast<std::int32_t>(a.integer("num-prompts", 100, 1, 1 << 20));
    w.prompt_len = LengthDistribution::parse(a.string("prompt-len").value_or("128"), "--prompt-len");
    w.output_len = LengthDistribution::parse(a.string("output-len").value_or("128"), "--output-len");
    w.shared_prefix_fraction = a.number("shared-prefix-fraction", 0.0, 0.0, 1.0);
    w.seed = static_cast<std::uint64_t>(a.integer("seed", 0, 0, INT64_MAX));
    const std::string rate = a.string("request-rate").value_or("inf");
    if (rate == "inf") {
        w.request_rate = std::numeric_limits<double>::infinity();
    } else {
        w.request_rate = a.number("request-rate", 1.0, 1e-6, 1e9);
    }
    o.max_concurrency = static_cast<std::int32_t>(a.integer("max-concurrency", 0, 1, 1 << 20));
    o.text_prompts = a.has("text-prompts");
    o.ignore_eos = a.toggle("ignore-eos", true);
    o.temperature = a.number("temperature", 0.0, 0.0, 1e6);
    o.timeout_s = a.number("timeout", 600.0, 0.001, 1e6);
    return o;
}

}  // namespace

int run_bench_serve(const std::vector<std::string>& args) {
    const std::vector<OptionSpec> options = {
        {"url", "URL", "the server (default http://127.0.0.1:8000)"},
        {"endpoint", "PATH", "/v1/completions (default) or /v1/chat/completions"},
        {"model", "NAME", "the model name to send (default: the first of GET /v1/models)"},
        {"api-key", "KEY", "Bearer token (default: $OPENAI_API_KEY)"},
        {"tokenizer", "PATH", "GGUF model whose vocabulary makes the prompts (default: the embedded stories260K)"},
        {"num-prompts", "N", "requests to send (default 100)"},
        {"request-rate", "R", "requests per second, Poisson arrivals; inf = all at once (default inf)"},
        {"max-concurrency", "N", "most requests in flight (default: no limit)"},
        {"prompt-len", "DIST", "prompt tokens: 128, uniform:32-512 or normal:256,64 (default 128)"},
        {"output-len", "DIST", "tokens to generate, same forms (default 128)"},
        {"shared-prefix-fraction", "F", "fraction of each prompt shared by all of them, 0..1 (default 0)"},
        {"seed", "S", "seed of the workload (default 0)"},
        {"text-prompts", "", "send prompts as text (for servers that take no token ids)"},
        {"ignore-eos", "", "generate exactly --output-len tokens (default)"},
        {"no-ignore-eos", "", "let the model stop at its end-of-sequence token"},
        {"temperature", "T", "sampling temperature (default 0)"},
        {"timeout", "S", "seconds one request may take (default 600)"},
        {"json", "", "print one JSON object instead of the table"},
        {"json-file", "PATH", "also write the JSON object to PATH"},
    };
    const ArgParser parser("bench serve", "Load an OpenAI-compatible server and report throughput and latencies.",
                           options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    server::BenchServeOptions o = bench_serve_options(a);
    const std::optional<std::string> json_file =
        output_path(a, "json-file", "the JSON result", {a.string("tokenizer").value_or("")});
    const std::shared_ptr<const Model> vocab =
        Model::load(a.string("tokenizer").value_or(std::string(kEmbeddedModelName)));
    const bool chat = o.endpoint.find("chat/completions") != std::string::npos;
    const auto prompts = server::make_bench_prompts(o.workload, vocab->tokenizer(), o.text_prompts || chat);
    if (o.model.empty()) o.model = server::first_served_model(o);
    std::fprintf(stderr, "bench serve: %zu requests to %s%s (model '%s')\n", prompts.size(), o.url.c_str(),
                 o.endpoint.c_str(), o.model.c_str());
    const server::BenchServeResult result = server::run_bench_serve(o, prompts);
    const nlohmann::json j = server::bench_json(o, result);
    if (a.has("json")) {
        std::cout << j.dump(2) << "\n";
    } else {
        std::fputs(server::bench_table(o, result).c_str(), stdout);
    }
    for (const auto& r : result.requests) {
        if (!r.error.empty()) {
            std::fprintf(stderr, "bench serve: first failure: %s\n", r.error.c_str());
            break;
        }
    }
    if (json_file) write_file_atomically(*json_file, j.dump(2) + "\n", "the JSON result");
    return result.failed == 0 ? 0 : 1;
}

}  // namespace kvscope::cli
