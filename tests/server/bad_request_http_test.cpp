// Every kind of bad request over real HTTP gets its status and an OpenAI-style error object -
// malformed JSON, wrong types, values out of range, prompts too long for the context or the
// server's limits, bodies too large, a missing or wrong API key, unknown models and paths - and
// the server goes on serving.

#include <gtest/gtest.h>

#include "tests/server/test_server.h"

namespace kvscope::test {
namespace bad_request_http_test {

using nlohmann::json;

server::ServerOptions limited_options() {
    server::ServerOptions o;
    o.limits.max_body_bytes = 8192;
    o.limits.max_prompt_tokens = 100;
    o.limits.max_n = 4;
    o.limits.max_output_tokens = 200;
    return o;
}

class BadRequests : public ::testing::Test {
protected:
    json completion(json extra) const {
        json body = {{"prompt", "Once upon a time"}, {"max_tokens", 4}};
        for (auto& [k, v] : extra.items()) body[k] = v;
        return body;
    }
    json chat(json extra) const {
        json body = {{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}, {"max_tokens", 4}};
        for (auto& [k, v] : extra.items()) body[k] = v;
        return body;
    }
    void expect_still_serving() {
        const HttpReply ok = post_json(*client, "/v1/completions", completion({}));
        EXPECT_EQ(ok.status, 200) << ok.text;
        EXPECT_EQ(get(*client, "/health").status, 200);
    }

    TestServer server{limited_options()};
    std::unique_ptr<httplib::Client> client = server.client();
};

TEST_F(BadRequests, MalformedJsonAndNonObjects) {
    for (const char* body : {"{", "{\"prompt\": ", "not json", "", "[1, 2]", "\"text\"", "42"}) {
        const HttpReply r = to_reply(client->Post("/v1/completions", body, "application/json"));
        expect_error_shape(r, 400);
        EXPECT_EQ(r.body["error"]["code"], "invalid_json") << body;
    }
    expect_still_serving();
}

TEST_F(BadRequests, WrongTypes) {
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"max_tokens", "4"}}, "max_tokens"},
        {{{"max_tokens", 4.5}}, "max_tokens"},
        {{{"temperature", "hot"}}, "temperature"},
        {{{"stream", "yes"}}, "stream"},
        {{{"n", true}}, "n"},
        {{{"prompt", 5}}, "prompt"},
        {{{"prompt", {1, "a"}}}, "prompt"},
        {{{"prompt", {{1, 2}, 3}}}, "prompt"},
        {{{"stop", 3}}, "stop"},
        {{{"stop", {"a", 1}}}, "stop"},
        {{{"logprobs", true}}, "logprobs"},
        {{{"seed", "1"}}, "seed"},
        {{{"stream_options", "x"}, {"stream", true}}, "stream_options"},
        {{{"model", 7}}, "model"},
    };
    for (const auto& [extra, param] : cases) {
        const HttpReply r = post_json(*client, "/v1/completions", completion(extra));
        expect_error_shape(r, 400, param);
        EXPECT_EQ(r.body["error"]["code"], "invalid_type") << extra;
    }
    for (const json& messages : {json("hi"), json::array(), json::array({"hi"}), json::array({{{"content", "x"}}}),
                                 json::array({{{"role", "user"}, {"content", 5}}}),
                                 json::array({{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}})}) {
        const HttpReply r = post_json(*client, "/v1/chat/completions", chat({{"messages", messages}}));
        expect_error_shape(r, 400, "messages");
    }
    expect_error_shape(post_json(*client, "/v1/chat/completions", {{"max_tokens", 4}}), 400, "messages");
    expect_error_shape(post_json(*client, "/v1/completions", {{"max_tokens", 4}}), 400, "prompt");
    expect_still_serving();
}

