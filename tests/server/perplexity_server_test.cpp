// Perplexity measured at a server (app/server/perplexity_client): `kvscope-cli perplexity --url`
// against a kvscope server on the embedded model gives llama-perplexity's figures (as the local
// run does: cli_perplexity_test), chunks scored out of order come back in text order, vLLM's
// prompt_logprobs read back by hand, and every failure is a one-line reason.

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "app/server/perplexity_client.h"
#include "engine/error.h"
#include "tests/server/test_server.h"
#include "tests/support/cli_run.h"
#include "tests/support/paths.h"

namespace kvscope::test {
namespace perplexity_server_test {

using nlohmann::json;

const std::string kStory =
    (std::filesystem::path(KVSCOPE_SOURCE_DIR) / "resources" / "texts" / "kite_story.txt").string();
const std::vector<double> kLlamaRunning = {5.8971, 5.1109, 6.0527, 5.2238, 5.0851, 5.3428, 5.1727};
constexpr double kLlamaPpl = 5.1727, kLlamaError = 0.43788;

CliResult cli(const std::vector<std::string>& args) {
    return run_cli(KVSCOPE_CLI, args);
}

TEST(PerplexityAtServer, TheCliAgreesWithLlamaPerplexityThroughAServer) {
    TestServer server;
    const CliResult r = cli({"perplexity", "--url", server.url(), "--file", kStory, "--ctx", "128"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<double> running;
    const std::regex chunk(R"(\[(\d+)\]([0-9.]+),)");
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), chunk); it != std::sregex_iterator(); ++it) {
        EXPECT_EQ(std::stoi((*it)[1]), static_cast<int>(running.size()) + 1);  // in text order
        running.push_back(std::stod((*it)[2]));
    }
    ASSERT_EQ(running.size(), kLlamaRunning.size()) << r.out;
    for (std::size_t i = 0; i < running.size(); ++i) EXPECT_NEAR(running[i], kLlamaRunning[i], 5e-4 * kLlamaRunning[i]);
    std::smatch final;
    ASSERT_TRUE(std::regex_search(r.out, final, std::regex(R"(Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+))")))
        << r.out;
    EXPECT_NEAR(std::stod(final[1]), kLlamaPpl, 2e-4 * kLlamaPpl);
    EXPECT_NEAR(std::stod(final[2]), kLlamaError, 2e-3 * kLlamaError);
    EXPECT_NE(r.err.find("perplexity of stories260K at " + server.url()), std::string::npos) << r.err;
    // Every chunk ran at the server and gave its blocks back.
    const server::ServingState state = server.wait_ended(7);
    EXPECT_GE(state.engine.metrics.request_success_length, 7);

    const CliResult j = cli({"perplexity", "--url", server.url() + "/", "--file", kStory, "--ctx", "128", "--chunks",
                             "3", "--score", "all", "--json", "--concurrency", "2"});
    ASSERT_EQ(j.exit_code, 0) << j.err;
    const json out = json::parse(j.out);
    EXPECT_EQ(out["num_chunks"], 3);
    EXPECT_EQ(out["scored_tokens"], 3 * 127);
    EXPECT_EQ(out["score"], "all");
    EXPECT_EQ(out["url"], server.url());
    EXPECT_TRUE(out["cache_dtype"].is_null());
    ASSERT_EQ(out["chunks"].size(), 3u);
    EXPECT_EQ(out["chunks"][2]["index"], 3);
}

TEST(PerplexityAtServer, ChunksComeBackInTextOrderFromManyInFlight) {
    TestServer server;
    server::ServerPerplexityOptions o;
    o.url = server.url();
    o.concurrency = 7;
    auto client = server::perplexity_client(o);
    std::string text;
    for (int i = 0; i < 6; ++i) text += "Once upon a time, a kite flew over the hill and the dog ran after it. ";
    const server::ServerText t = server::tokenize_at_server(*client, "", text);
    EXPECT_EQ(t.bos, std::optional<std::int32_t>(1));
    EXPECT_EQ(t.max_model_len, server.loop.info().plan.max_model_len);
    EXPECT_EQ(t.tokens, embedded_model()->tokenizer().encode(text, true, false));
    PerplexityOptions p;
    p.context = 16;
    const auto chunks = perplexity_chunks(t.tokens, t.bos, p);
    ASSERT_GE(chunks.size(), 7u);
    std::vector<std::int32_t> order;
    const auto results =
        server::run_server_perplexity(o, "", chunks, p, [&](const PerplexityChunk& c) { order.push_back(c.index); });
    ASSERT_EQ(order.size(), chunks.size());
    for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], static_cast<std::int32_t>(i));
    for (const PerplexityChunk& c : results) EXPECT_EQ(c.num_scored, scored_per_chunk(p));
}

