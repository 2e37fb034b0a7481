// WorkerHost (app/bridge/worker_host.h), the mailbox between the HTTP handler threads of the
// workbench's Serve switch and its engine thread, without Qt. A plain thread stands in for the
// EngineWorker: woken through the host's `wake`, it empties the inbox between engine steps as
// EngineWorker::serveInbox does. So ThreadSanitizer (scripts/sanitize.sh tsan) checks the
// mailbox, which it cannot do through the Qt tests (docs/RELIABILITY.md, "TSan, 26 Nov").
// Handler threads submit, read, cancel and query at once; each stream gets the tokens of its
// request run alone, cancelled ones end, every block comes back, and a shut-down host closes
// what it still holds, answers no query and takes nothing new; the adapters it serves can change
// while it runs, and an HTTP server over it lists and accepts those of the moment.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "app/bridge/worker_host.h"
#include "app/server/http_server.h"
#include "app/server/stream_router.h"
#include "tests/server/test_server.h"
#include "tests/support/served_models.h"

namespace kvscope::test {
namespace worker_host_test {

using server::RequestStream;
using server::StreamItem;

Request greedy_request(std::int32_t prompt_len, std::int32_t max_tokens) {
    Request r;
    for (std::int32_t i = 0; i < prompt_len; ++i) r.prompt_token_ids.push_back(1 + (i * 37 + prompt_len) % 400);
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    return r;
}

// The engine thread: an Engine, a StreamRouter, and a loop that takes the host's inbox whenever
// woken and steps the engine while it has work.
class EngineThread {
public:
    EngineThread()
        : engine_(embedded_model(), small_engine_config()),
          router_(engine_.cache_plan().max_model_len),
          host_(
              server::ServingInfo{embedded_model(), engine_.config(), engine_.cache_plan(), engine_.backend_name(), {}},
              [this] { wake(); }) {}

    ~EngineThread() { stop(); }

    app::WorkerHost& host() { return host_; }

    void start() {
        thread_ = std::thread([this] { run(); });
    }

    // Shuts the host down the way EngineWorker::shutDownServer does, then ends the thread.
    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        woken_.notify_one();
        thread_.join();
    }

    std::int64_t steps() const { return steps_.load(); }

private:
    void wake() {
        {
            std::lock_guard lock(mutex_);
            pending_ = true;
        }
        woken_.notify_one();
    }

    void run() {
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                woken_.wait(lock, [&] { return pending_ || stopping_ || engine_.has_work(); });
                if (stopping_) break;
                pending_ = false;
            }
            app::WorkerHost::Inbox inbox = host_.take();
            for (const auto& stream : inbox.submitted) router_.accept(engine_, stream);
            for (const auto& stream : inbox.cancelled) router_.cancel(engine_, stream);
            for (const auto& query : inbox.queries) query->set_value(router_.state(engine_));
            if (engine_.has_work()) {
                router_.route(engine_.step());
                ++steps_;
            }
        }
        host_.shutdown("the test stopped serving");
        router_.close_all(engine_, "the test stopped serving");
        while (engine_.has_work()) router_.route(engine_.step());  // the abort notices
    }

    Engine engine_;
    server::StreamRouter router_;
    app::WorkerHost host_;
    std::mutex mutex_;
    std::condition_variable woken_;
    bool pending_ = false;
    bool stopping_ = false;
    std::atomic<std::int64_t> steps_{0};
    std::thread thread_;
};

// Reads a stream to its end (at most 60 s): the tokens of its one request, and the final state.
RequestStream::State read_to_end(RequestStream& stream, std::vector<std::int32_t>& tokens) {
    std::vector<StreamItem> items;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
        if (std::chrono::steady_clock::now() > deadline) {
            ADD_FAILURE() << stream.label() << " did not end";
            return stream.state();
        }
        const RequestStream::State s = stream.wait(items, std::chrono::milliseconds(50));
        for (const StreamItem& item : items) {
            for (const SequenceOutput& o : item.output.samples)
                tokens.insert(tokens.end(), o.new_token_ids.begin(), o.new_token_ids.end());
        }
        items.clear();
        if (s != RequestStream::State::Pending && s != RequestStream::State::Running) return s;
    }
}

