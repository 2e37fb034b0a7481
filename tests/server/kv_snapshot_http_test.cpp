// GET /v1/kv/snapshot: the JSON the inspector draws from, checked against the engine's own
// snapshot and read back into an EngineSnapshot (remote attach); its streaming form ends after
// max_events with [DONE]; bad parameters are 400s.

#include <gtest/gtest.h>

#include <future>

#include "app/server/kv_snapshot_json.h"
#include "engine/engine.h"
#include "tests/server/test_server.h"

namespace kvscope::test {
namespace kv_snapshot_http_test {

using nlohmann::json;

// An engine in the middle of things: sequences running, some blocks shared (n = 2, a common
// prefix), some cached.
server::ServingState busy_state(Engine& engine) {
    const std::vector<std::int32_t> prefix(40, 403);
    for (int i = 0; i < 3; ++i) {
        Request r;
        r.prompt_token_ids = prefix;
        r.prompt_token_ids.push_back(300 + i);
        r.params.max_tokens = 30;
        r.params.n = i == 0 ? 2 : 1;
        r.params.seed = 1;
        r.params.ignore_eos = true;
        engine.add_request(r);
    }
    for (int s = 0; s < 6; ++s) engine.step();
    return server::ServingState{engine.snapshot(),
                                server::ServingMetrics(engine.cache_plan().max_model_len),
                                {{1, "cmpl-a"}, {2, "cmpl-b"}, {3, "cmpl-c"}}};
}

void expect_same_kv(const KvSnapshot& a, const KvSnapshot& b) {
    ASSERT_EQ(a.blocks.size(), b.blocks.size());
    for (std::size_t i = 0; i < a.blocks.size(); ++i) {
        EXPECT_EQ(a.blocks[i].id, b.blocks[i].id);
        EXPECT_EQ(a.blocks[i].state, b.blocks[i].state) << i;
        EXPECT_EQ(a.blocks[i].ref_count, b.blocks[i].ref_count) << i;
        EXPECT_EQ(a.blocks[i].num_tokens, b.blocks[i].num_tokens) << i;
        EXPECT_EQ(a.blocks[i].hash.has_value(), b.blocks[i].hash.has_value()) << i;
        if (a.blocks[i].hash && b.blocks[i].hash) {
            EXPECT_TRUE(*a.blocks[i].hash == *b.blocks[i].hash) << i;
        }
        EXPECT_EQ(a.blocks[i].last_used_step, b.blocks[i].last_used_step) << i;
        const auto oa = a.owners(a.blocks[i].id), ob = b.owners(b.blocks[i].id);
        EXPECT_EQ(std::vector<SeqId>(oa.begin(), oa.end()), std::vector<SeqId>(ob.begin(), ob.end())) << i;
    }
    ASSERT_EQ(a.sequences.size(), b.sequences.size());
    for (std::size_t i = 0; i < a.sequences.size(); ++i) {
        EXPECT_EQ(a.sequences[i].id, b.sequences[i].id);
        const auto ta = a.block_table(a.sequences[i]), tb = b.block_table(b.sequences[i]);
        EXPECT_EQ(std::vector<int>(ta.begin(), ta.end()), std::vector<int>(tb.begin(), tb.end()));
    }
    EXPECT_EQ(a.free_queue, b.free_queue);
    EXPECT_EQ(a.stats.num_used_blocks, b.stats.num_used_blocks);
    EXPECT_EQ(a.stats.num_cached_free_blocks, b.stats.num_cached_free_blocks);
    EXPECT_EQ(a.stats.num_free_blocks, b.stats.num_free_blocks);
    EXPECT_EQ(a.stats.num_filled_slots, b.stats.num_filled_slots);
    EXPECT_EQ(a.stats.num_shared_blocks, b.stats.num_shared_blocks);
    EXPECT_EQ(a.stats.num_saved_blocks, b.stats.num_saved_blocks);
    EXPECT_EQ(a.stats.num_prefix_hit_tokens, b.stats.num_prefix_hit_tokens);
    EXPECT_EQ(a.stats.block_size, b.stats.block_size);
    EXPECT_EQ(a.stats.num_blocks, b.stats.num_blocks);
}

TEST(KvSnapshotJson, RoundTripsAnEngineSnapshotWithAndWithoutFreeBlocks) {
    Engine engine(embedded_model(), small_engine_config());
    const server::ServingState state = busy_state(engine);
    ASSERT_GT(state.engine.kv.stats.num_shared_blocks, 0);  // the fixture shares blocks
    server::ServingInfo info{embedded_model(), engine.config(), engine.cache_plan(), "cpu", {}};
    for (bool include_free : {true, false}) {
        const json j = server::kv_snapshot_json(state, info, "m", include_free);
        const std::size_t listed = j["blocks"].size();
        EXPECT_EQ(listed, include_free ? 256u : 256u - static_cast<std::size_t>(state.engine.kv.stats.num_free_blocks));
        // Through text, as a client gets it.
        const server::RemoteKvSnapshot back = server::kv_snapshot_from_json(json::parse(j.dump()));
        EXPECT_EQ(back.model, "m");
        EXPECT_EQ(back.engine.step, state.engine.step);
        EXPECT_EQ(back.engine.block_bytes, state.engine.block_bytes);
        expect_same_kv(state.engine.kv, back.engine.kv);
        ASSERT_EQ(back.engine.sequences.size(), state.engine.sequences.size());
        for (std::size_t i = 0; i < back.engine.sequences.size(); ++i) {
            const SequenceSnapshot &a = state.engine.sequences[i], &b = back.engine.sequences[i];
            EXPECT_EQ(a.id, b.id);
            EXPECT_EQ(a.request_id, b.request_id);
            EXPECT_EQ(a.sample_index, b.sample_index);
            EXPECT_EQ(a.status, b.status);
            EXPECT_EQ(a.num_tokens, b.num_tokens);
            EXPECT_EQ(a.num_computed_tokens, b.num_computed_tokens);
        }
        EXPECT_EQ(back.labels.at(1), "cmpl-a");
        EXPECT_EQ(back.engine.metrics.generation_tokens, state.engine.metrics.generation_tokens);
        EXPECT_EQ(back.engine.metrics.num_requests_running, state.engine.metrics.num_requests_running);
    }
}

TEST(KvSnapshotJson, RejectsWhatIsNotASnapshot) {
    EXPECT_THROW(server::kv_snapshot_from_json(json::object()), server::SnapshotFormatError);
    EXPECT_THROW(server::kv_snapshot_from_json(json{{"object", "kv.snapshot"}}), server::SnapshotFormatError);
    Engine engine(embedded_model(), small_engine_config());
    const server::ServingState state = busy_state(engine);
    const server::ServingInfo info{embedded_model(), engine.config(), engine.cache_plan(), "cpu", {}};
    json j = server::kv_snapshot_json(state, info, "m", false);
    j["blocks"][0]["state"] = "lost";
    EXPECT_THROW(server::kv_snapshot_from_json(j), server::SnapshotFormatError);
    j = server::kv_snapshot_json(state, info, "m", false);
    j["blocks"][0]["id"] = 100000;
    EXPECT_THROW(server::kv_snapshot_from_json(j), server::SnapshotFormatError);
    j = server::kv_snapshot_json(state, info, "m", false);
    j["blocks"][0]["hash"] = "xyz";
    EXPECT_THROW(server::kv_snapshot_from_json(j), server::SnapshotFormatError);
}

TEST(KvSnapshotHttp, ShowsARunningRequestUnderItsApiIdAndTheEngineIdItsResponseNamed) {
    TestServer server;
    std::promise<std::string> id;
    std::promise<void> looked;
    std::string named_ids;  // the response's X-Kvscope-Request-Ids
    std::thread streamer([&] {
        auto c = server.client();
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.body =
            json{{"prompt", "Once upon a time"}, {"max_tokens", 1800}, {"ignore_eos", true}, {"stream", true}}.dump();
        req.set_header("Content-Type", "application/json");
        req.response_handler = [&](const httplib::Response& res) {
            named_ids = res.get_header_value("X-Kvscope-Request-Ids");
            return true;
        };
        server::SseParser parser;
        bool first = true;
        req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
            std::vector<std::string> events;
            parser.feed(std::string_view(data, n), events);
            if (first && !events.empty()) {
                first = false;
                id.set_value(json::parse(events.front())["id"]);
                looked.get_future().wait();
                return false;
            }
            return true;
        };
        c->send(req);
    });
    const std::string api_id = id.get_future().get();
    auto client = server.client();
    const HttpReply r = get(*client, "/v1/kv/snapshot?include_free=false");
    looked.set_value();
    streamer.join();
    ASSERT_EQ(r.status, 200) << r.text;
    const json& j = r.body;
    EXPECT_EQ(j["object"], "kv.snapshot");
    EXPECT_EQ(j["num_blocks"], 256);
    EXPECT_EQ(j["block_size"], 16);
    ASSERT_EQ(j["sequences"].size(), 1u);
    const json& seq = j["sequences"][0];
    EXPECT_EQ(seq["request_id"], api_id);
    EXPECT_EQ(named_ids, std::to_string(seq["engine_request_id"].get<std::int64_t>()));
    EXPECT_EQ(seq["status"], "running");
    ASSERT_FALSE(seq["block_table"].empty());
    // Its blocks are active and owned by it.
    for (int b : seq["block_table"]) {
        bool found = false;
        for (const json& block : j["blocks"]) {
            if (block["id"] != b) continue;
            found = true;
            EXPECT_EQ(block["state"], "active");
            EXPECT_EQ(block["owners"], json::array({seq["id"]}));
        }
        EXPECT_TRUE(found) << b;
    }
    EXPECT_EQ(j["stats"]["num_used_blocks"], seq["block_table"].size());
    EXPECT_EQ(server.wait_idle().engine.kv.stats.num_used_blocks, 0);
}

TEST(KvSnapshotHttp, StreamSendsMaxEventsThenDone) {
    TestServer server;
    auto client = server.client();
    std::string raw;
    server::SseParser parser;
    std::vector<std::string> events;
    const httplib::Result r = client->Get("/v1/kv/snapshot?stream=true&interval_ms=50&max_events=3&include_free=false",
                                          [&](const char* data, std::size_t n) {
                                              parser.feed(std::string_view(data, n), events);
                                              return true;
                                          });
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
    ASSERT_EQ(events.size(), 4u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(json::parse(events[static_cast<std::size_t>(i)])["object"], "kv.snapshot");
    EXPECT_EQ(events[3], "[DONE]");
}

TEST(KvSnapshotHttp, BadParametersAre400) {
    TestServer server;
    auto client = server.client();
    expect_error_shape(get(*client, "/v1/kv/snapshot?stream=maybe"), 400, "stream");
    expect_error_shape(get(*client, "/v1/kv/snapshot?stream=true&interval_ms=1"), 400, "interval_ms");
    expect_error_shape(get(*client, "/v1/kv/snapshot?stream=true&interval_ms=abc"), 400, "interval_ms");
    expect_error_shape(get(*client, "/v1/kv/snapshot?stream=true&max_events=0"), 400, "max_events");
    expect_error_shape(get(*client, "/v1/kv/snapshot?interval_ms=100"), 400, "interval_ms");
    const HttpReply whole = get(*client, "/v1/kv/snapshot");
    ASSERT_EQ(whole.status, 200);
    EXPECT_EQ(whole.body["blocks"].size(), 256u);  // free blocks listed by default
}

}  // namespace kv_snapshot_http_test
}  // namespace kvscope::test
