// Scoring prompts over HTTP: completions with echo and logprobs (the prompt's tokens scored
// first, as lm-eval's loglikelihood requests read them, also with max_tokens 0), vLLM's
// "prompt_logprobs" field, each value equal to what the engine computes directly; streamed, the
// same in pieces; and the requests that cannot be served, refused with the field named.

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace prompt_logprobs_http_test {

using nlohmann::json;

const std::string kPrompt = "Once upon a time, there was a little";

// The prompt's tokens and their logprobs, straight from an Engine (no server).
struct Scored {
    std::vector<std::int32_t> tokens;
    std::vector<SampleResult> logprobs;
};

// The text of prompt tokens as an echo shows it: no SentencePiece dummy space in front.
std::string prompt_text(const std::vector<std::int32_t>& tokens) {
    std::string text = embedded_model()->tokenizer().decode(tokens, /*skip_special=*/true);
    if (!text.empty() && text.front() == ' ') text.erase(0, 1);
    return text;
}

Scored engine_scores(std::int32_t num_top) {
    Engine engine(embedded_model(), small_engine_config());
    Request r;
    r.prompt = kPrompt;
    r.params.temperature = 0;
    r.params.max_tokens = 1;
    r.params.prompt_logprobs = num_top;
    Scored s{embedded_model()->tokenizer().encode(kPrompt, true, false), {}};
    engine.add_request(r);
    while (engine.has_work()) {
        for (const RequestOutput& out : engine.step()) {
            s.logprobs.insert(s.logprobs.end(), out.prompt_logprobs.begin(), out.prompt_logprobs.end());
        }
    }
    return s;
}

class PromptLogprobsHttp : public ::testing::Test {
protected:
    TestServer server;
    std::unique_ptr<httplib::Client> client = server.client();
};

TEST_F(PromptLogprobsHttp, EchoWithMaxTokensZeroScoresThePromptAlone) {
    const Scored expected = engine_scores(1);
    const HttpReply r =
        post_json(*client, "/v1/completions",
                  {{"prompt", kPrompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    const json& choice = r.body["choices"][0];
    EXPECT_EQ(choice["text"], kPrompt);
    EXPECT_EQ(choice["finish_reason"], "length");
    EXPECT_EQ(r.body["usage"]["completion_tokens"], 0);
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], expected.tokens.size());
    const json& lp = choice["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), expected.tokens.size());
    ASSERT_EQ(lp["token_logprobs"].size(), expected.tokens.size());
    EXPECT_TRUE(lp["token_logprobs"][0].is_null());
    EXPECT_TRUE(lp["top_logprobs"][0].is_null());
    const Tokenizer& tokenizer = embedded_model()->tokenizer();
    for (std::size_t i = 0; i < expected.tokens.size(); ++i) {
        const std::string& piece = tokenizer.token_piece(expected.tokens[i]);
        EXPECT_EQ(lp["tokens"][i], piece);
        // Each token's text starts where the text of the tokens before it ends (the prompt is ASCII).
        const std::vector<std::int32_t> before(expected.tokens.begin(), expected.tokens.begin() + i);
        EXPECT_EQ(lp["text_offset"][i], prompt_text(before).size()) << i;
        if (i == 0) continue;
        const SampleResult& e = expected.logprobs[i - 1];
        EXPECT_EQ(lp["token_logprobs"][i].get<double>(), static_cast<double>(e.logprob));
        // The token itself and the one most likely alternative (one entry when they are the same).
        const json& top = lp["top_logprobs"][i];
        EXPECT_EQ(top.size(), e.top()[0].token == e.token ? 1u : 2u);
        EXPECT_EQ(top[piece].get<double>(), static_cast<double>(e.logprob));
        EXPECT_EQ(top[tokenizer.token_piece(e.top()[0].token)].get<double>(), static_cast<double>(e.top()[0].logprob));
    }
}

TEST_F(PromptLogprobsHttp, TextOffsetsCountCharactersAsOpenAIDoesNotBytes) {
    // "é" is two UTF-8 bytes, here two byte tokens; the offsets count it as one character.
    const std::string prompt = "Caf\u00e9 au lait, Once";
    const HttpReply r =
        post_json(*client, "/v1/completions",
                  {{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 0}, {"return_token_ids", true}});
    ASSERT_EQ(r.status, 200) << r.text;
    const json& choice = r.body["choices"][0];
    EXPECT_EQ(choice["text"], prompt);
    const json& offsets = choice["logprobs"]["text_offset"];
    ASSERT_EQ(offsets.size(), choice["prompt_token_ids"].size());
    EXPECT_EQ(offsets.front(), 0);
    for (std::size_t i = 1; i < offsets.size(); ++i) EXPECT_LE(offsets[i - 1], offsets[i]) << offsets.dump();
    EXPECT_EQ(choice["logprobs"]["tokens"].back(), " Once");
    EXPECT_EQ(offsets.back(), 13) << "\"Caf\u00e9 au lait,\" is 13 characters (14 bytes): " << offsets.dump();
}

TEST_F(PromptLogprobsHttp, EchoWithGenerationScoresThePromptThenTheOutput) {
    const HttpReply r = post_json(*client, "/v1/completions",
                                  {{"prompt", kPrompt},
                                   {"max_tokens", 5},
                                   {"echo", true},
                                   {"logprobs", 0},
                                   {"temperature", 0},
                                   {"return_token_ids", true}});
    ASSERT_EQ(r.status, 200) << r.text;
    const json& choice = r.body["choices"][0];
    const std::size_t num_prompt = choice["prompt_token_ids"].size();
    const json& lp = choice["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), num_prompt + 5);
    EXPECT_EQ(r.body["usage"]["completion_tokens"], 5);
    // The generated part keeps its offsets into the text (after the echoed prompt): each token's
    // text starts where the text of the tokens generated before it ends.
    const std::vector<std::int32_t> generated = choice["token_ids"];
    for (std::size_t j = 0; j < generated.size(); ++j) {
        const std::string before = embedded_model()->tokenizer().decode(
            std::vector<std::int32_t>(generated.begin(), generated.begin() + j), /*skip_special=*/true);
        EXPECT_EQ(lp["text_offset"][num_prompt + j], kPrompt.size() + before.size()) << j;
    }
    EXPECT_EQ(choice["text"], kPrompt + embedded_model()->tokenizer().decode(generated, true));
    for (std::size_t i = 1; i < num_prompt + 5; ++i) EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
}

TEST_F(PromptLogprobsHttp, VllmPromptLogprobsFieldListsTheTokenAndItsAlternatives) {
    const Scored expected = engine_scores(3);
    const HttpReply r = post_json(*client, "/v1/completions",
                                  {{"prompt", kPrompt}, {"max_tokens", 2}, {"prompt_logprobs", 3}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    const json& choice = r.body["choices"][0];
    EXPECT_TRUE(choice["logprobs"].is_null());  // no "logprobs": none for the output
    const json& pl = choice["prompt_logprobs"];
    ASSERT_EQ(pl.size(), expected.tokens.size());
    EXPECT_TRUE(pl[0].is_null());
    const Tokenizer& tokenizer = embedded_model()->tokenizer();
    for (std::size_t i = 1; i < expected.tokens.size(); ++i) {
        const SampleResult& e = expected.logprobs[i - 1];
        const json& entry = pl[i];
        const json& own = entry[std::to_string(expected.tokens[i])];
        EXPECT_EQ(own["logprob"].get<double>(), static_cast<double>(e.logprob));
        EXPECT_EQ(own["rank"], e.rank);
        EXPECT_EQ(own["decoded_token"], tokenizer.token_piece(expected.tokens[i]));
        EXPECT_GE(entry.size(), 3u);
        EXPECT_LE(entry.size(), 4u);
        for (std::size_t k = 0; k < 3; ++k) {
            const TokenLogprob& alt = e.top()[k];
            if (alt.token == e.token) continue;
            EXPECT_EQ(entry[std::to_string(alt.token)]["rank"], k + 1);
            EXPECT_EQ(entry[std::to_string(alt.token)]["logprob"].get<double>(), static_cast<double>(alt.logprob));
        }
    }
}

// Streamed, each choice opens with its echo (and the prompt's logprobs) or its prompt_logprobs,
// then its deltas: put together they are the whole response's choice.
TEST_F(PromptLogprobsHttp, StreamedChoicesOpenWithThePromptsScores) {
    const std::vector<json> bodies = {
        {{"prompt", json::array({kPrompt, "The cat sat"})},
         {"max_tokens", 4},
         {"echo", true},
         {"logprobs", 2},
         {"temperature", 0},
         {"n", 2}},
        {{"prompt", kPrompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}, {"temperature", 0}},
        {{"prompt", kPrompt}, {"max_tokens", 3}, {"prompt_logprobs", 2}, {"temperature", 0}},
    };
    for (json body : bodies) {
        SCOPED_TRACE(body.dump());
        const HttpReply whole = post_json(*client, "/v1/completions", body);
        ASSERT_EQ(whole.status, 200) << whole.text;
        body["stream"] = true;
        const SseReply streamed = post_stream(*client, "/v1/completions", body);
        ASSERT_EQ(streamed.status, 200);
        ASSERT_TRUE(streamed.done);
        for (const json& expected : whole.body["choices"]) {
            const std::size_t index = expected["index"];
            std::string text;
            json logprobs = {{"tokens", json::array()},
                             {"token_logprobs", json::array()},
                             {"top_logprobs", json::array()},
                             {"text_offset", json::array()}};
            json prompt_logprobs;
            json finish;
            int chunks = 0;
            for (const json& e : streamed.events) {
                for (const json& c : e["choices"]) {
                    if (c["index"] != index) continue;
                    if (chunks++ == 0 && body.contains("prompt_logprobs")) prompt_logprobs = c["prompt_logprobs"];
                    text += c["text"].get<std::string>();
                    if (!c["logprobs"].is_null()) {
                        for (auto& [key, list] : logprobs.items()) {
                            for (const json& v : c["logprobs"][key]) list.push_back(v);
                        }
                    }
                    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
                }
            }
            EXPECT_EQ(text, expected["text"]);
            EXPECT_EQ(finish, expected["finish_reason"]);
            if (!expected["logprobs"].is_null()) {
                EXPECT_EQ(logprobs, expected["logprobs"]);
            }
            if (expected.contains("prompt_logprobs")) {
                EXPECT_EQ(prompt_logprobs, expected["prompt_logprobs"]);
            }
        }
    }
}

TEST_F(PromptLogprobsHttp, WhatCannotBeServedIsRefusedNamingTheField) {
    struct Case {
        std::string path;
        json body;
        std::string param;
    };
    const std::vector<Case> cases = {
        {"/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 0}}, "max_tokens"},
        {"/v1/completions", {{"prompt", kPrompt}, {"prompt_logprobs", 21}}, "prompt_logprobs"},
        {"/v1/completions", {{"prompt", kPrompt}, {"prompt_logprobs", "all"}}, "prompt_logprobs"},
        {"/v1/chat/completions",
         {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}, {"prompt_logprobs", 1}},
         "prompt_logprobs"},
    };
    for (const Case& c : cases) {
        const HttpReply r = post_json(*client, c.path, c.body);
        EXPECT_EQ(r.status, 400) << c.body.dump() << " -> " << r.text;
        EXPECT_EQ(r.body["error"]["param"], c.param) << c.body.dump() << " -> " << r.text;
    }
}

}  // namespace prompt_logprobs_http_test
}  // namespace kvscope::test
