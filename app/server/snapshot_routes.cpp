// GET /v1/kv/snapshot: one snapshot as JSON, or (stream=true) a snapshot every interval_ms as
// server-sent events, at most max_snapshot_streams at once and never faster than every 50 ms.

#include <chrono>
#include <thread>

#include "app/server/kv_snapshot_json.h"
#include "app/server/openai_response.h"
#include "app/server/server_impl.h"

namespace kvscope::server {
namespace {

constexpr std::int64_t kMinIntervalMs = 50;
constexpr std::int64_t kMaxIntervalMs = 60'000;
constexpr std::int64_t kDefaultIntervalMs = 250;

std::optional<bool> bool_param(const httplib::Request& req, const std::string& key) {
    if (!req.has_param(key)) return std::nullopt;
    const std::string v = req.get_param_value(key);
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0") return false;
    throw bad_field(key, "'" + key + "' must be true or false, got '" + v + "'", "invalid_type");
}

std::optional<std::int64_t> int_param(const httplib::Request& req, const std::string& key, std::int64_t min,
                                      std::int64_t max) {
    if (!req.has_param(key)) return std::nullopt;
    const std::string v = req.get_param_value(key);
    std::int64_t out = 0;
    std::size_t used = 0;
    try {
        out = std::stoll(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != v.size())
        throw bad_field(key, "'" + key + "' must be an integer, got '" + v + "'", "invalid_type");
    if (out < min || out > max) {
        throw bad_field(
            key, "'" + key + "' is " + v + ", outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return out;
}

class SnapshotStreamer {
public:
    SnapshotStreamer(HttpServer::Impl& server, std::chrono::milliseconds interval, std::int64_t max_events,
                     bool include_free)
        : server_(server), interval_(interval), max_events_(max_events), include_free_(include_free) {}

    bool provide(httplib::DataSink& sink) {
        // Wait for the next tick in short slices, watching the client and the server.
        while (std::chrono::steady_clock::now() < next_) {
            if (server_.stopping) return finish(sink, "");
            if (!sink.is_writable()) return false;
            const auto left = next_ - std::chrono::steady_clock::now();
            std::this_thread::sleep_for(
                std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
        }
        next_ = std::chrono::steady_clock::now() + interval_;
        const std::optional<ServingState> state = server_.host.state();
        if (!state || server_.stopping) {
            return finish(sink, sse_event(ApiError(503, "the engine stopped", "", "", "server_error").to_json()));
        }
        const std::string event =
            sse_event(kv_snapshot_json(*state, server_.host.info(), server_.options.served_model_name, include_free_));
        if (++sent_ >= max_events_) return finish(sink, event);
        return sink.write(event.data(), event.size());
    }

    void release() { --server_.snapshot_streams; }

private:
    bool finish(httplib::DataSink& sink, std::string out) {
        out += kSseDone;
        if (!sink.write(out.data(), out.size())) return false;
        sink.done();
        return true;
    }

    HttpServer::Impl& server_;
    std::chrono::milliseconds interval_;
    std::int64_t max_events_;
    bool include_free_;
    std::int64_t sent_ = 0;
    std::chrono::steady_clock::time_point next_ = std::chrono::steady_clock::now();
};

}  // namespace

void HttpServer::Impl::handle_snapshot(const httplib::Request& req, httplib::Response& res) {
    const bool stream = bool_param(req, "stream").value_or(false);
    const bool include_free = bool_param(req, "include_free").value_or(true);
    const auto interval = int_param(req, "interval_ms", kMinIntervalMs, kMaxIntervalMs);
    const auto max_events = int_param(req, "max_events", 1, INT64_MAX);
    if (!stream) {
        if (interval || max_events) throw bad_field(interval ? "interval_ms" : "max_events", "needs stream=true");
        const std::optional<ServingState> state = host.state();
        if (!state) throw ApiError(503, "the engine is not running", "", "", "server_error");
        send_json(res, kv_snapshot_json(*state, host.info(), options.served_model_name, include_free));
        return;
    }
    if (++snapshot_streams > options.max_snapshot_streams) {
        --snapshot_streams;
        throw ApiError(503,
                       "too many snapshot streams are open (" + std::to_string(options.max_snapshot_streams) +
                           "); close one or poll GET /v1/kv/snapshot",
                       "", "", "server_error");
    }
    auto streamer =
        std::make_shared<SnapshotStreamer>(*this, std::chrono::milliseconds(interval.value_or(kDefaultIntervalMs)),
                                           max_events.value_or(INT64_MAX), include_free);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [streamer](std::size_t, httplib::DataSink& sink) { return streamer->provide(sink); },
        [streamer](bool) { streamer->release(); });
}

}  // namespace kvscope::server
