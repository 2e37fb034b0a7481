// POST /tokenize and /detokenize as vLLM serves them: llama2.c's known ids for a prompt, the same
// tokens the completion and chat endpoints run (their prompt_token_ids), the vocabulary strings
// on request, text back from ids, the model names served, bad bodies as 400s naming the field, and
// the API key asked for as on /v1/. GET /v1/kv/vocabulary: pieces that spell tokenised text back,
// byte tokens as bytes, the control tokens listed, and a damaged body refused by its reader.

#include <gtest/gtest.h>

#include "app/server/vocabulary_json.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace tokenize_http_test {

using nlohmann::json;

class TokenizeHttp : public ::testing::Test {
protected:
    TestServer server;
    std::unique_ptr<httplib::Client> client = server.client();
};

TEST_F(TokenizeHttp, APromptGivesLlama2csIds) {
    const HttpReply r = post_json(*client, "/tokenize", {{"prompt", "Once upon a time"}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["tokens"], json({1, 403, 407, 261, 378}));  // BOS, then llama2.c's tokenizer
    EXPECT_EQ(r.body["count"], 5);
    EXPECT_EQ(r.body["max_model_len"], server.loop.info().plan.max_model_len);
    EXPECT_TRUE(r.body["token_strs"].is_null());

    const HttpReply plain =
        post_json(*client, "/tokenize", {{"prompt", "Once upon a time"}, {"add_special_tokens", false}});
    ASSERT_EQ(plain.status, 200) << plain.text;
    EXPECT_EQ(plain.body["tokens"], json({403, 407, 261, 378}));

    const HttpReply strs = post_json(
        *client, "/tokenize", {{"prompt", "Once upon a time"}, {"return_token_strs", true}, {"model", "stories260K"}});
    ASSERT_EQ(strs.status, 200) << strs.text;
    EXPECT_EQ(strs.body["token_strs"], json({"<s>", "\u2581Once", "\u2581upon", "\u2581a", "\u2581time"}));
}

TEST_F(TokenizeHttp, TheTokensAreThoseTheCompletionAndChatRun) {
    const std::string prompt = "The little dog said \"hi\" twice.\nThen it ran.";
    const HttpReply completion =
        post_json(*client, "/v1/completions", {{"prompt", prompt}, {"max_tokens", 1}, {"return_token_ids", true}});
    ASSERT_EQ(completion.status, 200) << completion.text;
    const HttpReply tokens = post_json(*client, "/tokenize", {{"prompt", prompt}});
    ASSERT_EQ(tokens.status, 200) << tokens.text;
    EXPECT_EQ(tokens.body["tokens"], completion.body["choices"][0]["prompt_token_ids"]);
    EXPECT_EQ(tokens.body["count"], completion.body["usage"]["prompt_tokens"]);

    const json messages = json::array({{{"role", "user"}, {"content", "Tell me a story."}}});
    const HttpReply chat = post_json(*client, "/v1/chat/completions",
                                     {{"messages", messages}, {"max_tokens", 1}, {"return_token_ids", true}});
    ASSERT_EQ(chat.status, 200) << chat.text;
    const HttpReply chatTokens = post_json(*client, "/tokenize", {{"messages", messages}});
    ASSERT_EQ(chatTokens.status, 200) << chatTokens.text;
    EXPECT_EQ(chatTokens.body["tokens"], chat.body["choices"][0]["prompt_token_ids"]);
    const HttpReply noBos = post_json(*client, "/tokenize", {{"messages", messages}, {"add_special_tokens", false}});
    ASSERT_EQ(noBos.status, 200) << noBos.text;
    json withoutFirst = chatTokens.body["tokens"];
    withoutFirst.erase(withoutFirst.begin());
    EXPECT_EQ(noBos.body["tokens"], withoutFirst);  // the same conversation without BOS
}

// A client that renders the chat template itself and posts the text as a completion prompt gets
// the tokens the chat endpoint runs: special-token texts in a text prompt are those tokens (as
// vLLM's and llama.cpp's servers read them).
TEST_F(TokenizeHttp, SpecialTokenTextsInATextPromptAreThoseTokens) {
    const std::vector<ChatMessage> conversation = {{"user", "Tell me a story."}};
    const json messages = json::array({{{"role", "user"}, {"content", "Tell me a story."}}});
    const HttpReply chat = post_json(*client, "/v1/chat/completions",
                                     {{"messages", messages}, {"max_tokens", 1}, {"return_token_ids", true}});
    ASSERT_EQ(chat.status, 200) << chat.text;
    const std::string rendered = embedded_model()->chat_template().apply(conversation, true);
    const HttpReply completion =
        post_json(*client, "/v1/completions", {{"prompt", rendered}, {"max_tokens", 1}, {"return_token_ids", true}});
    ASSERT_EQ(completion.status, 200) << completion.text;
    EXPECT_EQ(completion.body["choices"][0]["prompt_token_ids"], chat.body["choices"][0]["prompt_token_ids"])
        << rendered;

    const Tokenizer& tokenizer = embedded_model()->tokenizer();
    const HttpReply eos = post_json(*client, "/tokenize", {{"prompt", "Once</s>"}, {"add_special_tokens", false}});
    ASSERT_EQ(eos.status, 200) << eos.text;
    EXPECT_EQ(eos.body["tokens"].back(), tokenizer.eos_id()) << eos.text;

    // Echoed, the text shows "</s>" and the offsets count it (the BOS that was added, not).
    const HttpReply echo = post_json(*client, "/v1/completions",
                                     {{"prompt", "Once</s>"}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 0}});
    ASSERT_EQ(echo.status, 200) << echo.text;
    const json& choice = echo.body["choices"][0];
    EXPECT_EQ(choice["text"], "Once</s>");
    EXPECT_EQ(choice["logprobs"]["tokens"], json::array({"<s>", " Once", "</s>"}));
    EXPECT_EQ(choice["logprobs"]["text_offset"], json::array({0, 0, 4}));
}

