#pragma once
// One request of an attached workbench, streamed from the server: POST /v1/completions (token-id
// prompts, as the batch panel sends) or /v1/chat/completions (chat turns) with stream: true and
// return_token_ids, its server-sent events turned back into the engine's RequestOutputs, so the
// panels cannot tell it from an embedded request. Runs on a thread of its own (a stream lasts as
// long as the generation); stop() from any thread breaks it off, which makes a kvscope server
// abort the request and free its blocks.
//
// A request that asks for prompt logprobs (the perplexity tab's chunks) goes unstreamed with
// vLLM's "prompt_logprobs" (vLLM refuses them on a stream): its one response becomes one finished
// RequestOutput carrying them.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/bridge/remote_http.h"
#include "engine/request.h"
#include "ui/engine_messages.h"

namespace kvscope::app {

nlohmann::json completion_body(const Request& request);
nlohmann::json chat_body(const ui::ChatRequest& request);

class RemoteCompletion {
public:
    RemoteCompletion(const RemoteEndpoint& endpoint, std::string path, nlohmann::json body);

    // Until the stream ends. `started`: "" once the server answered 200 (outputs follow), else
    // why not (nothing follows). `output`: one RequestOutput per event (`id` left 0); the last one
    // is `finished` (aborted when the stream broke off before every sample finished).
    void run(const std::function<void(const std::string& error)>& started,
             const std::function<void(RequestOutput)>& output);
    void stop();
    bool done() const { return done_.load(); }
    // The server's engine id of the request (a kvscope server's X-Kvscope-Request-Ids), known
    // when `started("")` is called; read on run()'s thread.
    std::optional<RequestId> serverId() const { return serverId_; }

private:
    void event(const std::string& data, const std::function<void(RequestOutput)>& output);

    std::unique_ptr<httplib::Client> client_;
    std::string path_;
    nlohmann::json body_;
    std::int32_t n_ = 1;
    std::vector<bool> finished_;  // per sample
    std::int32_t numFinished_ = 0;
    std::int32_t numGenerated_ = 0;
    std::int32_t numPromptTokens_ = 0;
    std::int32_t numCachedTokens_ = 0;  // served from the server's prefix cache (when it says)
    std::chrono::steady_clock::time_point sent_;
    double ttft_ = -1;
    std::optional<RequestOutput> final_;  // held back until the usage chunk gives the prompt's length
    bool streamed_ = true;                // false: one JSON response (prompt logprobs)
    std::vector<std::int32_t> prompt_;    // a token-id prompt (to read its prompt logprobs)
    std::int32_t promptTop_ = -1;         // the prompt logprobs' alternatives; -1: none asked
    std::string responseError_;           // a response that could not be read
    std::optional<RequestId> serverId_;
    std::atomic<bool> stopped_{false};
    std::atomic<bool> done_{false};
};

}  // namespace kvscope::app
