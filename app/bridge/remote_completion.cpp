#include "app/bridge/remote_completion.h"

#include "app/server/chat_logprobs_reader.h"
#include "app/server/perplexity_client.h"
#include "app/server/request_ids_header.h"
#include "app/server/sse_parser.h"

namespace kvscope::app {
namespace {

void add_sampling(nlohmann::json& body, const SamplingParams& p, std::int32_t priority) {
    body["n"] = p.n;
    body["max_tokens"] = p.max_tokens;
    body["temperature"] = p.temperature;
    body["top_p"] = p.top_p;
    body["top_k"] = p.top_k > 0 ? p.top_k : -1;
    body["min_p"] = p.min_p;
    body["presence_penalty"] = p.presence_penalty;
    body["frequency_penalty"] = p.frequency_penalty;
    body["repetition_penalty"] = p.repetition_penalty;
    if (p.seed) body["seed"] = *p.seed;
    if (!p.stop.empty()) body["stop"] = p.stop;
    if (!p.stop_token_ids.empty()) body["stop_token_ids"] = p.stop_token_ids;
    if (p.ignore_eos) body["ignore_eos"] = true;
    if (priority != 0) body["priority"] = priority;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    body["return_token_ids"] = true;
}

FinishReason finish_of(const nlohmann::json& j) {
    if (!j.is_string()) return FinishReason::none;
    const std::string s = j;
    if (s == "stop") return FinishReason::stop;
    if (s == "length") return FinishReason::length;
    return FinishReason::abort;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

nlohmann::json completion_body(const Request& request) {
    nlohmann::json body;
    if (request.prompt_token_ids.empty()) {
        body["prompt"] = request.prompt;
    } else {
        body["prompt"] = request.prompt_token_ids;
    }
    add_sampling(body, request.params, request.priority);
    if (request.params.prompt_logprobs) {
        body["prompt_logprobs"] = *request.params.prompt_logprobs;
        body["stream"] = false;
        body.erase("stream_options");
    }
    return body;
}

nlohmann::json chat_body(const ui::ChatRequest& request) {
    nlohmann::json messages = nlohmann::json::array();
    for (const ChatMessage& m : request.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    nlohmann::json body{{"messages", messages}};
    add_sampling(body, request.params, request.priority);
    if (request.params.logprobs) {  // the chat's token probabilities, read back by token id
        body["logprobs"] = true;
        body["top_logprobs"] = *request.params.logprobs;
        body["return_tokens_as_token_ids"] = true;
    }
    return body;
}

RemoteCompletion::RemoteCompletion(const RemoteEndpoint& endpoint, std::string path, nlohmann::json body)
    : client_(make_client(endpoint, 2, 300)), path_(std::move(path)), body_(std::move(body)) {
    n_ = body_.value("n", 1);
    finished_.assign(static_cast<std::size_t>(n_), false);
    streamed_ = body_.value("stream", true);
    if (body_.contains("prompt_logprobs") && body_["prompt_logprobs"].is_number_integer() && body_.contains("prompt") &&
        body_["prompt"].is_array()) {
        promptTop_ = body_["prompt_logprobs"].get<std::int32_t>();
        prompt_ = body_["prompt"].get<std::vector<std::int32_t>>();
    }
}

void RemoteCompletion::stop() {
    stopped_ = true;
    client_->stop();
}

void RemoteCompletion::run(const std::function<void(const std::string&)>& started,
                           const std::function<void(RequestOutput)>& output) {
    server::SseParser parser;
    int status = 0;
    std::string errorBody;
    bool announced = false;
    httplib::Request req;
    req.method = "POST";
    req.path = path_;
    req.body = body_.dump();
    req.set_header("Content-Type", "application/json");
    req.response_handler = [&](const httplib::Response& res) {
        status = res.status;
        if (status == 200) {
            if (auto ids = server::parse_request_ids(res.get_header_value(server::kRequestIdsHeader))) {
                serverId_ = ids->front();
            }
        }
        if (status == 200 && streamed_) {  // an unstreamed response is announced once read
            announced = true;
            started("");
        }
        return !stopped_;
    };
    std::string whole;  // an unstreamed response
    req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
        if (status != 200) {
            errorBody.append(data, std::min<std::size_t>(size, 4096));
            return !stopped_;
        }
        if (!streamed_) {
            whole.append(data, size);
            return !stopped_;
        }
        std::vector<std::string> events;
        parser.feed(std::string_view(data, size), events);
        for (const std::string& e : events) {
            if (e != "[DONE]") event(e, output);
        }
        return !stopped_;
    };
    sent_ = std::chrono::steady_clock::now();
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    client_->send(req, res, error);
    if (status == 200 && !streamed_ && !stopped_ && error == httplib::Error::Success) {
        std::vector<RequestOutput> outputs;
        event(whole, [&](RequestOutput o) { outputs.push_back(std::move(o)); });
        if (!final_ && responseError_.empty()) responseError_ = "the server's response holds no finished choice";
        if (!responseError_.empty()) {
            started(responseError_);
            done_ = true;
            return;
        }
        announced = true;
        started("");
        for (RequestOutput& o : outputs) output(std::move(o));
    }
    if (!announced) {
        if (stopped_) {
            started("cancelled");
        } else if (status != 0 && status != 200) {
            started(error_message(status, errorBody));
        } else {
            started(describe(error));
        }
        done_ = true;
        return;
    }
    if (final_) {
        final_->timings.num_prompt_tokens = numPromptTokens_;
        final_->timings.num_cached_tokens = numCachedTokens_;
        output(std::move(*final_));
    } else if (numFinished_ < n_) {  // broken off (stop(), a lost connection, an error event)
        RequestOutput last;
        for (std::int32_t i = 0; i < n_; ++i) {
            if (!finished_[static_cast<std::size_t>(i)]) last.samples.push_back({i, {}, {}, {}, FinishReason::abort});
        }
        last.finished = true;
        last.timings.e2e_latency = seconds_since(sent_);
        last.timings.time_to_first_token = ttft_ < 0 ? 0 : ttft_;
        last.timings.num_prompt_tokens = numPromptTokens_;
        last.timings.num_generation_tokens = numGenerated_;
        output(std::move(last));
    }
    done_ = true;
}

void RemoteCompletion::event(const std::string& data, const std::function<void(RequestOutput)>& output) {
    const nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
    if (!j.is_object()) return;
    if (j.contains("usage") && j["usage"].is_object()) {
        const nlohmann::json& usage = j["usage"];
        numPromptTokens_ = usage.value("prompt_tokens", 0);
        // OpenAI's (a kvscope server's; vLLM's with --enable-prompt-tokens-details)
        if (usage.contains("prompt_tokens_details") && usage["prompt_tokens_details"].is_object())
            numCachedTokens_ = usage["prompt_tokens_details"].value("cached_tokens", 0);
    }
    if (!j.contains("choices") || !j["choices"].is_array()) return;
    RequestOutput out;
    for (const nlohmann::json& c : j["choices"]) {
        const std::int32_t index = c.value("index", 0);
        if (index == 0 && promptTop_ >= 0 && c.contains("prompt_logprobs")) {
            std::optional<std::vector<SampleResult>> scored =
                server::prompt_logprobs_from_json(c["prompt_logprobs"], prompt_, promptTop_, responseError_);
            if (!scored) return;  // the output is cut short: the caller sees an abort
            out.prompt_logprobs = std::move(*scored);
        }
        if (index < 0 || index >= n_ || finished_[static_cast<std::size_t>(index)]) continue;
        SequenceOutput s;
        s.index = index;
        if (c.contains("delta") && c["delta"].is_object()) {
            const nlohmann::json& d = c["delta"];
            if (d.contains("content") && d["content"].is_string()) s.text_delta = d["content"];
        } else if (c.contains("text") && c["text"].is_string()) {
            s.text_delta = c["text"];
        }
        if (c.contains("token_ids") && c["token_ids"].is_array()) {
            s.new_token_ids = c["token_ids"].get<std::vector<std::int32_t>>();
        }
        if (c.contains("logprobs") && c["logprobs"].is_object() && c["logprobs"].contains("content")) {
            std::string error;  // unreadable: the tokens come without probabilities, as text
            if (auto scored = server::chat_logprobs_from_json(c["logprobs"]["content"], error);
                scored && scored->size() == s.new_token_ids.size()) {
                s.logprobs = std::move(*scored);
            }
        }
        s.finish_reason = finish_of(c.value("finish_reason", nlohmann::json()));
        if (s.new_token_ids.empty() && s.text_delta.empty() && !s.finished()) continue;  // a role chunk
        numGenerated_ += static_cast<std::int32_t>(s.new_token_ids.size());
        if (ttft_ < 0 && !s.new_token_ids.empty()) ttft_ = seconds_since(sent_);
        if (s.finished()) {
            finished_[static_cast<std::size_t>(index)] = true;
            ++numFinished_;
        }
        out.samples.push_back(std::move(s));
    }
    if (out.samples.empty()) return;
    out.finished = numFinished_ == n_;
    if (out.finished) {
        out.timings.e2e_latency = seconds_since(sent_);
        out.timings.time_to_first_token = ttft_ < 0 ? 0 : ttft_;
        // As seen here (vLLM's bench serve measures TPOT so): first token -> last.
        out.timings.decode_time = ttft_ < 0 ? 0 : out.timings.e2e_latency - ttft_;
        out.timings.num_generation_tokens = numGenerated_;
        final_ = std::move(out);
        return;
    }
    output(std::move(out));
}

}  // namespace kvscope::app