TEST_F(TokenizeHttp, DetokenizeGivesTheTextBack) {
    const std::string text = "Once upon a time, there was a kite.\nIt flew.";
    const HttpReply tokens = post_json(*client, "/tokenize", {{"prompt", text}, {"add_special_tokens", false}});
    ASSERT_EQ(tokens.status, 200) << tokens.text;
    const HttpReply back = post_json(*client, "/detokenize", {{"tokens", tokens.body["tokens"]}});
    ASSERT_EQ(back.status, 200) << back.text;
    EXPECT_EQ(back.body["prompt"], text);
    EXPECT_EQ(post_json(*client, "/detokenize", {{"tokens", json::array()}}).body["prompt"], "");
    // Special tokens are spelled out (as vLLM's tokenizer.decode does by default).
    EXPECT_EQ(post_json(*client, "/detokenize", {{"tokens", {1, 403}}}).body["prompt"], "<s> Once");
}

TEST_F(TokenizeHttp, BadBodiesAreFourHundredsNamingTheField) {
    expect_error_shape(post_json(*client, "/tokenize", json::object()), 400, "prompt");
    expect_error_shape(post_json(*client, "/tokenize", {{"prompt", 5}}), 400, "prompt");
    expect_error_shape(
        post_json(*client, "/tokenize", {{"prompt", "x"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}), 400,
        "messages");
    expect_error_shape(post_json(*client, "/tokenize", {{"messages", "hi"}}), 400, "messages");
    expect_error_shape(post_json(*client, "/tokenize", {{"prompt", "x"}, {"add_special_tokens", "yes"}}), 400,
                       "add_special_tokens");
    expect_error_shape(
        post_json(*client, "/tokenize",
                  {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"continue_final_message", true}}),
        400, "continue_final_message");
    const HttpReply model = post_json(*client, "/tokenize", {{"prompt", "x"}, {"model", "gpt-4"}});
    expect_error_shape(model, 404, "model");
    EXPECT_EQ(model.body["error"]["code"], "model_not_found");

    expect_error_shape(post_json(*client, "/detokenize", json::object()), 400, "tokens");
    expect_error_shape(post_json(*client, "/detokenize", {{"tokens", "1 2"}}), 400, "tokens");
    expect_error_shape(post_json(*client, "/detokenize", {{"tokens", {1, 2.5}}}), 400, "tokens");
    const HttpReply outside = post_json(*client, "/detokenize", {{"tokens", {1, 512}}});
    expect_error_shape(outside, 400, "tokens");
    EXPECT_NE(outside.body["error"]["message"].get<std::string>().find("[0, 511]"), std::string::npos) << outside.text;
    expect_error_shape(post_json(*client, "/detokenize", {{"tokens", {std::numeric_limits<std::uint64_t>::max()}}}),
                       400, "tokens");
    expect_error_shape(to_reply(client->Post("/tokenize", "not json", "application/json")), 400);
}

