// bench serve, the sending side: prompts from a workload, one streaming request per prompt,
// timed on arrival of each server-sent event.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "app/server/api_error.h"
#include "app/server/bench_serve.h"
#include "app/server/model_card.h"
#include "app/server/served_model.h"
#include "app/server/server_address.h"
#include "app/server/sse_parser.h"
#include "engine/error.h"

namespace kvscope::server {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::unique_ptr<httplib::Client> make_client(const BenchServeOptions& o) {
    std::string error;
    const std::optional<ServerAddress> address = parse_server_address(o.url, error);
    if (!address) throw ConfigError("--url " + error);
    auto client = std::make_unique<httplib::Client>(address->host, address->port);
    const auto timeout = std::chrono::duration<double>(o.timeout_s);
    client->set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    client->set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    client->set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);  // the body must not wait for the ACK of the headers
    if (!o.api_key.empty()) client->set_bearer_token_auth(o.api_key);
    return client;
}

nlohmann::json request_body(const BenchServeOptions& o, const std::string& model, const BenchPrompt& p) {
    const bool chat = o.endpoint.find("chat/completions") != std::string::npos;
    nlohmann::json body = {{"model", model},
                           {"max_tokens", p.output_len},
                           {"temperature", o.temperature},
                           {"stream", true},
                           {"stream_options", {{"include_usage", true}}}};
    if (o.ignore_eos) body["ignore_eos"] = true;
    if (chat) {
        body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", p.text}}});
    } else if (o.text_prompts) {
        body["prompt"] = p.text;
    } else {
        body["prompt"] = p.token_ids;
    }
    return body;
}

// Reads one event of the stream into the result (r.error says what was wrong with it).
void take_event(const std::string& data, double now, BenchRequestResult& r, bool& first, double& last) {
    if (data == "[DONE]") return;
    const nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
    if (j.is_discarded()) {
        r.error = "the server sent an event that is not JSON: " + data.substr(0, 200);
        return;
    }
    if (j.contains("error")) {
        r.error = "the server reported an error: " + dump_json(j["error"]).substr(0, 300);
        return;
    }
    if (const auto c = j.find("choices"); c != j.end() && c->is_array() && !c->empty()) {
        if (first) {
            r.ttft_s = now;
            first = false;
        } else {
            r.itl_s.push_back(now - last);
        }
        last = now;
        const nlohmann::json& choice = c->front();
        if (const auto t = choice.find("text"); t != choice.end() && t->is_string())
            r.generated_text += t->get<std::string>();
        if (const auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
            if (const auto t = d->find("content"); t != d->end() && t->is_string())
                r.generated_text += t->get<std::string>();
        }
    } else if (const auto u = j.find("usage"); u != j.end() && u->is_object()) {
        r.output_tokens = u->value("completion_tokens", 0);
        r.prompt_len = u->value("prompt_tokens", r.prompt_len);
        if (const auto d = u->find("prompt_tokens_details"); d != u->end() && d->is_object())
            r.cached_tokens = d->value("cached_tokens", r.cached_tokens);
    }
}

BenchRequestResult send_one(httplib::Client& client, const BenchServeOptions& o, const std::string& model,
                            const BenchPrompt& p, Clock::time_point run_start) {
    BenchRequestResult r;
    r.prompt_len = p.prompt_len;
    httplib::Request req;
    req.method = "POST";
    req.path = o.endpoint;
    req.body = dump_json(request_body(o, model, p));
    req.set_header("Content-Type", "application/json");  // (the client adds the API key)
    SseParser parser;
    std::vector<std::string> events;
    std::string error_body;
    int status = 0;
    bool first = true;
    double last = 0;
    const Clock::time_point start = Clock::now();
    r.start_s = std::chrono::duration<double>(start - run_start).count();
    req.response_handler = [&](const httplib::Response& res) {
        status = res.status;
        return true;
    };
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
        if (status != 200) {
            error_body.append(data, std::min<std::size_t>(n, 2000));
            return true;
        }
        const double now = seconds_since(start);
        parser.feed(std::string_view(data, n), events);
        for (const std::string& e : events) take_event(e, now, r, first, last);
        events.clear();
        return r.error.empty();
    };
    const httplib::Result res = client.send(req);
    if (!r.error.empty()) return r;
    if (!res) {
        r.error = "request failed: " + httplib::to_string(res.error());
    } else if (status != 200) {
        r.error = "HTTP " + std::to_string(status) + ": " + error_body.substr(0, 300);
    } else if (first) {
        r.error = "the stream ended before its first token";
    } else {
        r.success = true;
        r.latency_s = last;
    }
    return r;
}

}  // namespace

std::vector<BenchPrompt> make_bench_prompts(const WorkloadSpec& workload, const Tokenizer& tokenizer, bool text) {
    const std::int32_t bos = tokenizer.add_bos() ? tokenizer.bos_id() : -1;
    const std::vector<WorkloadRequest> requests =
        generate_workload(workload, tokenizer.vocab_size(), first_ordinary_token(tokenizer), bos);
    std::vector<BenchPrompt> prompts;
    for (const WorkloadRequest& w : requests) {
        BenchPrompt p{
            w.prompt_token_ids, {}, static_cast<std::int32_t>(w.prompt_token_ids.size()), w.max_tokens, w.arrival_s};
        if (text) {
            // The server adds BOS to text itself; the text is of the ids after it.
            const auto first = p.token_ids.begin() + (bos >= 0 ? 1 : 0);
            p.text = tokenizer.decode(std::vector<std::int32_t>(first, p.token_ids.end()), /*skip_special=*/true);
        }
        prompts.push_back(std::move(p));
    }
    return prompts;
}

std::string first_served_model(const BenchServeOptions& o) {
    auto client = make_client(o);
    return first_served_model(*client, o.url, "--model");
}

BenchServeResult run_bench_serve(const BenchServeOptions& o, const std::vector<BenchPrompt>& prompts) {
    const std::string model = o.model.empty() ? first_served_model(o) : o.model;
    BenchServeResult result;
    result.requests.resize(prompts.size());
    // Workers take the prompts in order and send each at its arrival time; with C workers at
    // most C are in flight (vLLM's semaphore), with one worker per prompt none waits for another.
    const std::size_t limit = o.max_concurrency > 0 ? static_cast<std::size_t>(o.max_concurrency) : prompts.size();
    const std::size_t num_workers = std::max<std::size_t>(1, std::min<std::size_t>({limit, prompts.size(), 1024}));
    std::atomic<std::size_t> next{0};
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < num_workers; ++w) {
        workers.emplace_back([&] {
            auto client = make_client(o);
            for (std::size_t i; (i = next++) < prompts.size();) {
                std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                          std::chrono::duration<double>(prompts[i].arrival_s)));
                result.requests[i] = send_one(*client, o, model, prompts[i], start);
            }
        });
    }
    for (std::thread& t : workers) t.join();
    result.duration_s = seconds_since(start);
    summarize(result, o.percentiles);
    return result;
}

}  // namespace kvscope::server
