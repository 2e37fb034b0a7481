#include "app/server/perplexity_client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/server/server_address.h"
#include "engine/error.h"

namespace kvscope::server {
namespace {

// "HTTP 400: the message" from an OpenAI-style error body (or its first 200 bytes).
std::string answer_text(const httplib::Response& res) {
    const nlohmann::json j = nlohmann::json::parse(res.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
        j["error"]["message"].is_string())
        return "HTTP " + std::to_string(res.status) + ": " + j["error"]["message"].get<std::string>();
    if (j.is_object() && j.contains("message") && j["message"].is_string())  // vLLM's older errors
        return "HTTP " + std::to_string(res.status) + ": " + j["message"].get<std::string>();
    return "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200);
}

std::vector<std::int32_t> tokenize_once(httplib::Client& client, const std::string& model, std::string_view text,
                                        std::int32_t& max_model_len) {
    nlohmann::json body{{"prompt", std::string(text)}, {"add_special_tokens", true}};
    if (!model.empty()) body["model"] = model;
    // Bytes that are not UTF-8 go as U+FFFD: JSON carries text only.
    const std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const httplib::Result res = client.Post("/tokenize", payload, "application/json");
    if (!res)
        throw ConfigError("/tokenize: " + httplib::to_string(res.error()) + "; is the server running at that URL?");
    const nlohmann::json answer = nlohmann::json::parse(res->body, nullptr, false);
    const bool unknown_model = answer.is_object() && answer.contains("error") && answer["error"].is_object() &&
                               answer["error"].value("code", nlohmann::json()) == "model_not_found";
    if ((res->status == 404 && !unknown_model) || res->status == 405)
        throw ConfigError("the server has no /tokenize (perplexity needs a kvscope or vLLM server)");
    if (res->status != 200) throw ConfigError("/tokenize: " + answer_text(*res));
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array())
        throw ConfigError("/tokenize answered without a list of tokens");
    std::vector<std::int32_t> tokens;
    tokens.reserve(j["tokens"].size());
    for (const nlohmann::json& id : j["tokens"]) {
        if (!id.is_number_integer()) throw ConfigError("/tokenize answered a token that is no integer: " + id.dump());
        tokens.push_back(id.get<std::int32_t>());
    }
    const nlohmann::json& length = j.contains("max_model_len") ? j["max_model_len"] : nlohmann::json();
    max_model_len = length.is_number_integer() ? length.get<std::int32_t>() : 0;
    return tokens;
}

// One chunk's NLLs from the server's answer; ConfigError with why when there are none.
PerplexityChunk score_chunk(httplib::Client& client, const std::string& model, std::span<const std::int32_t> chunk,
                            std::int32_t index, const PerplexityOptions& options) {
    const std::string where = "chunk " + std::to_string(index + 1);
    const httplib::Result res =
        client.Post("/v1/completions", perplexity_body(chunk, model).dump(), "application/json");
    if (!res) throw ConfigError(where + ": " + httplib::to_string(res.error()));
    if (res->status != 200) throw ConfigError(where + " was refused: " + answer_text(*res));
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() ||
        !j["choices"][0].is_object() || !j["choices"][0].contains("prompt_logprobs"))
        throw ConfigError(where + ": the answer has no prompt_logprobs (does the server take vLLM's prompt_logprobs?)");
    std::string error;
    const std::optional<std::vector<SampleResult>> scored =
        prompt_logprobs_from_json(j["choices"][0]["prompt_logprobs"], chunk, 0, error);
    if (!scored) throw ConfigError(where + ": " + error);
    PerplexityChunk c;
    c.index = index;
    std::int32_t received = 0;
    score_prompt_logprobs(c, received, *scored, options);
    return c;
}

}  // namespace

ServerText tokenize_at_server(httplib::Client& client, const std::string& model, std::string_view text) {
    ServerText t;
    std::int32_t ignored = 0;
    const std::vector<std::int32_t> empty = tokenize_once(client, model, "", ignored);
    if (empty.size() == 1) t.bos = empty.front();
    t.tokens = tokenize_once(client, model, text, t.max_model_len);
    if (t.max_model_len <= 0) throw ConfigError("/tokenize did not say the server's max_model_len");
    return t;
}

