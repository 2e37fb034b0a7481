// Logprobs that name tokens by id (vLLM's return_tokens_as_token_ids) and the client's reading of
// them (server/chat_logprobs_reader): every token "token_id:<id>" equal to the choice's token_ids,
// the same logprobs and alternatives as the response that spells them as pieces, and read back
// into SampleResults; hand-written entries for the rank and for what a reader refuses.

#include <gtest/gtest.h>

#include "app/server/chat_logprobs_reader.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace logprobs_by_id_test {

using nlohmann::json;

std::string id_name(std::int32_t id) {
    return "token_id:" + std::to_string(id);
}

class LogprobsById : public ::testing::Test {
protected:
    TestServer server;
    std::unique_ptr<httplib::Client> client = server.client();
    const Tokenizer& tokenizer = server.loop.info().model->tokenizer();
};

TEST_F(LogprobsById, ChatNamesEveryTokenByIdWithTheSameFigures) {
    const json base = {{"messages", {{{"role", "user"}, {"content", "Once upon a time there was a"}}}},
                       {"max_tokens", 12},
                       {"temperature", 0},
                       {"logprobs", true},
                       {"top_logprobs", 4},
                       {"return_token_ids", true}};
    json by_id = base;
    by_id["return_tokens_as_token_ids"] = true;
    const HttpReply pieces = post_json(*client, "/v1/chat/completions", base);
    const HttpReply ids = post_json(*client, "/v1/chat/completions", by_id);
    ASSERT_EQ(pieces.status, 200) << pieces.text;
    ASSERT_EQ(ids.status, 200) << ids.text;
    const json& tokens = ids.body["choices"][0]["token_ids"];
    const json& a = pieces.body["choices"][0]["logprobs"]["content"];
    const json& b = ids.body["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(tokens, pieces.body["choices"][0]["token_ids"]);
    ASSERT_EQ(b.size(), tokens.size());
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < b.size(); ++i) {
        const std::int32_t id = tokens[i];
        EXPECT_EQ(b[i]["token"], id_name(id)) << i;
        EXPECT_EQ(a[i]["token"], tokenizer.token_piece(id)) << i;
        EXPECT_EQ(b[i]["bytes"], a[i]["bytes"]) << i;  // still the piece's bytes
        EXPECT_EQ(b[i]["logprob"], a[i]["logprob"]) << i;
        ASSERT_EQ(b[i]["top_logprobs"].size(), 4u);
        for (std::size_t k = 0; k < 4; ++k) {
            const json& alt = b[i]["top_logprobs"][k];
            const std::optional<std::int32_t> alt_id = server::token_id_of(alt["token"]);
            ASSERT_TRUE(alt_id) << alt.dump();
            EXPECT_EQ(tokenizer.token_piece(*alt_id), a[i]["top_logprobs"][k]["token"]) << i << " " << k;
            EXPECT_EQ(alt["logprob"], a[i]["top_logprobs"][k]["logprob"]);
        }
    }

    // Read back: the chosen tokens with their logprobs; greedy, so each is its step's likeliest.
    std::string error;
    const std::optional<std::vector<SampleResult>> read = server::chat_logprobs_from_json(b, error);
    ASSERT_TRUE(read) << error;
    ASSERT_EQ(read->size(), tokens.size());
    for (std::size_t i = 0; i < read->size(); ++i) {
        const SampleResult& r = (*read)[i];
        EXPECT_EQ(r.token, tokens[i].get<std::int32_t>());
        EXPECT_EQ(r.logprob, b[i]["logprob"].get<float>());
        EXPECT_EQ(r.num_top_logprobs, 4);
        EXPECT_EQ(r.top_logprobs[0].token, r.token);
        EXPECT_EQ(r.rank, 1);
    }
}