TEST_F(BadRequests, ValuesOutOfRange) {
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"temperature", -1}}, "temperature"},
        {{{"top_p", 0}}, "top_p"},
        {{{"top_p", 1.5}}, "top_p"},
        {{{"top_k", -2}}, "top_k"},
        {{{"min_p", 2}}, "min_p"},
        {{{"n", 0}}, "n"},
        {{{"n", 5}}, "n"},
        {{{"max_tokens", 0}}, "max_tokens"},
        {{{"max_tokens", 201}}, "max_tokens"},
        {{{"max_tokens", -3}}, "max_tokens"},
        {{{"logprobs", 21}}, "logprobs"},
        {{{"presence_penalty", 3}}, "presence_penalty"},
        {{{"frequency_penalty", -2.5}}, "frequency_penalty"},
        {{{"prompt", {1, 403, 999999}}}, "prompt"},
        {{{"prompt", {-1}}}, "prompt"},
        {{{"prompt", {512}}}, "prompt"},  // the vocabulary is 0-511
        {{{"prompt", {{259, 260}, {1, 70000}}}}, "prompt"},
        {{{"prompt", {259, 2.5}}}, "prompt"},
        {{{"prompt", json::array()}}, "prompt"},
        {{{"stop", {""}}}, "stop"},
        {{{"stop_token_ids", {100000}}}, "stop_token_ids"},
        {{{"max_tokens", 18446744073709551615ull}}, "max_tokens"},
    };
    for (const auto& [extra, param] : cases) {
        expect_error_shape(post_json(*client, "/v1/completions", completion(extra)), 400, param);
    }
    expect_error_shape(post_json(*client, "/v1/chat/completions", chat({{"top_logprobs", 2}})), 400, "top_logprobs");
    expect_error_shape(post_json(*client, "/v1/chat/completions", chat({{"top_logprobs", 21}, {"logprobs", true}})),
                       400, "top_logprobs");
    expect_error_shape(post_json(*client, "/v1/chat/completions", chat({{"tools", {{{"type", "function"}}}}})), 400,
                       "tools");
    expect_error_shape(
        post_json(*client, "/v1/completions", completion({{"stream_options", {{"include_usage", true}}}})), 400,
        "stream_options");
    // Controls the engine does not apply are refused, not ignored; their empty values are harmless.
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{{"logit_bias", {{"300", 100}}},
                                                                              {"min_tokens", 5},
                                                                              {"allowed_token_ids", {1, 2}},
                                                                              {"bad_words", {"cat"}},
                                                                              {"guided_json", {{"type", "object"}}},
                                                                              {"logit_bias", "garbage"}}) {
        const HttpReply r = post_json(*client, "/v1/completions", completion({{key, value}}));
        expect_error_shape(r, 400, key);
        EXPECT_EQ(r.body["error"]["code"], "unsupported") << key;
    }
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
             {"logit_bias", json::object()}, {"min_tokens", 0}, {"bad_words", json::array()}}) {
        EXPECT_EQ(post_json(*client, "/v1/completions", completion({{key, value}})).status, 200) << key;
    }
    expect_still_serving();
}

TEST_F(BadRequests, PromptsTooLongForTheLimitOrTheContext) {
    // 150 token ids: above the server's 100-token prompt limit.
    const json long_ids = std::vector<int>(150, 403);
    const HttpReply limit = post_json(*client, "/v1/completions", completion({{"prompt", long_ids}}));
    expect_error_shape(limit, 400, "prompt");
    EXPECT_EQ(limit.body["error"]["code"], "context_length_exceeded");

    std::string story;
    for (int i = 0; i < 60; ++i) story += "Once upon a time there was a cat. ";
    const HttpReply text = post_json(*client, "/v1/completions", completion({{"prompt", story}}));
    expect_error_shape(text, 400, "prompt");
    const HttpReply chat_long = post_json(*client, "/v1/chat/completions",
                                          chat({{"messages", json::array({{{"role", "user"}, {"content", story}}})}}));
    expect_error_shape(chat_long, 400, "messages");
    expect_still_serving();
}

TEST(BadRequestsContext, PromptPlusMaxTokensBeyondTheContext) {
    TestServer server;  // no limits: only the context (the embedded model's) bounds requests
    auto client = server.client();
    const int context = server.loop.info().plan.max_model_len;
    const HttpReply r =
        post_json(*client, "/v1/completions",
                  {{"prompt", std::vector<int>(static_cast<std::size_t>(context - 10), 403)}, {"max_tokens", 20}});
    expect_error_shape(r, 400, "max_tokens");
    EXPECT_EQ(r.body["error"]["code"], "context_length_exceeded");
    const HttpReply too_long = post_json(*client, "/v1/completions",
                                         {{"prompt", std::vector<int>(static_cast<std::size_t>(context + 1), 403)}});
    expect_error_shape(too_long, 400, "prompt");
}

TEST_F(BadRequests, BodyTooLargeIs413WithAnErrorObject) {
    const std::string big = json{{"prompt", std::string(20000, 'a')}, {"max_tokens", 4}}.dump();
    const HttpReply r = to_reply(client->Post("/v1/completions", big, "application/json"));
    expect_error_shape(r, 413);
    EXPECT_EQ(r.body["error"]["code"], "request_too_large");
    expect_still_serving();
}