TEST(PerplexityAtServer, VllmsPromptLogprobsAreReadPerPromptToken) {
    const std::vector<std::int32_t> prompt = {1, 40, 41};
    const json list = json::array({nullptr,
                                   {{"40", {{"logprob", -2.5}, {"rank", 3}, {"decoded_token", "a"}}},
                                    {"7", {{"logprob", -0.1}, {"rank", 1}}},
                                    {"8", {{"logprob", -1.0}, {"rank", 2}}}},
                                   {{"41", {{"logprob", -0.25}, {"rank", 1}}}}});
    std::string error;
    const auto scored = server::prompt_logprobs_from_json(list, prompt, 2, error);
    ASSERT_TRUE(scored) << error;
    ASSERT_EQ(scored->size(), 2u);
    EXPECT_EQ((*scored)[0].token, 40);
    EXPECT_FLOAT_EQ((*scored)[0].logprob, -2.5f);
    EXPECT_EQ((*scored)[0].rank, 3);
    ASSERT_EQ((*scored)[0].num_top_logprobs, 2);  // the two likeliest of three, most likely first
    EXPECT_EQ((*scored)[0].top_logprobs[0].token, 7);
    EXPECT_EQ((*scored)[0].top_logprobs[1].token, 8);
    EXPECT_FLOAT_EQ((*scored)[1].logprob, -0.25f);

    EXPECT_FALSE(server::prompt_logprobs_from_json(json::array({nullptr}), prompt, 0, error));
    EXPECT_NE(error.find("should list 3 entries"), std::string::npos) << error;
    json missing = list;
    missing[2] = {{"42", {{"logprob", -1.0}}}};
    EXPECT_FALSE(server::prompt_logprobs_from_json(missing, prompt, 0, error));
    EXPECT_NE(error.find("entry 2: no logprob for the prompt's token 41"), std::string::npos) << error;
    json text = list;
    text[1]["40"]["logprob"] = "low";
    EXPECT_FALSE(server::prompt_logprobs_from_json(text, prompt, 0, error));
    EXPECT_FALSE(server::prompt_logprobs_from_json(json("none"), prompt, 0, error));
}

TEST(PerplexityAtServer, FailuresAreOneLineReasons) {
    TestServer server;
    const auto fails = [](const std::vector<std::string>& args, const std::string& why) {
        const CliResult r = cli(args);
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    };
    fails({"perplexity", "--url", server.url(), "--file", kStory, "--cache-dtype", "f16"},
          "--cache-dtype does not apply with --url");
    fails({"perplexity", "--url", server.url(), "--file", kStory, "--served-model", "nope"},
          "the model 'nope' does not exist here");
    fails({"perplexity", "--url", server.url(), "--file", kStory, "--ctx", "1024"}, "fewer than one chunk of 1024");
    EngineConfig shortContext = small_engine_config();
    shortContext.max_model_len = 256;
    TestServer shortServer({}, shortContext);
    fails({"perplexity", "--url", shortServer.url(), "--file", kStory, "--ctx", "300"},
          "needs a context of at least 301");
    fails({"perplexity", "--concurrency", "2", "--file", kStory}, "--concurrency goes with --url");
    fails({"perplexity", "--url", server.url()}, "--file PATH is required");

    // A server without /tokenize (an HTTP server that knows no such route).
    httplib::Server bare;
    const int port = bare.bind_to_any_port("127.0.0.1");
    std::thread serving([&] { bare.listen_after_bind(); });
    while (!bare.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    fails({"perplexity", "--url", "http://127.0.0.1:" + std::to_string(port), "--served-model", "m", "--file", kStory},
          "the server has no /tokenize");
    bare.stop();
    serving.join();
    fails({"perplexity", "--url", "http://127.0.0.1:" + std::to_string(port), "--file", kStory}, "cannot reach");
}

}  // namespace perplexity_server_test
}  // namespace kvscope::test