TEST_F(TokenizeHttp, TheVocabularySpellsTokenisedTextBack) {
    const HttpReply r = get(*client, "/v1/kv/vocabulary");
    ASSERT_EQ(r.status, 200) << r.text.substr(0, 200);
    EXPECT_EQ(r.body["model"], "stories260K");
    ASSERT_EQ(r.body["size"], 512);
    const json& pieces = r.body["pieces"];
    ASSERT_EQ(pieces.size(), 512u);
    EXPECT_EQ(pieces[403], " Once");                // "▁Once": the space it stands for
    EXPECT_EQ(pieces[3 + 'A'], "A");                // llama2.c's byte tokens <0x00>.. start at id 3
    EXPECT_EQ(pieces[3 + 0xE2], json({0xE2}));      // a lone UTF-8 lead byte: a list of bytes
    EXPECT_EQ(r.body["special"], json({0, 1, 2}));  // <unk>, <s>, </s>

    std::string error;
    const std::optional<server::VocabularyPieces> v = server::vocabulary_from_json(r.body, error);
    ASSERT_TRUE(v) << error;
    // The pieces of the tokens of a text (a UTF-8 character made of byte tokens in it) spell it,
    // after the one space the tokenizer puts in front.
    const std::string text = "Once upon a time, a cat saw a \u2603 and ran.\nThe end.";
    const HttpReply tokens = post_json(*client, "/tokenize", {{"prompt", text}, {"add_special_tokens", false}});
    ASSERT_EQ(tokens.status, 200) << tokens.text;
    std::string spelled;
    for (std::int32_t id : tokens.body["tokens"].get<std::vector<std::int32_t>>()) spelled += v->pieces.at(id);
    EXPECT_EQ(spelled, " " + text);
    EXPECT_TRUE(v->special[1] && v->special[2] && !v->special[403]);

    json damaged = r.body;
    damaged["pieces"][7] = 3.5;
    EXPECT_FALSE(server::vocabulary_from_json(damaged, error));
    EXPECT_NE(error.find("piece 7"), std::string::npos) << error;
    damaged = r.body;
    damaged["pieces"][7] = json({300});
    EXPECT_FALSE(server::vocabulary_from_json(damaged, error));
    damaged = r.body;
    damaged["special"] = json({512});
    EXPECT_FALSE(server::vocabulary_from_json(damaged, error));
    EXPECT_NE(error.find("512"), std::string::npos) << error;
    damaged = r.body;
    damaged["size"] = 511;
    EXPECT_FALSE(server::vocabulary_from_json(damaged, error));
    EXPECT_FALSE(server::vocabulary_from_json(json::array(), error));
}

TEST(TokenizeHttpKey, TheApiKeyIsAskedForAsOnV1) {
    server::ServerOptions o;
    o.api_key = "sk-tok";
    TestServer s(o);
    auto c = s.client();
    expect_error_shape(post_json(*c, "/tokenize", {{"prompt", "x"}}), 401);
    expect_error_shape(post_json(*c, "/detokenize", {{"tokens", {1}}}), 401);
    expect_error_shape(get(*c, "/v1/kv/vocabulary"), 401);
    EXPECT_EQ(get(*c, "/v1/kv/vocabulary", {{"Authorization", "Bearer sk-tok"}}).status, 200);
    EXPECT_EQ(post_json(*c, "/tokenize", {{"prompt", "x"}}, {{"Authorization", "Bearer sk-tok"}}).status, 200);
    EXPECT_EQ(post_json(*c, "/detokenize", {{"tokens", {1}}}, {{"Authorization", "Bearer sk-tok"}}).status, 200);
    EXPECT_EQ(get(*c, "/health").status, 200);
}

}  // namespace tokenize_http_test
}  // namespace kvscope::test
