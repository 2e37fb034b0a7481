// kvscope-cli end to end: the known-good output, batches with preemption and n > 1 against
// each prompt alone, info and make-model, and clear errors with non-zero exits for bad input.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/support/chat_template_model.h"
#include "tests/support/cli_run.h"
#include "tests/support/paths.h"

namespace {

using RunResult = kvscope::test::CliResult;
using kvscope::test::json_lines;

RunResult run(const std::vector<std::string>& args) { return kvscope::test::run_cli(KVSCOPE_CLI, args); }

TEST(Cli, GenerateGivesTheKnownGoodIds) {
    const RunResult r =
        run({"generate", "--prompt", "Once upon a time", "--max-tokens", "20", "--temperature", "0", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["prompt"], "Once upon a time");
    EXPECT_EQ(lines[0]["prompt_token_ids"], (std::vector<int>{1, 403, 407, 261, 378}));
    EXPECT_EQ(lines[0]["token_ids"], (std::vector<int>{432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                                       426, 338, 401, 396, 267, 337, 410, 408, 419, 292}));
    EXPECT_EQ(lines[0]["finish_reason"], "length");
    EXPECT_EQ(lines[0]["text"], ", there was a little girl named Lily. She loved to play outsid");
    EXPECT_TRUE(lines[0]["timings"].contains("ttft_s"));
}

TEST(Cli, ABatchWithPreemptionAndFourSamplesGivesEachPromptsGreedyIdsAlone) {
    const std::vector<std::string> prompts = {"Once upon a time", "The cat sat on the mat", "Lily and Tom went",
                                              "One day a big dog", "The sun was hot and the birds sang"};
    std::vector<nlohmann::json> alone;
    for (const auto& p : prompts) {
        const RunResult r = run({"generate", "--prompt", p, "--max-tokens", "24", "--temperature", "0", "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        alone.push_back(json_lines(r.out).at(0)["token_ids"]);
    }
    const auto dir = kvscope::test::temp_dir();
    const auto file = dir / "prompts.jsonl";
    {
        std::ofstream out(file);
        for (const auto& p : prompts) out << nlohmann::json{{"prompt", p}}.dump() << "\n";
    }
    const RunResult r = run({"generate", "--prompts", file.string(), "--max-tokens", "24", "--temperature", "0", "--n",
                             "4", "--kv-cache-blocks", "12", "--block-size", "8", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), prompts.size());
    int preemptions = 0;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ(lines[i]["prompt"], prompts[i]);
        ASSERT_EQ(lines[i]["samples"].size(), 4u);
        for (const auto& s : lines[i]["samples"]) EXPECT_EQ(s["token_ids"], alone[i]) << prompts[i];
        preemptions += lines[i]["timings"]["preemptions"].get<int>();
    }
    EXPECT_GT(preemptions, 0) << "12 blocks of 8 for 20 sequences should force preemption";
}

TEST(Cli, GeneratePromptLogprobsScoreEachPromptTokenAfterTheFirst) {
    const RunResult r = run({"generate", "--prompt", "Once upon a time", "--max-tokens", "4", "--temperature", "0",
                             "--prompt-logprobs", "2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u);
    const nlohmann::json& j = lines[0];
    const auto prompt = j["prompt_token_ids"].get<std::vector<int>>();
    ASSERT_EQ(prompt, (std::vector<int>{1, 403, 407, 261, 378}));
    ASSERT_EQ(j["prompt_logprobs"].size(), prompt.size() - 1);
    for (std::size_t i = 0; i + 1 < prompt.size(); ++i) {
        const nlohmann::json& e = j["prompt_logprobs"][i];
        EXPECT_EQ(e["token"], prompt[i + 1]);
        EXPECT_LE(e["logprob"].get<double>(), 0.0);
        EXPECT_GE(e["rank"].get<int>(), 1);
        ASSERT_EQ(e["top"].size(), 2u);
        EXPECT_GE(e["top"][0]["logprob"].get<double>(), e["logprob"].get<double>());
    }
    EXPECT_FALSE(j.contains("logprobs"));
    const RunResult bad = run({"generate", "--prompt", "x", "--prompt-logprobs", "21"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--prompt-logprobs"), std::string::npos) << bad.err;
    const RunResult text = run({"generate", "--prompt", "x", "--logprobs", "2"});  // nowhere to show them
    EXPECT_EQ(text.exit_code, 2);
    EXPECT_NE(text.err.find("--logprobs is reported in the JSON output; add --json"), std::string::npos) << text.err;
}

TEST(Cli, TheBackendChoiceIsReportedOnceAndBadKindsAreRejected) {
    const std::vector<std::string> args = {"--prompt", "Once upon a time", "--max-tokens", "20", "--temperature", "0",
                                           "--json"};
    for (const std::string backend : {"cuda", "auto", "cpu"}) {
        std::vector<std::string> a = {"generate", "--backend", backend};
        a.insert(a.end(), args.begin(), args.end());
        const RunResult r = run(a);
        if (backend == "cuda" && !kvscope::cuda_device_info().available) {  // by name: no quiet CPU run
            EXPECT_EQ(r.exit_code, 1);
            EXPECT_NE(r.err.find("the CUDA backend was asked for, but " + kvscope::cuda_device_info().reason),
                      std::string::npos)
                << r.err;
            continue;
        }
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(json_lines(r.out).at(0)["token_ids"],
                  (std::vector<int>{432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                    426, 338, 401, 396, 267, 337, 410, 408, 419, 292}))
            << backend;
        const std::size_t note = r.err.find("using the CPU backend");
        if (backend != "cpu" && !kvscope::cuda_device_info().available) {
            EXPECT_NE(note, std::string::npos) << r.err;
            EXPECT_EQ(r.err.find("using the CPU backend", note + 1), std::string::npos) << "said once: " << r.err;
        } else {
            EXPECT_EQ(note, std::string::npos) << r.err;
        }
    }
    const RunResult bad = run({"generate", "--backend", "gpu", "--prompt", "x"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--backend: expected auto, cpu or cuda"), std::string::npos) << bad.err;
}

TEST(Cli, PreemptionBySwapGivesTheSameIdsAsRecompute) {
    const auto file = kvscope::test::temp_dir() / "prompts.jsonl";
    {
        std::ofstream out(file);
        for (const char* p : {"Once upon a time", "The cat sat on the mat", "Lily and Tom went", "One day a big dog"})
            out << nlohmann::json{{"prompt", p}}.dump() << "\n";
    }
    std::vector<nlohmann::json> by_mode[2];
    int preemptions[2] = {0, 0};
    for (int swap = 0; swap < 2; ++swap) {
        const RunResult r = run({"generate", "--prompts", file.string(), "--max-tokens", "32", "--temperature", "0",
                                 "--ignore-eos", "--kv-cache-blocks", "10", "--block-size", "8", "--preemption-mode",
                                 swap ? "swap" : "recompute", "--swap-space", "16M", "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        by_mode[swap] = json_lines(r.out);
        for (const auto& line : by_mode[swap]) preemptions[swap] += line["timings"]["preemptions"].get<int>();
    }
    ASSERT_EQ(by_mode[0].size(), 4u);
    ASSERT_EQ(by_mode[1].size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(by_mode[1][i]["token_ids"], by_mode[0][i]["token_ids"]);
    EXPECT_GT(preemptions[1], 0) << "10 blocks of 8 for 4 sequences of ~40 tokens should force preemption";
    const RunResult bad = run({"generate", "--prompt", "x", "--preemption-mode", "later"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--preemption-mode: expected recompute or swap"), std::string::npos) << bad.err;
}

TEST(Cli, EveryCommandsHelpListsItsOptionsOnceEach) {
    const std::vector<std::string> commands = {
        "generate", "info",  "make-model",    "quantize",      "perplexity",       "make-lora",      "make-trace",
        "lab",      "serve", "bench latency", "bench batched", "bench throughput", "bench roofline", "bench serve"};
    for (const std::string& command : commands) {
        std::vector<std::string> args;
        std::istringstream words(command);
        for (std::string w; words >> w;) args.push_back(w);
        args.push_back("--help");
        const RunResult r = run(args);
        ASSERT_EQ(r.exit_code, 0) << command << ": " << r.err;
        EXPECT_NE(r.out.find("usage: kvscope-cli " + command), std::string::npos) << r.out;
        std::istringstream lines(r.out);
        std::set<std::string> seen;
        for (std::string line; std::getline(lines, line);) {
            EXPECT_EQ(line.find("(repeatable) (repeatable)"), std::string::npos) << command << ": " << line;
            if (line.rfind("  --", 0) != 0) continue;
            const std::string option = line.substr(2, line.find(' ', 2) - 2);
            EXPECT_TRUE(seen.insert(option).second) << command << " lists " << option << " twice";
        }
        EXPECT_FALSE(seen.empty()) << command << " lists no option:\n" << r.out;
    }
}

TEST(Cli, InfoDescribesTheEmbeddedModel) {
    const RunResult r = run({"info", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["runnable"], true);
    EXPECT_EQ(j["config"]["num_layers"], 5);
    EXPECT_EQ(j["tensors"].size(), 48u);
    EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
    const RunResult text = run({"info"});
    EXPECT_NE(text.out.find("runnable:      yes"), std::string::npos);
}

// info names the chat template the chat endpoint and the workbench will render with, and says so
// when there is none or when kvscope does not know it.
TEST(Cli, InfoNamesTheChatTemplate) {
    EXPECT_NE(run({"info"}).out.find("chat:          no template: chat turns are joined into one text"),
              std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(run({"info", "--json"}).out)["chat_template"], "plain");
    const std::string mistral = kvscope::test::write_model_with_chat_template(
        (kvscope::test::temp_dir() / "mistral.gguf").string(), kvscope::test::kMistralLegacyTemplate);
    EXPECT_NE(run({"info", "--model", mistral}).out.find("chat:          mistral-legacy template\n"),
              std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(run({"info", "--json", "--model", mistral}).out)["chat_template"],
              "mistral-legacy");
    const std::string phi3 = kvscope::test::write_model_with_chat_template(
        (kvscope::test::temp_dir() / "phi3.gguf").string(), kvscope::test::kPhi3Template);
    const RunResult r = run({"info", "--model", phi3});
    EXPECT_NE(r.out.find("chat:          unrecognised template: chat turns are joined into one text (kvscope renders "
                         "ChatML, Llama 2/3, Mistral, Zephyr, DeepSeek-R1)"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(nlohmann::json::parse(run({"info", "--json", "--model", phi3}).out)["chat_template"], "unrecognised");
}

TEST(Cli, MakeModelWritesAModelThatGenerates) {
    const auto path = (kvscope::test::temp_dir() / "m.gguf").string();
    RunResult r = run({"make-model", "--out", path, "--preset", "tiny", "--type", "q4_0", "--dim", "64"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run({"generate", "--model", path, "--prompt", "a b c", "--max-tokens", "5", "--ignore-eos", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json_lines(r.out).at(0)["token_ids"].size(), 5u);
}

TEST(Cli, MakeModelWritesAQ4KMMixtureThatInfoNamesAndThatGenerates) {
    const auto path = (kvscope::test::temp_dir() / "m4km.gguf").string();
    RunResult r = run({"make-model", "--out", path, "--preset", "tiny", "--type", "q4_k_m", "--dim", "256", "--ffn",
                       "256", "--layers", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("Q4_K_M mixture"), std::string::npos) << r.err;
    r = run({"info", "--json", "--model", path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["config"]["file_type"], "Q4_K - Medium");
    EXPECT_EQ(j["config"]["weight_type"], "Q4_K");
    EXPECT_EQ(j["metadata"]["general.file_type"], 15);
    EXPECT_NE(run({"info", "--model", path}).out.find("mostly Q4_K (file type Q4_K - Medium)"), std::string::npos);
    r = run({"generate", "--model", path, "--prompt", "a b c", "--max-tokens", "5", "--ignore-eos", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json_lines(r.out).at(0)["token_ids"].size(), 5u);

    r = run({"make-model", "--out", path, "--preset", "tiny", "--type", "q4_0_m"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--type: unknown weight type 'q4_0_m'"), std::string::npos) << r.err;
}

// make-model writes its rows as f32 and quantises them; an F32 file re-quantised at load goes
// through the same quantiser, so it must generate exactly what the file written as Q4_K does.
TEST(Cli, AnF32ModelReQuantisedToQ4KAtLoadGeneratesWhatAQ4KFileDoes) {
    const auto f32 = (kvscope::test::temp_dir() / "rq-f32.gguf").string();
    const auto q4k = (kvscope::test::temp_dir() / "rq-q4k.gguf").string();
    const std::vector<std::string> shape = {"--preset", "tiny", "--dim", "256", "--ffn", "512", "--layers", "2"};
    auto make = [&](const std::string& path, const std::string& type) {
        std::vector<std::string> args = {"make-model", "--out", path, "--type", type};
        args.insert(args.end(), shape.begin(), shape.end());
        return run(args);
    };
    ASSERT_EQ(make(f32, "f32").exit_code, 0);
    ASSERT_EQ(make(q4k, "q4_k").exit_code, 0);
    const std::vector<std::string> gen = {"generate", "--prompt",     "a b c",  "--max-tokens", "12", "--temperature",
                                          "0",        "--ignore-eos", "--json", "--threads",    "2"};
    auto generate = [&](const std::string& path, std::vector<std::string> extra) {
        std::vector<std::string> args = gen;
        args.insert(args.end(), {"--model", path});
        args.insert(args.end(), extra.begin(), extra.end());
        return run(args);
    };
    const RunResult want = generate(q4k, {});
    ASSERT_EQ(want.exit_code, 0) << want.err;
    const RunResult got = generate(f32, {"--weight-type", "Q4_K"});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_NE(got.err.find("re-quantised 16 weights to Q4_K at load"), std::string::npos) << got.err;
    EXPECT_EQ(json_lines(got.out).at(0)["token_ids"], json_lines(want.out).at(0)["token_ids"]);
    const RunResult stored = generate(f32, {"--weight-type", "as-stored"});
    ASSERT_EQ(stored.exit_code, 0) << stored.err;
    EXPECT_EQ(stored.err.find("re-quantised"), std::string::npos) << stored.err;

    // the embedded model's 64-wide rows fit no K-quant block: said, and it runs as stored
    const RunResult none = run({"generate", "--prompt", "x", "--max-tokens", "2", "--weight-type", "q5_k"});
    ASSERT_EQ(none.exit_code, 0) << none.err;
    EXPECT_NE(none.err.find("--weight-type Q5_K: no weight's rows are a multiple of its 256-element blocks"),
              std::string::npos)
        << none.err;

    // llama.cpp's mixture at load: what make-model's q4_k_m file (the same f32 rows) generates
    const auto q4km = (kvscope::test::temp_dir() / "rq-q4km.gguf").string();
    ASSERT_EQ(make(q4km, "q4_k_m").exit_code, 0);
    const RunResult want_mix = generate(q4km, {});
    ASSERT_EQ(want_mix.exit_code, 0) << want_mix.err;
    const RunResult got_mix = generate(f32, {"--weight-type", "q4_k_m"});
    ASSERT_EQ(got_mix.exit_code, 0) << got_mix.err;
    EXPECT_NE(got_mix.err.find("re-quantised 16 weights to Q4_K_M at load"), std::string::npos) << got_mix.err;
    EXPECT_EQ(json_lines(got_mix.out).at(0)["token_ids"], json_lines(want_mix.out).at(0)["token_ids"]);
    // Q6_K for the output and every layer's attn_v and ffn_down (2 layers): more bytes than Q4_K
    const auto loaded_mib = [](const std::string& err) { return err.substr(err.find("MiB -> ") + 7); };
    EXPECT_GT(std::stod(loaded_mib(got_mix.err)), std::stod(loaded_mib(got.err))) << got_mix.err << got.err;

    const RunResult bad = generate(f32, {"--weight-type", "q6_k_m"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--weight-type: expected as-stored, one of"), std::string::npos) << bad.err;
}

// quantize writes the file a load-time re-quantisation would run: generating from it gives the
// ids of generating from the input with --weight-type; info names the new file type.
TEST(Cli, QuantizeWritesAFileThatRunsLikeTheReQuantisedLoad) {
    const auto f32 = (kvscope::test::temp_dir() / "qz-f32.gguf").string();
    const auto q5k = (kvscope::test::temp_dir() / "qz-q5k.gguf").string();
    ASSERT_EQ(run({"make-model", "--out", f32, "--type", "f32", "--preset", "tiny", "--dim", "256", "--ffn", "512",
                   "--layers", "2"})
                  .exit_code,
              0);
    RunResult r = run({"quantize", "--model", f32, "--type", "Q5_K", "--out", q5k, "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("16 of"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tensors re-quantised to Q5_K"), std::string::npos) << r.err;
    r = run({"info", "--model", q5k});
    EXPECT_NE(r.out.find("mostly Q5_K (file type Q5_K - Small)"), std::string::npos) << r.out;
    const std::vector<std::string> gen = {"generate",      "--prompt", "a b c",        "--max-tokens", "10",
                                          "--temperature", "0",        "--ignore-eos", "--json"};
    auto ids = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = gen;
        args.insert(args.end(), extra.begin(), extra.end());
        const RunResult g = run(args);
        EXPECT_EQ(g.exit_code, 0) << g.err;
        return json_lines(g.out).at(0)["token_ids"];
    };
    EXPECT_EQ(ids({"--model", q5k}), ids({"--model", f32, "--weight-type", "q5_k"}));
    r = run({"quantize", "--model", f32, "--type", "Q4_K_M", "--out", q5k});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("re-quantised to Q4_K_M mixture"), std::string::npos) << r.err;
    EXPECT_NE(run({"info", "--model", q5k}).out.find("(file type Q4_K - Medium)"), std::string::npos);

    r = run({"quantize", "--model", f32, "--type", "q5_k", "--out", f32});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
    r = run({"quantize", "--model", f32, "--type", "q4_1", "--out", q5k});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--type: expected F16, Q8_0, Q6_K, Q5_K, Q4_K or Q4_0, or the mixture Q4_K_M or Q5_K_M, got "
                         "'q4_1'"),
              std::string::npos)
        << r.err;
    r = run({"quantize", "--model", f32, "--type", "q6_k_m", "--out", q5k});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("got 'q6_k_m'"), std::string::npos) << r.err;
    r = run({"quantize", "--model", f32, "--type", "q5_k"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--out PATH is required"), std::string::npos) << r.err;
    r = run({"quantize", "--model", "/nonexistent.gguf", "--type", "q5_k", "--out", q5k});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("/nonexistent.gguf: cannot open"), std::string::npos) << r.err;
}

TEST(Cli, BadInputGivesAClearMessageAndANonZeroExit) {
    RunResult r = run({"generate", "--model", "/nonexistent/model.gguf", "--prompt", "x"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("/nonexistent/model.gguf: cannot open"), std::string::npos) << r.err;

    // A model whose BOS id is outside its vocabulary cannot generate: info says so.
    const auto badbos = (kvscope::test::temp_dir() / "badbos.gguf").string();
    r = run({"make-model", "--out", badbos, "--preset", "tiny"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    {
        const kvscope::GgufFile in = kvscope::GgufFile::open(badbos);
        kvscope::GgufWriter w;
        for (const auto& [key, value] : in.metadata()) w.set(key, value);
        w.set_u32("tokenizer.ggml.bos_token_id", 99999);
        for (const kvscope::GgufTensorInfo& t : in.tensors()) w.add_tensor(t.name, t.shape, t.type, in.tensor_data(t));
        w.write(badbos + ".2");
    }
    r = run({"info", "--model", badbos + ".2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("runnable:      no: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bos_token_id = 99999 is outside the vocabulary"), std::string::npos) << r.out;

    const auto notgguf = (kvscope::test::temp_dir() / "notes.txt").string();
    std::ofstream(notgguf) << "hello, this is not a model\n";
    r = run({"info", "--model", notgguf});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not a GGUF file"), std::string::npos) << r.err;

    r = run({"generate", "--prompt", "x", "--temperature", "hot"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--temperature: expected a number"), std::string::npos) << r.err;

    r = run({"generate", "--prompt", "x", "--bogus"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("unknown option --bogus"), std::string::npos) << r.err;

    r = run({"generate"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("no prompt"), std::string::npos) << r.err;

    const auto jsonl = (kvscope::test::temp_dir() / "p.jsonl").string();
    std::ofstream(jsonl) << "{\"prompt\": \"ok\"}\n{\"prompt\": 5}\n";
    r = run({"generate", "--prompts", jsonl});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("p.jsonl:2:"), std::string::npos) << r.err;

    r = run({"generate", "--prompt", "x", "--kv-cache-blocks", "1", "--block-size", "8", "--max-tokens", "50"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("KV blocks"), std::string::npos) << r.err;

    r = run({"generate", "--prompt", "x", "--block-size", "12"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("block size 12 is not supported"), std::string::npos) << r.err;

    r = run({"generate", "--prompt", "x", "--swap-space", "0"});  // named as typed
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--swap-space: expected GiB such as 4, or a size such as 512M or 2G, got '0'"),
              std::string::npos)
        << r.err;

    // Positions the model was never trained on would give garbage: refused.
    r = run({"generate", "--prompt", "x", "--max-model-len", "100000"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("max_model_len 100000 is longer than the model's context of 2048 tokens"), std::string::npos)
        << r.err;
    // Ranges are written as typed, not as 1.67772e+07.
    r = run({"make-trace", "--out", (kvscope::test::temp_dir() / "t.jsonl").string(), "--num-requests", "0"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("expected an integer from 1 to 16777216, got '0'"), std::string::npos) << r.err;
}

// Each bad field of a prompts file is named with its line, before the model loads; numbers are
// never wrapped or truncated into another value.
TEST(Cli, APromptsFileLineWithABadNumberOrAnUnknownFieldIsAnErrorAtItsLine) {
    const auto dir = kvscope::test::temp_dir();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"prompt": "Hi", "max_tokens": 1e400})", "number overflow"},
        {R"({"prompt": "Hi", "max_tokens": 4294967298})", "'max_tokens' is 4294967298, outside [1, 2147483647]"},
        {R"({"prompt": "Hi", "max_tokens": 2.5})", "'max_tokens' must be an integer"},
        {R"({"prompt": "Hi", "top_k": 1e30})", "'top_k' must be an integer"},
        {R"({"prompt": "Hi", "max_token": 3})", "unknown field 'max_token'"},
        {R"({"prompt": "Hi", "temperature": -1})", "temperature"},
    };
    for (const auto& [line, expected] : cases) {
        const auto file = (dir / "p.jsonl").string();
        std::ofstream(file) << R"({"prompt": "fine"})"
                            << "\n"
                            << line << "\n";
        const RunResult r = run({"generate", "--prompts", file, "--model", "/nonexistent.gguf"});
        EXPECT_EQ(r.exit_code, 1) << line;
        EXPECT_NE(r.err.find("p.jsonl:2: "), std::string::npos) << line << ": " << r.err;
        EXPECT_NE(r.err.find(expected), std::string::npos) << line << ": " << r.err;
    }
}

// An output file is checked before the work (a bad folder fails at once, not after a benchmark),
// never replaces one of the command's inputs, and a link or pipe given as the output stays one.
TEST(Cli, OutputsAreCheckedFirstAndNeverReplaceAnInputALinkOrAPipe) {
    const auto dir = kvscope::test::temp_dir();
    const std::string model = (dir / "m.gguf").string();
    RunResult r = run({"make-model", "--out", model, "--preset", "tiny"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto before = std::filesystem::file_size(model);

    r = run({"make-lora", "--base", model, "--out", model});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
    EXPECT_EQ(std::filesystem::file_size(model), before);
    r = run({"make-trace", "--model", model, "--out", model, "--num-requests", "2"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
    EXPECT_EQ(std::filesystem::file_size(model), before);

    // A bench with a --json-file in a missing folder stops before it measures anything.
    r = run({"bench", "latency", "--model", model, "--prompt-tokens", "8", "--gen-tokens", "4", "--json-file",
             (dir / "no" / "r.json").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot write the JSON result (cannot create a temporary file in"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.out, "");
    r = run({"generate", "--prompt", "x", "--max-tokens", "2", "--trace-out", ""});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--trace-out: give the path of the file to write"), std::string::npos) << r.err;

    // Through a link: the file it leads to is written, the link stays.
    std::filesystem::create_symlink("t.jsonl", dir / "link.jsonl");
    r = run({"make-trace", "--out", (dir / "link.jsonl").string(), "--num-requests", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(std::filesystem::is_symlink(dir / "link.jsonl"));
    EXPECT_GT(std::filesystem::file_size(dir / "t.jsonl"), 0u);
}

}  // namespace