TEST(WorkerHost, HandlerThreadsGetTheTokensOfTheirRequestsRunAlone) {
    constexpr int kHandlers = 8;
    std::vector<Request> requests;
    std::vector<std::vector<std::int32_t>> alone;
    {
        Engine reference(embedded_model(), small_engine_config());
        for (int h = 0; h < kHandlers; ++h) {
            requests.push_back(greedy_request(4 + 5 * h, 6 + 3 * h));
            alone.push_back(run_alone(reference, requests.back()));
        }
    }

    EngineThread engine;
    engine.start();
    std::vector<std::vector<std::int32_t>> got(kHandlers);
    std::vector<RequestStream::State> ends(kHandlers);
    std::atomic<bool> done{false};
    std::atomic<int> answered{0};
    // Two threads ask for the state the whole time, as /metrics and /v1/kv/snapshot would.
    std::vector<std::thread> observers;
    for (int i = 0; i < 2; ++i) {
        observers.emplace_back([&] {
            while (!done) {
                const std::optional<server::ServingState> s = engine.host().state();
                if (s) ++answered;
            }
        });
    }
    std::vector<std::thread> handlers;
    for (int h = 0; h < kHandlers; ++h) {
        handlers.emplace_back([&, h] {
            auto stream =
                std::make_shared<RequestStream>("cmpl-" + std::to_string(h), std::vector<Request>{requests[h]});
            ASSERT_TRUE(engine.host().submit(stream));
            ends[h] = read_to_end(*stream, got[h]);
        });
    }
    for (std::thread& t : handlers) t.join();
    done = true;
    for (std::thread& t : observers) t.join();

    for (int h = 0; h < kHandlers; ++h) {
        EXPECT_EQ(ends[h], RequestStream::State::Finished) << "handler " << h;
        EXPECT_EQ(got[h], alone[h]) << "handler " << h;
    }
    EXPECT_GT(answered.load(), 0);
    const std::optional<server::ServingState> after = engine.host().state();
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->engine.sequences.empty());
    EXPECT_EQ(after->engine.kv.stats.num_used_blocks, 0);
}

