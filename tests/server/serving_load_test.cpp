// Many clients at once, and clients that leave: dozens of concurrent requests (streamed and
// not) each get exactly the tokens they get alone; a client that disconnects mid-stream, or
// gives up on a whole response, has its request aborted and its blocks freed.

#include <gtest/gtest.h>

#include <thread>

#include "tests/server/test_server.h"
#include "tests/support/nan_model.h"

namespace kvscope::test {
namespace serving_load_test {

using nlohmann::json;

const std::vector<std::string> kPrompts = {
    "Once upon a time", "The cat sat on the mat", "Lily and Tom went",     "One day a big dog",
    "The sun was hot",  "Tim had a red ball",     "In the park there was", "Mom said"};

std::vector<int> tokens_of(const json& completion) {
    return completion["choices"][0]["token_ids"].get<std::vector<int>>();
}

std::vector<int> streamed_tokens(const SseReply& s) {
    std::vector<int> ids;
    for (const json& e : s.events) {
        for (const json& c : e["choices"]) {
            for (int t : c["token_ids"]) ids.push_back(t);
        }
    }
    return ids;
}

TEST(ServingLoad, DozensOfConcurrentClientsGetTheTokensTheyGetAlone) {
    TestServer server;
    // Alone, one at a time: the oracle.
    std::vector<std::vector<int>> alone;
    {
        auto client = server.client();
        for (const std::string& p : kPrompts) {
            const HttpReply r = post_json(*client, "/v1/completions",
                                          {{"prompt", p},
                                           {"max_tokens", 24},
                                           {"temperature", 0},
                                           {"ignore_eos", true},
                                           {"return_token_ids", true}});
            ASSERT_EQ(r.status, 200) << r.text;
            alone.push_back(tokens_of(r.body));
            ASSERT_EQ(alone.back().size(), 24u);
        }
    }
    // Together: 40 clients, every prompt five times, half of them streaming.
    constexpr int kClients = 40;
    std::vector<std::vector<int>> got(kClients);
    std::vector<int> status(kClients, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            auto client = server.client();
            const json body = {{"prompt", kPrompts[i % kPrompts.size()]},
                               {"max_tokens", 24},
                               {"temperature", 0},
                               {"ignore_eos", true},
                               {"return_token_ids", true},
                               {"stream", i % 2 == 1}};
            if (i % 2 == 1) {
                const SseReply s = post_stream(*client, "/v1/completions", body);
                status[i] = s.done ? s.status : -1;
                got[i] = streamed_tokens(s);
            } else {
                const HttpReply r = post_json(*client, "/v1/completions", body);
                status[i] = r.status;
                if (r.status == 200) got[i] = tokens_of(r.body);
            }
        });
    }
    for (std::thread& t : threads) t.join();
    for (int i = 0; i < kClients; ++i) {
        EXPECT_EQ(status[i], 200) << "client " << i;
        EXPECT_EQ(got[i], alone[i % kPrompts.size()]) << "client " << i;
    }
    const server::ServingState idle = server.wait_idle();
    EXPECT_EQ(idle.engine.metrics.request_success_length, static_cast<std::int64_t>(kPrompts.size()) + kClients);
    EXPECT_EQ(idle.engine.metrics.request_success_abort, 0);
}

TEST(ServingLoad, AClientThatDisconnectsMidStreamHasItsRequestAbortedAndBlocksFreed) {
    TestServer server;
    auto client = server.client();
    // A long generation; the client leaves after three events.
    const json body = {{"prompt", "Once upon a time"},
                       {"max_tokens", 1500},
                       {"ignore_eos", true},
                       {"stream", true},
                       {"return_token_ids", true}};
    const SseReply s = post_stream(*client, "/v1/completions", body, /*stop_after=*/3);
    EXPECT_EQ(s.status, 200);
    EXPECT_FALSE(s.done);
    const server::ServingState idle = server.wait_idle();
    EXPECT_EQ(idle.engine.metrics.request_success_abort, 1);
    EXPECT_EQ(idle.engine.metrics.request_success_length, 0);
    EXPECT_LT(idle.engine.metrics.generation_tokens, 1500);
    EXPECT_EQ(idle.engine.kv.stats.num_used_blocks, 0);
    EXPECT_TRUE(idle.engine.sequences.empty());
    // And the server goes on.
    EXPECT_EQ(post_json(*client, "/v1/completions", {{"prompt", "Mom said"}, {"max_tokens", 4}}).status, 200);
}

