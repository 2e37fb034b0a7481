// LoRA adapters over the OpenAI API: "model" picks an adapter (the base model's name, or none,
// picks no adapter), the reply names the model it ran, GET /v1/models lists the adapters as
// vLLM does, an unknown model is a 404 model_not_found naming what is served, and the KV snapshot
// names each block's and sequence's adapter, there and back.

#include <gtest/gtest.h>

#include <map>

#include "app/server/kv_snapshot_json.h"
#include "engine/engine.h"
#include "engine/synthetic_lora.h"
#include "engine/synthetic_model.h"
#include "tests/server/test_server.h"
#include "tests/support/paths.h"

namespace kvscope::test {
namespace lora_http_test {

using nlohmann::json;

struct LoraServer {
    std::filesystem::path dir = temp_dir();
    std::shared_ptr<const Model> model;
    std::vector<server::EngineLoop::NamedLora> loras;
    std::unique_ptr<server::EngineLoop> loop;
    std::unique_ptr<server::HttpServer> http;

    LoraServer() {
        SyntheticModelSpec spec;
        spec.seed = 12;
        write_synthetic_model(spec, (dir / "base.gguf").string());
        model = Model::load((dir / "base.gguf").string());
        for (std::uint64_t seed : {1, 2}) {
            SyntheticLoraSpec l;
            l.rank = 4;
            l.seed = seed;
            l.targets = {LoraTarget::Q, LoraTarget::V, LoraTarget::Up, LoraTarget::Down};
            const std::string path = (dir / ("l" + std::to_string(seed) + ".gguf")).string();
            write_synthetic_lora(l, model->gguf(), path);
            loras.emplace_back(seed == 1 ? "sql" : "poetry", LoraAdapter::load(path, *model));
        }
        loop = std::make_unique<server::EngineLoop>(model, small_engine_config(), loras);
        server::ServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.served_model_name = "base";
        http = std::make_unique<server::HttpServer>(*loop, o);
        http->start();
    }
    ~LoraServer() {
        http->stop();
        loop->stop();
    }

    std::unique_ptr<httplib::Client> client() const {
        auto c = std::make_unique<httplib::Client>("127.0.0.1", http->port());
        c->set_read_timeout(60, 0);
        return c;
    }