// A chunked body has no Content-Length for httplib's limit to check: the server counts it itself.
TEST_F(BadRequests, AChunkedBodyOverTheLimitIs413AndOneWithinItIsServed) {
    auto send_chunked = [&](const std::string& body) {
        return to_reply(client->Post(
            "/v1/completions",
            [&body](std::size_t, httplib::DataSink& sink) {
                for (std::size_t at = 0; at < body.size(); at += 1000) {
                    if (!sink.write(body.data() + at, std::min<std::size_t>(1000, body.size() - at))) return false;
                }
                sink.done();
                return true;
            },
            "application/json"));
    };
    const HttpReply big = send_chunked(json{{"prompt", std::string(20000, 'a')}, {"max_tokens", 4}}.dump());
    expect_error_shape(big, 413);
    EXPECT_EQ(big.body["error"]["code"], "request_too_large");
    const HttpReply small = send_chunked(completion({}).dump());
    EXPECT_EQ(small.status, 200) << small.text;
    // curl -d sends JSON as form-encoded: read as the JSON it is.
    const HttpReply form =
        to_reply(client->Post("/v1/completions", completion({}).dump(), "application/x-www-form-urlencoded"));
    EXPECT_EQ(form.status, 200) << form.text;
    expect_still_serving();
}

TEST_F(BadRequests, UnknownModelAndPath) {
    const HttpReply model = post_json(*client, "/v1/completions", completion({{"model", "gpt-4"}}));
    expect_error_shape(model, 404, "model");
    EXPECT_EQ(model.body["error"]["code"], "model_not_found");
    expect_error_shape(get(*client, "/v1/nothing"), 404);
    // A route asked with the wrong method: 405 and the methods it takes (as vLLM's FastAPI).
    const httplib::Result wrong = client->Get("/v1/completions");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 405);
    EXPECT_EQ(wrong->get_header_value("Allow"), "POST");
    const HttpReply post_models = post_json(*client, "/v1/models", json::object());
    expect_error_shape(post_models, 405);
    EXPECT_EQ(post_models.body["error"]["code"], "method_not_allowed");
    expect_error_shape(post_json(*client, "/v1/embeddings", {{"input", "x"}}), 404);
    expect_still_serving();
}

TEST(BadRequestsAuth, ApiKeyIsRequiredOnV1Paths) {
    server::ServerOptions o;
    o.api_key = "sk-test-123";
    TestServer server(o);
    auto client = server.client();
    const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 2}};
    const HttpReply none = post_json(*client, "/v1/completions", body);
    expect_error_shape(none, 401);
    EXPECT_EQ(none.body["error"]["code"], "invalid_api_key");
    expect_error_shape(post_json(*client, "/v1/completions", body, {{"Authorization", "Bearer sk-test-124"}}), 401);
    expect_error_shape(post_json(*client, "/v1/completions", body, {{"Authorization", "Bearer sk-test-1234"}}), 401);
    expect_error_shape(post_json(*client, "/v1/completions", body, {{"Authorization", "sk-test-123"}}), 401);
    expect_error_shape(get(*client, "/v1/models"), 401);
    expect_error_shape(get(*client, "/v1/kv/snapshot"), 401);
    EXPECT_EQ(post_json(*client, "/v1/completions", body, {{"Authorization", "Bearer sk-test-123"}}).status, 200);
    EXPECT_EQ(get(*client, "/v1/models", {{"Authorization", "Bearer sk-test-123"}}).status, 200);
    // Probes and scrapers need no key (as with vLLM).
    EXPECT_EQ(get(*client, "/health").status, 200);
    EXPECT_EQ(get(*client, "/metrics").status, 200);
}

TEST(BadRequestsEngine, ARequestLargerThanTheKvCacheIsRefusedWithTheEnginesReason) {
    EngineConfig config = small_engine_config();
    config.num_kv_blocks = 4;  // 64 tokens in all
    TestServer server({}, config);
    auto client = server.client();
    const HttpReply r = post_json(*client, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 100}});
    expect_error_shape(r, 400);
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find("KV blocks"), std::string::npos) << r.text;
    const SseReply s = post_stream(*client, "/v1/completions",
                                   {{"prompt", "Once upon a time"}, {"max_tokens", 100}, {"stream", true}});
    EXPECT_EQ(s.status, 400);
    EXPECT_EQ(post_json(*client, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 10}}).status, 200);
    const server::ServingState idle = server.wait_idle();
    EXPECT_EQ(idle.engine.kv.stats.num_used_blocks, 0);
}

TEST(ConstantTimeEqual, ComparesWholeStrings) {
    EXPECT_TRUE(server::constant_time_equal("abc", "abc"));
    EXPECT_TRUE(server::constant_time_equal("", ""));
    EXPECT_FALSE(server::constant_time_equal("abc", "abd"));
    EXPECT_FALSE(server::constant_time_equal("abc", "ab"));
    EXPECT_FALSE(server::constant_time_equal("ab", "abc"));
    EXPECT_FALSE(server::constant_time_equal("", "a"));
    EXPECT_FALSE(server::constant_time_equal(std::string("a\0b", 3), "a"));
}

}  // namespace bad_request_http_test
}  // namespace kvscope::test