std::optional<std::vector<SampleResult>> prompt_logprobs_from_json(const nlohmann::json& list,
                                                                   std::span<const std::int32_t> prompt,
                                                                   std::int32_t top, std::string& error) {
    if (!list.is_array() || list.size() != prompt.size()) {
        error = "the server's prompt_logprobs should list " + std::to_string(prompt.size()) +
                " entries (one per prompt token), got " + (list.is_array() ? std::to_string(list.size()) : "none");
        return std::nullopt;
    }
    std::vector<SampleResult> out;
    out.reserve(prompt.empty() ? 0 : prompt.size() - 1);
    for (std::size_t j = 1; j < prompt.size(); ++j) {
        const nlohmann::json& entry = list[j];
        const std::string key = std::to_string(prompt[j]);
        const auto fail = [&](const std::string& what) {
            error = "prompt_logprobs entry " + std::to_string(j) + ": " + what;
            return std::nullopt;
        };
        if (!entry.is_object() || !entry.contains(key) || !entry[key].is_object())
            return fail("no logprob for the prompt's token " + key);
        const nlohmann::json& own = entry[key];
        if (!own.contains("logprob") || !own["logprob"].is_number()) return fail("no number for its logprob");
        SampleResult r;
        r.token = prompt[j];
        r.logprob = own["logprob"].get<float>();
        r.rank = own.contains("rank") && own["rank"].is_number_integer() ? own["rank"].get<std::int32_t>() : 0;
        std::vector<TokenLogprob> alternatives;
        for (const auto& [id, value] : entry.items()) {
            if (!value.is_object() || !value.contains("logprob") || !value["logprob"].is_number()) continue;
            char* end = nullptr;
            const long token = std::strtol(id.c_str(), &end, 10);
            if (end == id.c_str() || *end != '\0') continue;
            alternatives.push_back({static_cast<std::int32_t>(token), value["logprob"].get<float>()});
        }
        std::sort(alternatives.begin(), alternatives.end(), [](const TokenLogprob& a, const TokenLogprob& b) {
            return a.logprob != b.logprob ? a.logprob > b.logprob : a.token < b.token;
        });
        const std::size_t keep = std::min<std::size_t>(
            {alternatives.size(), static_cast<std::size_t>(std::max(top, 0)), r.top_logprobs.size()});
        std::copy_n(alternatives.begin(), keep, r.top_logprobs.begin());
        r.num_top_logprobs = static_cast<std::int32_t>(keep);
        out.push_back(r);
    }
    return out;
}

nlohmann::json perplexity_body(std::span<const std::int32_t> chunk, const std::string& model) {
    const Request r = perplexity_request(chunk);
    nlohmann::json body{{"prompt", r.prompt_token_ids},
                        {"max_tokens", r.params.max_tokens},
                        {"temperature", 0},
                        {"prompt_logprobs", *r.params.prompt_logprobs},
                        {"ignore_eos", true},
                        {"stream", false}};
    if (!model.empty()) body["model"] = model;
    return body;
}

std::unique_ptr<httplib::Client> perplexity_client(const ServerPerplexityOptions& o) {
    std::string error;
    const std::optional<ServerAddress> address = parse_server_address(o.url, error);
    if (!address) throw ConfigError("--url " + error);
    auto client = std::make_unique<httplib::Client>(address->host, address->port);
    const auto timeout =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::duration<double>(o.timeout_s));
    client->set_connection_timeout(std::chrono::seconds(5));
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    client->set_keep_alive(true);
    if (!o.api_key.empty()) client->set_bearer_token_auth(o.api_key);
    return client;
}

std::vector<PerplexityChunk> run_server_perplexity(const ServerPerplexityOptions& o, const std::string& model,
                                                   const std::vector<std::vector<std::int32_t>>& chunks,
                                                   const PerplexityOptions& options,
                                                   const std::function<void(const PerplexityChunk&)>& on_chunk) {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::optional<PerplexityChunk>> done(chunks.size());
    std::string error;  // the first failure; the workers stop taking chunks then
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
        const std::unique_ptr<httplib::Client> client = perplexity_client(o);
        for (std::size_t i = next++; i < chunks.size(); i = next++) {
            {
                std::lock_guard lock(mutex);
                if (!error.empty()) return;
            }
            try {
                PerplexityChunk c = score_chunk(*client, model, chunks[i], static_cast<std::int32_t>(i), options);
                std::lock_guard lock(mutex);
                done[i] = c;
            } catch (const std::exception& e) {
                std::lock_guard lock(mutex);
                if (error.empty()) error = e.what();
            }
            changed.notify_all();
        }
    };
    const std::size_t workers = std::min<std::size_t>(chunks.size(), std::max<std::int32_t>(o.concurrency, 1));
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < workers; ++w) threads.emplace_back(work);
    std::vector<PerplexityChunk> results;
    {
        std::unique_lock lock(mutex);
        while (results.size() < chunks.size() && error.empty()) {
            changed.wait(lock, [&] { return !error.empty() || done[results.size()].has_value(); });
            while (results.size() < chunks.size() && done[results.size()]) {
                const PerplexityChunk c = *done[results.size()];
                results.push_back(c);
                lock.unlock();
                on_chunk(c);
                lock.lock();
            }
        }
    }
    for (std::thread& t : threads) t.join();
    if (!error.empty()) throw ConfigError(error);
    return results;
}

}  // namespace kvscope::server