TEST_F(LogprobsById, StreamedChunksAndCompletionsNameTokensByIdToo) {
    const SseReply chat = post_stream(*client, "/v1/chat/completions",
                                      {{"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                                       {"max_tokens", 6},
                                       {"stream", true},
                                       {"logprobs", true},
                                       {"top_logprobs", 2},
                                       {"return_token_ids", true},
                                       {"return_tokens_as_token_ids", true}});
    ASSERT_EQ(chat.status, 200);
    std::size_t named = 0;
    for (const json& e : chat.events) {
        const json& c = e["choices"][0];
        if (!c.contains("token_ids") || c["token_ids"].empty()) continue;
        ASSERT_EQ(c["logprobs"]["content"].size(), c["token_ids"].size()) << e.dump();
        for (std::size_t i = 0; i < c["token_ids"].size(); ++i, ++named)
            EXPECT_EQ(c["logprobs"]["content"][i]["token"], id_name(c["token_ids"][i]));
    }
    EXPECT_EQ(named, 6u);

    const HttpReply completion = post_json(*client, "/v1/completions",
                                           {{"prompt", "Once upon a time"},
                                            {"max_tokens", 5},
                                            {"temperature", 0},
                                            {"logprobs", 2},
                                            {"return_token_ids", true},
                                            {"return_tokens_as_token_ids", true}});
    ASSERT_EQ(completion.status, 200) << completion.text;
    const json& c = completion.body["choices"][0];
    ASSERT_EQ(c["logprobs"]["tokens"].size(), 5u);
    const std::vector<std::int32_t> ids = c["token_ids"];
    for (std::size_t i = 0; i < 5; ++i) {
        const std::int32_t id = ids[i];
        EXPECT_EQ(c["logprobs"]["tokens"][i], id_name(id));
        EXPECT_TRUE(c["logprobs"]["top_logprobs"][i].contains(id_name(id))) << c["logprobs"]["top_logprobs"][i];
        // Offsets still count the text: the text of the tokens before this one (ASCII here).
        const std::string before = tokenizer.decode(std::vector<std::int32_t>(ids.begin(), ids.begin() + i), true);
        EXPECT_EQ(c["logprobs"]["text_offset"][i], before.size());
    }
    expect_error_shape(post_json(*client, "/v1/completions", {{"prompt", "x"}, {"return_tokens_as_token_ids", "yes"}}),
                       400, "return_tokens_as_token_ids");
}

TEST(ChatLogprobsReader, RanksFromTheAlternativesAndRefusesWhatIsNoId) {
    const json content = json::parse(R"([
        {"token": "token_id:7", "logprob": -0.5, "bytes": [97],
         "top_logprobs": [{"token": "token_id:9", "logprob": -0.25}, {"token": "token_id:7", "logprob": -0.5},
                          {"token": "token_id:3", "logprob": -2.0}]},
        {"token": "token_id:11", "logprob": -9999, "top_logprobs": [{"token": "token_id:2", "logprob": -0.1}]},
        {"token": "token_id:12", "logprob": -1.5}
    ])");
    std::string error;
    const std::optional<std::vector<SampleResult>> r = server::chat_logprobs_from_json(content, error);
    ASSERT_TRUE(r) << error;
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0].token, 7);
    EXPECT_EQ((*r)[0].logprob, -0.5f);
    EXPECT_EQ((*r)[0].rank, 2);  // only token 9 is likelier
    ASSERT_EQ((*r)[0].num_top_logprobs, 3);
    EXPECT_EQ((*r)[0].top_logprobs[2].token, 3);
    EXPECT_EQ((*r)[0].top_logprobs[2].logprob, -2.0f);
    EXPECT_EQ((*r)[1].rank, 0);  // not among the alternatives: the server did not say
    EXPECT_EQ((*r)[1].logprob, -9999.0f);
    EXPECT_EQ((*r)[2].num_top_logprobs, 0);
    EXPECT_EQ((*r)[2].rank, 0);

    for (const char* bad :
         {R"([{"token": "a", "logprob": -1}])", R"([{"token": "token_id:", "logprob": -1}])",
          R"([{"token": "token_id:-3", "logprob": -1}])", R"([{"token": "token_id:4x", "logprob": -1}])",
          R"([{"token": "token_id:4", "logprob": "low"}])", R"([{"token": "token_id:4"}])",
          R"([{"token": "token_id:4", "logprob": -1, "top_logprobs": [{"token": "b", "logprob": 0}]}])", R"([5])",
          R"({"token": "token_id:4"})"}) {
        error.clear();
        EXPECT_FALSE(server::chat_logprobs_from_json(json::parse(bad), error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    EXPECT_EQ(server::token_id_of("token_id:2147483647"), 2147483647);
    EXPECT_FALSE(server::token_id_of("token_id:2147483648"));
    EXPECT_FALSE(server::token_id_of(json(12)));
}

}  // namespace logprobs_by_id_test
}  // namespace kvscope::test