TEST(ServingLoad, AClientThatGivesUpOnAWholeResponseHasItsRequestAborted) {
    TestServer server;
    {
        // Waits 50 ms for a response that takes far longer, then closes the connection.
        auto impatient = server.client();
        impatient->set_read_timeout(0, 50'000);
        const httplib::Result r = impatient->Post(
            "/v1/completions", json{{"prompt", "Once upon a time"}, {"max_tokens", 1900}, {"ignore_eos", true}}.dump(),
            "application/json");
        EXPECT_FALSE(r);  // timed out
    }
    const server::ServingState idle = server.wait_ended(1);
    EXPECT_EQ(idle.engine.metrics.request_success_abort, 1);
    EXPECT_EQ(idle.engine.kv.stats.num_used_blocks, 0);
}

TEST(ServingLoad, StoppingTheServerEndsOpenStreamsAndFreesTheirBlocks) {
    TestServer server;
    std::thread streamer([&] {
        auto client = server.client();
        post_stream(*client, "/v1/completions",
                    {{"prompt", "Once upon a time"}, {"max_tokens", 1900}, {"ignore_eos", true}, {"stream", true}});
    });
    server.wait_running();  // then stop the HTTP server under the request
    server.http.stop();
    streamer.join();
    const server::ServingState idle = server.wait_idle();
    EXPECT_EQ(idle.engine.metrics.request_success_abort, 1);
    EXPECT_EQ(idle.engine.kv.stats.num_used_blocks, 0);
}

TEST(ServingLoad, StoppingTheServerAnswersAWaitingWholeResponseWith503) {
    TestServer server;
    HttpReply reply;
    std::thread waiter([&] {
        auto client = server.client();
        reply = post_json(*client, "/v1/completions",
                          {{"prompt", "Once upon a time"}, {"max_tokens", 1900}, {"ignore_eos", true}});
    });
    server.wait_running();
    server.http.stop();
    waiter.join();
    // The status says the answer is not a completion (it used to be 200 with an error body).
    EXPECT_EQ(reply.status, 503) << reply.text;
    EXPECT_NE(reply.text.find("shutting down"), std::string::npos) << reply.text;
    const server::ServingState idle = server.wait_idle();
    EXPECT_EQ(idle.engine.metrics.request_success_abort, 1);
}

// A request the model fails on (NaN logits) is answered 500 "model_error", whole or streamed,
// and the server serves the next request as before.
TEST(ServingLoad, ARequestTheModelFailsOnIsA500ModelErrorAndTheServerServesOn) {
    const std::int32_t poisoned = embedded_model()->tokenizer().encode("Lily", true, false).back();
    TestServer server({}, small_engine_config(), model_with_a_nan_token(poisoned));
    auto client = server.client();
    const HttpReply whole = post_json(*client, "/v1/completions", {{"prompt", "Lily"}, {"max_tokens", 8}});
    EXPECT_EQ(whole.status, 500) << whole.text;
    EXPECT_EQ(whole.body["error"]["code"], "model_error") << whole.text;
    EXPECT_NE(whole.text.find("not finite"), std::string::npos) << whole.text;

    const SseReply streamed =
        post_stream(*client, "/v1/completions", {{"prompt", "Lily"}, {"max_tokens", 8}, {"stream", true}});
    EXPECT_EQ(streamed.status, 200);  // the stream had begun
    ASSERT_FALSE(streamed.events.empty());
    EXPECT_EQ(streamed.events.back()["error"]["code"], "model_error") << streamed.events.back();
    EXPECT_TRUE(streamed.done);

    const HttpReply good =
        post_json(*client, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
    EXPECT_EQ(good.status, 200) << good.text;
    EXPECT_EQ(good.body["usage"]["completion_tokens"], 8);
}

}  // namespace serving_load_test
}  // namespace kvscope::test