TEST(WorkerHost, CancelledStreamsEndAndGiveTheirBlocksBack) {
    EngineThread engine;
    engine.start();
    constexpr int kHandlers = 6;
    std::vector<std::thread> handlers;
    std::vector<RequestStream::State> ends(kHandlers);
    for (int h = 0; h < kHandlers; ++h) {
        handlers.emplace_back([&, h] {
            auto stream = std::make_shared<RequestStream>("cmpl-" + std::to_string(h),
                                                          std::vector<Request>{greedy_request(8 + h, 400)});
            ASSERT_TRUE(engine.host().submit(stream));
            // Half give up at once (maybe before the engine thread took the stream), half after
            // their first tokens.
            std::vector<StreamItem> items;
            if (h % 2 == 1) {
                while (items.empty()) {
                    const RequestStream::State s = stream->wait(items, std::chrono::milliseconds(50));
                    if (s != RequestStream::State::Pending && s != RequestStream::State::Running) break;
                }
            }
            engine.host().cancel(stream);
            std::vector<std::int32_t> tokens;
            ends[h] = read_to_end(*stream, tokens);
            EXPECT_LT(tokens.size(), 400u) << "handler " << h << " ran to its end";
        });
    }
    for (std::thread& t : handlers) t.join();
    for (int h = 0; h < kHandlers; ++h) EXPECT_NE(ends[h], RequestStream::State::Running) << "handler " << h;

    // Every block comes back once the abort notices are out.
    std::optional<server::ServingState> s;
    for (int i = 0; i < 500; ++i) {
        s = engine.host().state();
        if (s && s->engine.sequences.empty() && s->engine.kv.stats.num_used_blocks == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->engine.sequences.empty());
    EXPECT_EQ(s->engine.kv.stats.num_used_blocks, 0);
}

TEST(WorkerHost, AShutDownHostClosesWhatItHoldsAndTakesNothingNew) {
    // No engine thread takes the inbox: submitted streams wait, and state() waits for an answer.
    EngineThread engine;
    auto waiting = std::make_shared<RequestStream>("cmpl-w", std::vector<Request>{greedy_request(5, 4)});
    ASSERT_TRUE(engine.host().submit(waiting));
    bool answered = false;
    std::thread query([&] { answered = engine.host().state().has_value(); });
    std::thread closer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        engine.host().shutdown("closing for the test");
    });
    std::vector<std::int32_t> tokens;
    EXPECT_EQ(read_to_end(*waiting, tokens), RequestStream::State::Closed);
    EXPECT_EQ(waiting->message(), "closing for the test");
    EXPECT_TRUE(tokens.empty());
    closer.join();
    query.join();
    EXPECT_FALSE(answered) << "a query left unanswered at shutdown returns nullopt";
    EXPECT_FALSE(engine.host().running());

    auto late = std::make_shared<RequestStream>("cmpl-late", std::vector<Request>{greedy_request(5, 4)});
    EXPECT_FALSE(engine.host().submit(late));
    EXPECT_EQ(late->state(), RequestStream::State::Closed);
    EXPECT_EQ(late->message(), "closing for the test");
    EXPECT_FALSE(engine.host().state());
    engine.host().shutdown("again");  // idempotent
}

TEST(WorkerHost, TheServerListsAndAcceptsTheAdaptersServedNow) {
    // The workbench loads and unloads adapters while it serves (set_loras on its thread): the
    // server's /v1/models and its requests' "model" follow, read from handler threads.
    EngineThread engine;
    engine.start();
    server::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.served_model_name = "stories260K";
    server::HttpServer http(engine.host(), options);
    http.start();
    httplib::Client client("127.0.0.1", http.port());
    client.set_read_timeout(60, 0);
    auto models = [&] { return served_model_ids(client); };
    auto complete = [&](const std::string& model) {
        const nlohmann::json body{{"model", model}, {"prompt", "Once"}, {"max_tokens", 2}};
        const httplib::Result res = client.Post("/v1/completions", body.dump(), "application/json");
        return res ? std::pair{res->status, res->body} : std::pair{-1, std::string()};
    };
    EXPECT_EQ(models(), std::vector<std::string>{"stories260K"});

    // a handler-side reader all the while (ThreadSanitizer checks the lock)
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> most{0};
    std::thread reader([&] {
        while (!stop.load()) most = std::max(most.load(), engine.host().loras().size());
    });
    engine.host().set_loras({{"alpha", "/adapters/a.gguf"}, {"beta", "/adapters/b.gguf"}});
    EXPECT_EQ(models(), (std::vector<std::string>{"stories260K", "alpha", "beta"}));
    const nlohmann::json listed = nlohmann::json::parse(client.Get("/v1/models")->body)["data"][1];
    EXPECT_EQ(listed["root"], "/adapters/a.gguf");
    EXPECT_EQ(listed["parent"], "stories260K");
    const auto [status, body] = complete("gamma");
    EXPECT_EQ(status, 404);
    EXPECT_NE(body.find("this server serves 'stories260K', 'alpha', 'beta'"), std::string::npos) << body;

    engine.host().set_loras({{"alpha", "/adapters/a.gguf"}});
    EXPECT_EQ(models(), (std::vector<std::string>{"stories260K", "alpha"}));
    EXPECT_EQ(complete("beta").first, 404);
    EXPECT_EQ(complete("stories260K").first, 200);
    stop = true;
    reader.join();
    EXPECT_LE(most.load(), 2u);
    http.stop();
}

}  // namespace worker_host_test
}  // namespace kvscope::test