    // The greedy tokens straight from an Engine with the same adapters.
    std::vector<std::int32_t> engine_tokens(const std::vector<std::int32_t>& prompt, const std::string& lora) const {
        Engine engine(model, small_engine_config());
        for (const auto& [name, adapter] : loras) engine.add_lora(name, adapter);
        Request r;
        r.prompt_token_ids = prompt;
        r.lora = lora;
        r.params.temperature = 0;
        r.params.max_tokens = 8;
        r.params.ignore_eos = true;
        return run_alone(engine, r);
    }
};

TEST(LoraHttp, ModelPicksTheAdapter) {
    const LoraServer s;
    auto c = s.client();
    const std::vector<std::int32_t> prompt = {1, 40, 41, 42, 43, 44, 45, 46, 47};
    std::map<std::string, std::vector<std::int32_t>> got;
    for (const std::string model : {"base", "sql", "poetry", ""}) {
        json body = {{"prompt", prompt},
                     {"max_tokens", 8},
                     {"temperature", 0},
                     {"ignore_eos", true},
                     {"return_token_ids", true}};
        if (!model.empty()) body["model"] = model;
        const HttpReply r = post_json(*c, "/v1/completions", body);
        ASSERT_EQ(r.status, 200) << r.text;
        EXPECT_EQ(r.body["model"], model.empty() ? "base" : model);
        got[model] = r.body["choices"][0]["token_ids"].get<std::vector<std::int32_t>>();
    }
    EXPECT_EQ(got["base"], s.engine_tokens(prompt, ""));
    EXPECT_EQ(got[""], got["base"]);
    EXPECT_EQ(got["sql"], s.engine_tokens(prompt, "sql"));
    EXPECT_EQ(got["poetry"], s.engine_tokens(prompt, "poetry"));
    EXPECT_NE(got["sql"], got["base"]);
    EXPECT_NE(got["sql"], got["poetry"]);

    // Chat too.
    const HttpReply chat = post_json(
        *c, "/v1/chat/completions",
        {{"model", "poetry"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}, {"max_tokens", 4}});
    ASSERT_EQ(chat.status, 200) << chat.text;
    EXPECT_EQ(chat.body["model"], "poetry");
}

TEST(LoraHttp, ModelsListsAdaptersAndUnknownModelsAre404) {
    const LoraServer s;
    auto c = s.client();
    const HttpReply models = get(*c, "/v1/models");
    ASSERT_EQ(models.status, 200) << models.text;
    const json& data = models.body["data"];
    ASSERT_EQ(data.size(), 3u) << models.text;
    EXPECT_EQ(data[0]["id"], "base");
    EXPECT_EQ(data[1]["id"], "sql");
    EXPECT_EQ(data[1]["parent"], "base");
    EXPECT_EQ(data[1]["root"], (s.dir / "l1.gguf").string());
    EXPECT_EQ(data[2]["id"], "poetry");

    const HttpReply r = post_json(*c, "/v1/completions", {{"model", "chat"}, {"prompt", "x"}, {"max_tokens", 2}});
    expect_error_shape(r, 404, "model");
    EXPECT_EQ(r.body["error"]["code"], "model_not_found");
    const std::string message = r.body["error"]["message"];
    EXPECT_NE(message.find("'base', 'sql', 'poetry'"), std::string::npos) << message;
}

// GET /v1/kv/snapshot says whose KV each block holds and which adapter each sequence runs, and
// reads back into the same EngineSnapshot (what the workbench's inspector colours by adapter
// when attached).
TEST(LoraHttp, TheKvSnapshotCarriesAdaptersBothWays) {
    const LoraServer s;
    Engine engine(s.model, small_engine_config());
    for (const auto& [name, adapter] : s.loras) engine.add_lora(name, adapter);
    std::vector<std::int32_t> prompt(40);
    for (std::int32_t i = 0; i < 40; ++i) prompt[std::size_t(i)] = 5 + 3 * i;
    for (const char* lora : {"poetry", "", "sql"}) {
        Request r;
        r.prompt_token_ids = prompt;
        r.lora = lora;
        r.params.max_tokens = 4;
        r.params.temperature = 0;
        r.params.ignore_eos = true;  // a first token of EOS would end a sequence and free its last block
        engine.add_request(r);
    }
    engine.step();
    const server::ServingState state{engine.snapshot(), server::ServingMetrics(engine.cache_plan().max_model_len), {}};
    server::ServingInfo info{s.model, engine.config(), engine.cache_plan(), "cpu", {}};
    const json j = server::kv_snapshot_json(state, info, "base", false);
    EXPECT_EQ(j["loras"], json({"sql", "poetry"}));
    std::map<std::string, int> blocks;  // adapter ("" = base) -> held blocks listed with it
    for (const json& b : j["blocks"]) ++blocks[b.value("lora", std::string())];
    EXPECT_EQ(blocks, (std::map<std::string, int>{{"", 3}, {"sql", 3}, {"poetry", 3}}));

    const server::RemoteKvSnapshot back = server::kv_snapshot_from_json(json::parse(j.dump()));
    EXPECT_EQ(back.engine.loras, state.engine.loras);
    EXPECT_EQ(back.engine.block_loras, state.engine.block_loras);
    ASSERT_EQ(back.engine.sequences.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(back.engine.sequences[i].lora, state.engine.sequences[i].lora);
    EXPECT_EQ(back.engine.sequences[0].lora, 1);  // poetry, added first
    EXPECT_EQ(back.engine.sequences[1].lora, -1);

    json unknown = j;
    unknown["loras"] = json::array();
    EXPECT_THROW(server::kv_snapshot_from_json(unknown), server::SnapshotFormatError);
    json old = j;  // a server from before adapters: no names anywhere, everything the base model's
    old.erase("loras");
    for (json& b : old["blocks"]) b.erase("lora");
    for (json& q : old["sequences"]) q.erase("lora");
    const server::RemoteKvSnapshot plain = server::kv_snapshot_from_json(old);
    EXPECT_TRUE(plain.engine.loras.empty());
    EXPECT_EQ(plain.engine.sequences[0].lora, -1);
}

}  // namespace lora_http_test
}  // namespace kvscope::test
