// POST /v1/completions and /v1/chat/completions: parse, hand the requests to the engine host,
// then write the response from what the engine thread pushes into the stream. Server-sent events
// go through a chunked content provider, where a vanished client is noticed (a failed write, or a
// dead socket while waiting). A whole response (a JSON body) is waited for in the handler, so its
// status says how it ended (200, 500 for a model failure, 503 at shutdown); the handler watches
// the client's socket meanwhile (ClientConnection). Either way a vanished client's requests are
// aborted and their blocks freed even before it would have received anything.

#include <chrono>
#include <ctime>
#include <optional>

#include "app/server/client_connection.h"
#include "app/server/openai_response.h"
#include "app/server/request_ids_header.h"
#include "app/server/server_impl.h"

namespace kvscope::server {
namespace {

constexpr std::chrono::milliseconds kPollInterval{50};

class Responder {
public:
    Responder(HttpServer::Impl& server, std::shared_ptr<RequestStream> stream, CompletionJob job, ResponseMeta meta)
        : server_(server),
          stream_(std::move(stream)),
          job_(std::move(job)),
          meta_(std::move(meta)),
          accumulator_(job_, server.context.model->tokenizer()),
          tokenizer_(server.context.model->tokenizer()) {}

    // A whole response: waits for the outcome on the handler's thread, then sends it with its
    // status; a client that goes away meanwhile has its requests aborted (by release()).
    void respond_whole(const httplib::Request& req, httplib::Response& res) {
        const ClientConnection client(req);
        for (;;) {
            std::vector<StreamItem> items;
            const RequestStream::State state = stream_->wait(items, kPollInterval);
            for (const StreamItem& item : items) accumulator_.add(item);
            if (state == RequestStream::State::Finished || state == RequestStream::State::Closed) {
                done_ = true;
                if (const std::optional<ApiError> error = failure(state)) return send_error(res, *error);
                return send_json(res, completion_response(meta_, job_, accumulator_, tokenizer_));
            }
            if (client.gone()) return;
        }
    }

    // Called by httplib, again and again on the handler's thread, until done or failed.
    bool provide(httplib::DataSink& sink) {
        std::vector<StreamItem> items;
        const RequestStream::State state = stream_->wait(items, kPollInterval);
        const bool over = state == RequestStream::State::Finished || state == RequestStream::State::Closed;
        // The opening chunks go out with the first token (as vLLM's), so a client's time to the
        // first chunk is its time to the first token.
        std::string out = items.empty() && !over ? std::string() : opening();
        for (const StreamItem& item : items) {
            for (const CompletionAccumulator::Delta& d : accumulator_.add(item)) {
                if (!opened_choice_[d.choice]) {
                    opened_choice_[d.choice] = true;
                    if (has_first_chunk(job_)) {
                        out += sse_event(first_chunk(meta_, job_, d.choice, accumulator_, tokenizer_));
                    }
                }
                out += sse_event(delta_chunk(meta_, job_, d, tokenizer_));
            }
        }
        if (over) {
            out += closing(state);
            done_ = true;
            if (!sink.write(out.data(), out.size())) return false;
            sink.done();
            return true;
        }
        if (!out.empty()) return sink.write(out.data(), out.size());
        return sink.is_writable();  // nothing new: is the client still there?
    }

    // Called once the response is over, written or not.
    void release() {
        if (!done_) server_.host.cancel(stream_);
        server_.untrack(stream_);
    }

private:
    // Chat streams start with one chunk per choice that says who speaks. (Completions open each
    // choice with its echo or prompt logprobs just before its first delta: see provide.)
    std::string opening() {
        if (opened_) return {};
        opened_ = true;
        std::string out;
        if (job_.kind == ApiKind::Chat) {
            for (std::size_t c = 0; c < accumulator_.choices().size(); ++c) {
                opened_choice_[c] = true;
                out += sse_event(first_chunk(meta_, job_, c, accumulator_, tokenizer_));
            }
        }
        return out;
    }

    // Why a finished response is an error: the server closed it, or the model failed on one of
    // its requests (then there is no partial answer).
    std::optional<ApiError> failure(RequestStream::State state) const {
        if (state == RequestStream::State::Closed) return ApiError(503, stream_->message(), "", "", "server_error");
        if (!accumulator_.engine_error().empty())
            return ApiError(500, accumulator_.engine_error(), "", "model_error", "server_error");
        return std::nullopt;
    }

    // The end of an event stream.
    std::string closing(RequestStream::State state) {
        if (const std::optional<ApiError> error = failure(state)) return sse_event(error->to_json()) + kSseDone;
        return (job_.include_usage ? sse_event(usage_chunk(meta_, job_, accumulator_)) : std::string()) + kSseDone;
    }

    HttpServer::Impl& server_;
    std::shared_ptr<RequestStream> stream_;
    CompletionJob job_;
    ResponseMeta meta_;
    CompletionAccumulator accumulator_;
    const Tokenizer& tokenizer_;
    bool opened_ = false;
    std::vector<bool> opened_choice_ = std::vector<bool>(accumulator_.choices().size(), false);
    bool done_ = false;
};

std::vector<Request> engine_requests(const CompletionJob& job) {
    std::vector<Request> requests;
    for (const auto& prompt : job.prompts) {
        Request r;
        r.prompt_token_ids = prompt;
        r.params = job.params;
        r.priority = job.priority;
        r.lora = job.lora;
        requests.push_back(std::move(r));
    }
    return requests;
}

}  // namespace

void HttpServer::Impl::handle_completion(const httplib::Request& req, httplib::Response& res, ApiKind kind) {
    const nlohmann::json body = parse_json_body(req.body);
    const RequestContext request_context = context_now();
    CompletionJob job = kind == ApiKind::Chat ? parse_chat_request(body, request_context)
                                              : parse_completion_request(body, request_context);
    const ResponseMeta meta{random_id(kind == ApiKind::Chat ? "chatcmpl-" : "cmpl-"),
                            static_cast<std::int64_t>(std::time(nullptr)),
                            job.lora.empty() ? options.served_model_name : job.lora};

    auto stream = std::make_shared<RequestStream>(meta.id, engine_requests(job));
    track(stream);
    if (stopping || !host.submit(stream)) {
        untrack(stream);
        throw ApiError(503, "the server is shutting down; retry elsewhere", "", "", "server_error");
    }
    switch (stream->wait_started()) {
        case RequestStream::State::Rejected:
            untrack(stream);
            throw ApiError(400, stream->message(), "", "invalid_request");
        case RequestStream::State::Closed:
            untrack(stream);
            throw ApiError(503, stream->message(), "", "", "server_error");
        default:
            break;
    }
    res.set_header(kRequestIdsHeader, format_request_ids(stream->engine_ids()));

    if (!job.stream) {
        Responder responder(*this, stream, std::move(job), meta);
        struct Release {
            Responder& responder;
            ~Release() { responder.release(); }
        } release{responder};
        responder.respond_whole(req, res);
        return;
    }
    auto responder = std::make_shared<Responder>(*this, stream, std::move(job), meta);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [responder](std::size_t, httplib::DataSink& sink) { return responder->provide(sink); },
        [responder](bool) { responder->release(); });
}

}  // namespace kvscope::server
