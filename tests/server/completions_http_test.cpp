// The OpenAI endpoints over real HTTP: response shapes, greedy output equal to the engine's
// known-good tokens, streaming (SSE framing, [DONE], deltas that concatenate to the whole text),
// chat with the model's template, logprobs, n > 1, several prompts, echo, stop strings, models
// and health.

#include <gtest/gtest.h>

#include "app/server/model_card.h"
#include "app/server/request_ids_header.h"
#include "engine/engine.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace completions_http_test {

using nlohmann::json;

// kvscope-cli generate --prompt "Once upon a time" --max-tokens 20 --temperature 0 (tests/app/cli_test.cpp).
const std::vector<int> kOnceUponATime = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                         426, 338, 401, 396, 267, 337, 410, 408, 419, 292};
const std::string kOnceUponATimeText = ", there was a little girl named Lily. She loved to play outsid";

// The greedy tokens of `prompt`, straight from an Engine (no server).
std::vector<std::int32_t> engine_tokens(const std::string& prompt, int max_tokens) {
    Engine engine(embedded_model(), small_engine_config());
    Request r;
    r.prompt = prompt;
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    return run_alone(engine, r);
}

std::string concat_completion_text(const SseReply& r, std::size_t index = 0) {
    std::string text;
    for (const json& e : r.events) {
        for (const json& c : e["choices"]) {
            if (c["index"] == index)
                text += c.contains("delta") ? c["delta"].value("content", "") : c["text"].get<std::string>();
        }
    }
    return text;
}

class CompletionsHttp : public ::testing::Test {
protected:
    TestServer server;
    std::unique_ptr<httplib::Client> client = server.client();
};

TEST_F(CompletionsHttp, GreedyCompletionMatchesTheKnownGoodTokensAndHasOpenAisShape) {
    const HttpReply r = post_json(*client, "/v1/completions",
                                  {{"model", "stories260K"},
                                   {"prompt", "Once upon a time"},
                                   {"max_tokens", 20},
                                   {"temperature", 0},
                                   {"return_token_ids", true}});
    ASSERT_EQ(r.status, 200) << r.text;
    const json& b = r.body;
    EXPECT_EQ(b["object"], "text_completion");
    EXPECT_EQ(b["model"], "stories260K");
    EXPECT_TRUE(b["id"].get<std::string>().rfind("cmpl-", 0) == 0);
    EXPECT_TRUE(b["created"].is_number_integer());
    ASSERT_EQ(b["choices"].size(), 1u);
    const json& c = b["choices"][0];
    EXPECT_EQ(c["index"], 0);
    EXPECT_EQ(c["text"], kOnceUponATimeText);
    EXPECT_EQ(c["token_ids"], kOnceUponATime);
    EXPECT_EQ(c["prompt_token_ids"], (std::vector<int>{1, 403, 407, 261, 378}));
    EXPECT_EQ(c["finish_reason"], "length");
    EXPECT_TRUE(c["logprobs"].is_null());
    EXPECT_EQ(b["usage"], (json{{"prompt_tokens", 5},
                                {"completion_tokens", 20},
                                {"total_tokens", 25},
                                {"prompt_tokens_details", {{"cached_tokens", 0}}}}));
}

// usage.prompt_tokens_details.cached_tokens (OpenAI's): the prompt's full blocks that the prefix
// cache served, whole and streamed; a prompt in two requests, the second finding the first's.
TEST_F(CompletionsHttp, UsageTellsThePromptTokensTheCacheServed) {
    std::vector<std::int32_t> prompt;
    for (int i = 0; i < 40; ++i) prompt.push_back(300 + i);  // 40 tokens: 2 full blocks of 16
    const json body = {{"prompt", prompt}, {"max_tokens", 2}};
    const HttpReply first = post_json(*client, "/v1/completions", body);
    ASSERT_EQ(first.status, 200) << first.text;
    EXPECT_EQ(first.body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    const HttpReply again = post_json(*client, "/v1/completions", body);
    ASSERT_EQ(again.status, 200) << again.text;
    EXPECT_EQ(again.body["usage"]["prompt_tokens_details"]["cached_tokens"], 32);

    json streamed = body;
    streamed["stream"] = true;
    streamed["stream_options"] = {{"include_usage", true}};
    const SseReply chunks = post_stream(*client, "/v1/completions", streamed);
    ASSERT_EQ(chunks.status, 200);
    ASSERT_FALSE(chunks.events.empty());
    EXPECT_EQ(chunks.events.back()["usage"]["prompt_tokens_details"]["cached_tokens"], 32);
}

TEST_F(CompletionsHttp, TokenIdPromptGivesTheSameTokensAsText) {
    const HttpReply r = post_json(
        *client, "/v1/completions",
        {{"prompt", {1, 403, 407, 261, 378}}, {"max_tokens", 20}, {"temperature", 0}, {"return_token_ids", true}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["choices"][0]["token_ids"], kOnceUponATime);
}

TEST_F(CompletionsHttp, OtherPromptsMatchTheEngineRunDirectly) {
    for (const std::string prompt : {"The cat sat on the mat", "Lily and Tom went", "One day a big dog"}) {
        const HttpReply r =
            post_json(*client, "/v1/completions",
                      {{"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}, {"return_token_ids", true}});
        ASSERT_EQ(r.status, 200) << r.text;
        EXPECT_EQ(r.body["choices"][0]["token_ids"].get<std::vector<std::int32_t>>(), engine_tokens(prompt, 24))
            << prompt;
    }
}

TEST_F(CompletionsHttp, StreamIsSseEndingInDoneAndItsDeltasConcatenateToTheWholeText) {
    const json body = {{"prompt", "Once upon a time"},
                       {"max_tokens", 20},
                       {"temperature", 0},
                       {"stream", true},
                       {"stream_options", {{"include_usage", true}}},
                       {"return_token_ids", true}};
    const SseReply s = post_stream(*client, "/v1/completions", body);
    ASSERT_EQ(s.status, 200);
    EXPECT_TRUE(s.done);
    // Framing: every event is "data: <json>\n\n" and the last one is [DONE].
    EXPECT_EQ(s.raw.rfind("data: ", 0), 0u);
    EXPECT_TRUE(s.raw.size() > 14 && s.raw.substr(s.raw.size() - 14) == "data: [DONE]\n\n");
    ASSERT_EQ(s.events.size(), 21u);  // one chunk per token, then the usage chunk
    std::vector<int> ids;
    for (std::size_t i = 0; i < 20; ++i) {
        const json& e = s.events[i];
        EXPECT_EQ(e["object"], "text_completion");
        EXPECT_EQ(e["id"], s.events[0]["id"]);
        ASSERT_EQ(e["choices"].size(), 1u);
        EXPECT_EQ(e["choices"][0]["finish_reason"], i == 19 ? json("length") : json(nullptr));
        for (int t : e["choices"][0]["token_ids"]) ids.push_back(t);
    }
    EXPECT_EQ(ids, kOnceUponATime);
    EXPECT_EQ(concat_completion_text(s), kOnceUponATimeText);
    EXPECT_TRUE(s.events[20]["choices"].empty());
    EXPECT_EQ(s.events[20]["usage"]["completion_tokens"], 20);
    EXPECT_EQ(s.events[20]["usage"]["prompt_tokens"], 5);
}

TEST_F(CompletionsHttp, ChatUsesTheTemplateAndStreamsRoleThenContent) {
    const json messages = json::array({{{"role", "user"}, {"content", "Once upon a time"}}});
    const HttpReply whole =
        post_json(*client, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 16}, {"temperature", 0}});
    ASSERT_EQ(whole.status, 200) << whole.text;
    EXPECT_EQ(whole.body["object"], "chat.completion");
    EXPECT_TRUE(whole.body["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
    const json& message = whole.body["choices"][0]["message"];
    EXPECT_EQ(message["role"], "assistant");
    // The embedded model has no chat template: the conversation is the story so far.
    EXPECT_EQ(message["content"], kOnceUponATimeText.substr(0, message["content"].get<std::string>().size()));
    EXPECT_EQ(whole.body["usage"]["completion_tokens"], 16);

    const SseReply s = post_stream(*client, "/v1/chat/completions",
                                   {{"messages", messages}, {"max_tokens", 16}, {"temperature", 0}, {"stream", true}});
    ASSERT_EQ(s.status, 200);
    EXPECT_TRUE(s.done);
    ASSERT_FALSE(s.events.empty());
    EXPECT_EQ(s.events[0]["object"], "chat.completion.chunk");
    EXPECT_EQ(s.events[0]["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(concat_completion_text(s), message["content"]);
}

TEST_F(CompletionsHttp, GreedyLogprobsRankTheChosenTokenFirst) {
    const HttpReply r =
        post_json(*client, "/v1/completions",
                  {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}, {"logprobs", 3}});
    ASSERT_EQ(r.status, 200) << r.text;
    const json& lp = r.body["choices"][0]["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), 8u);
    ASSERT_EQ(lp["token_logprobs"].size(), 8u);
    ASSERT_EQ(lp["top_logprobs"].size(), 8u);
    ASSERT_EQ(lp["text_offset"].size(), 8u);
    for (std::size_t i = 0; i < 8; ++i) {
        const double chosen = lp["token_logprobs"][i];
        EXPECT_LE(chosen, 0.0);
        const json& top = lp["top_logprobs"][i];
        EXPECT_GE(top.size(), 3u);
        EXPECT_LE(top.size(), 4u);
        for (const auto& [piece, value] : top.items()) EXPECT_LE(value.get<double>(), chosen + 1e-6) << piece;
        EXPECT_EQ(top[lp["tokens"][i].get<std::string>()], chosen);
    }

    const HttpReply chat = post_json(*client, "/v1/chat/completions",
                                     {{"messages", json::array({{{"role", "user"}, {"content", "Lily"}}})},
                                      {"max_tokens", 4},
                                      {"temperature", 0},
                                      {"logprobs", true},
                                      {"top_logprobs", 2}});
    ASSERT_EQ(chat.status, 200) << chat.text;
    const json& content = chat.body["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(content.size(), 4u);
    for (const json& t : content) {
        ASSERT_EQ(t["top_logprobs"].size(), 2u);
        EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);
        EXPECT_EQ(t["top_logprobs"][0]["logprob"], t["logprob"]);
        EXPECT_EQ(t["bytes"].size(), t["token"].get<std::string>().size());
    }
}

TEST_F(CompletionsHttp, SeveralSamplesAndSeveralPromptsGetOneChoiceEach) {
    const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0.9}, {"seed", 7}, {"n", 3}};
    const HttpReply whole = post_json(*client, "/v1/completions", body);
    ASSERT_EQ(whole.status, 200) << whole.text;
    ASSERT_EQ(whole.body["choices"].size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(whole.body["choices"][i]["index"], i);
    EXPECT_EQ(whole.body["usage"]["completion_tokens"], 36);
    EXPECT_EQ(whole.body["usage"]["prompt_tokens"], 5);

    // Seeded: the streamed samples are the same, sample by sample.
    json streamed = body;
    streamed["stream"] = true;
    const SseReply s = post_stream(*client, "/v1/completions", streamed);
    ASSERT_TRUE(s.done);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(concat_completion_text(s, i), whole.body["choices"][i]["text"]) << i;

    const HttpReply two = post_json(
        *client, "/v1/completions",
        {{"prompt", {"Once upon a time", "The cat sat on the mat"}}, {"max_tokens", 20}, {"temperature", 0}, {"n", 2}});
    ASSERT_EQ(two.status, 200) << two.text;
    ASSERT_EQ(two.body["choices"].size(), 4u);
    EXPECT_EQ(two.body["choices"][0]["text"], kOnceUponATimeText);
    EXPECT_EQ(two.body["choices"][1]["text"], kOnceUponATimeText);  // greedy: both samples alike
    EXPECT_EQ(two.body["choices"][2]["text"], two.body["choices"][3]["text"]);
    EXPECT_NE(two.body["choices"][2]["text"], kOnceUponATimeText);
}

// X-Kvscope-Request-Ids names the engine requests serving a response, one per prompt, in prompt
// order (the engine numbers requests as they are added), on whole and streamed, chat and
// completion responses; the snapshot test checks the id against GET /v1/kv/snapshot.
TEST_F(CompletionsHttp, EachResponseNamesTheEngineIdsOfItsPrompts) {
    const auto ids_of = [&](const std::string& path, const json& body) {
        const httplib::Result res = client->Post(path, body.dump(), "application/json");
        EXPECT_TRUE(res && res->status == 200);
        const auto ids = res ? server::parse_request_ids(res->get_header_value("X-Kvscope-Request-Ids"))
                             : std::optional<std::vector<RequestId>>();
        EXPECT_TRUE(ids.has_value()) << path;
        return ids.value_or(std::vector<RequestId>{});
    };
    const std::vector<RequestId> two =
        ids_of("/v1/completions", {{"prompt", {"Once upon a time", "The cat sat"}}, {"max_tokens", 2}, {"n", 2}});
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[1], two[0] + 1);
    const std::vector<RequestId> streamed =
        ids_of("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 2}, {"stream", true}});
    EXPECT_EQ(streamed, std::vector<RequestId>{two[1] + 1});
    const std::vector<RequestId> chat =
        ids_of("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}});
    EXPECT_EQ(chat, std::vector<RequestId>{two[1] + 2});
    // A refused request names none.
    const httplib::Result refused =
        client->Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", -1}}.dump(), "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400);
    EXPECT_FALSE(refused->has_header("X-Kvscope-Request-Ids"));
}

TEST(RequestIdsHeader, ParsesWhatItFormatsAndRefusesTheRest) {
    EXPECT_EQ(server::format_request_ids({3, 14, 15}), "3,14,15");
    EXPECT_EQ(server::parse_request_ids("3,14,15"), (std::vector<RequestId>{3, 14, 15}));
    EXPECT_EQ(server::parse_request_ids(" 7 , 8"), (std::vector<RequestId>{7, 8}));
    EXPECT_EQ(server::parse_request_ids("0"), std::vector<RequestId>{0});
    for (const char* bad : {"", " ", "1,", ",1", "1,,2", "-1", "x", "1;2", "99999999999999999999"}) {
        EXPECT_FALSE(server::parse_request_ids(bad).has_value()) << bad;
    }
}

TEST_F(CompletionsHttp, EchoAndStopStrings) {
    const HttpReply echo =
        post_json(*client, "/v1/completions",
                  {{"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}, {"echo", true}});
    ASSERT_EQ(echo.status, 200) << echo.text;
    EXPECT_EQ(echo.body["choices"][0]["text"], "Once upon a time" + kOnceUponATimeText);

    const HttpReply stop =
        post_json(*client, "/v1/completions",
                  {{"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}, {"stop", "Lily"}});
    ASSERT_EQ(stop.status, 200) << stop.text;
    EXPECT_EQ(stop.body["choices"][0]["text"], ", there was a little girl named ");
    EXPECT_EQ(stop.body["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(stop.body["choices"][0]["stop_reason"], "Lily");      // vLLM's: what stopped it
    EXPECT_TRUE(echo.body["choices"][0]["stop_reason"].is_null());  // ended by length

    // A stop token id: the id; streamed, on the chunk that finishes.
    json request = {{"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}, {"stop_token_ids", {261}}};
    const HttpReply by_token = post_json(*client, "/v1/completions", request);
    ASSERT_EQ(by_token.status, 200) << by_token.text;
    EXPECT_EQ(by_token.body["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(by_token.body["choices"][0]["stop_reason"], 261);
    request["stream"] = true;
    const SseReply streamed = post_stream(*client, "/v1/completions", request);
    ASSERT_EQ(streamed.status, 200);
    ASSERT_FALSE(streamed.events.empty());
    const json& last = streamed.events.back();
    EXPECT_EQ(last["choices"][0]["finish_reason"], "stop") << last.dump();
    EXPECT_EQ(last["choices"][0]["stop_reason"], 261) << last.dump();
}

TEST_F(CompletionsHttp, ModelsAndHealth) {
    const HttpReply models = get(*client, "/v1/models");
    ASSERT_EQ(models.status, 200);
    EXPECT_EQ(models.body["object"], "list");
    ASSERT_EQ(models.body["data"].size(), 1u);
    EXPECT_EQ(models.body["data"][0]["id"], "stories260K");
    EXPECT_EQ(models.body["data"][0]["object"], "model");
    EXPECT_EQ(models.body["data"][0]["max_model_len"], server.loop.info().plan.max_model_len);
    EXPECT_EQ(get(*client, "/health").status, 200);

    // kvscope's own object: stories260K's vocabulary as its GGUF header has it (512 tokens, <s> 1,
    // </s> 2; ids 3-258 are the byte tokens, 259 "▁t" the first normal one) and the test cache.
    const json& card = models.body["data"][0]["kvscope"];
    EXPECT_EQ(card["vocab_size"], 512);
    EXPECT_EQ(card["bos_token_id"], 1);
    EXPECT_EQ(card["eos_token_id"], 2);
    EXPECT_EQ(card["add_bos_token"], true);
    EXPECT_EQ(card["first_normal_token_id"], 259);
    EXPECT_EQ(card["block_size"], 16);
    EXPECT_EQ(card["num_blocks"], 256);
    EXPECT_EQ(card["cache_dtype"], "F32");
    EXPECT_EQ(card["architecture"], "llama");
    EXPECT_EQ(card["max_model_len"], models.body["data"][0]["max_model_len"]);
    EXPECT_GT(card["block_bytes"].get<std::int64_t>(), 0);

    // What a client reads back; an entry without the object (vLLM's) or with an inconsistent
    // vocabulary gives none.
    const std::optional<server::ModelCard> read = server::model_card_from_json(models.body["data"][0]);
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->vocab_size, 512);
    EXPECT_EQ(read->first_normal_token_id, 259);
    EXPECT_TRUE(read->add_bos);
    EXPECT_EQ(read->num_blocks, 256);
    EXPECT_FALSE(server::model_card_from_json(json{{"id", "m"}, {"object", "model"}, {"max_model_len", 4096}}));
    json bad = models.body["data"][0];
    bad["kvscope"]["first_normal_token_id"] = 512;
    EXPECT_FALSE(server::model_card_from_json(bad));
    bad["kvscope"]["first_normal_token_id"] = "259";
    EXPECT_FALSE(server::model_card_from_json(bad));
}

}  // namespace completions_http_test
}  // namespace kvscope::test
