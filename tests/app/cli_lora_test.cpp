// kvscope-cli make-lora and generate --lora end to end: an adapter written by make-lora, served
// by generate next to the base model in one batch, gives the greedy tokens of the naive
// reference on the merged weights; bad --lora input gives a clear message and a non-zero exit.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/gguf.h"
#include "tests/support/lora_merge.h"
#include "tests/support/cli_run.h"
#include "tests/support/paths.h"
#include "tests/support/reference_model.h"

namespace {

using RunResult = kvscope::test::CliResult;
using kvscope::test::json_lines;

RunResult run(const std::vector<std::string>& args) { return kvscope::test::run_cli(KVSCOPE_CLI, args); }

struct Files {
    std::filesystem::path dir = kvscope::test::temp_dir();
    std::string base = (dir / "base.gguf").string();
    std::string other = (dir / "other.gguf").string();
    std::string lora = (dir / "lora.gguf").string();

    Files() {
        EXPECT_EQ(run({"make-model", "--out", base, "--seed", "4"}).exit_code, 0);
        const RunResult r = run({"make-lora", "--base", base, "--out", lora, "--rank", "4", "--alpha", "8", "--targets",
                                 "q,k,v,o,gate,up,down", "--seed", "2"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
    }
};

TEST(CliLora, GenerateWithAnAdapterMatchesTheMergedReference) {
    const Files f;
    const std::string prompts = (f.dir / "prompts.jsonl").string();
    std::ofstream(prompts) << "{\"prompt\": \"hello world\", \"lora\": \"sql\"}\n{\"prompt\": \"hello world\"}\n";
    const RunResult r = run({"generate", "--model", f.base, "--lora", "sql=" + f.lora, "--prompts", prompts,
                             "--max-tokens", "10", "--temperature", "0", "--ignore-eos", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("LoRA 'sql'"), std::string::npos) << r.err;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["lora"], "sql");
    EXPECT_EQ(lines[1]["lora"], "");

    const kvscope::GgufFile base = kvscope::GgufFile::open(f.base);
    const std::vector<std::uint8_t> merged_bytes = kvscope::test::merge_lora(base, kvscope::GgufFile::open(f.lora));
    kvscope::test::ReferenceModel merged(kvscope::GgufFile::from_memory(merged_bytes, "merged"));
    kvscope::test::ReferenceModel plain(base);
    const auto prompt = lines[0]["prompt_token_ids"].get<std::vector<std::int32_t>>();
    const auto with_lora = lines[0]["token_ids"].get<std::vector<std::int32_t>>();
    const auto without = lines[1]["token_ids"].get<std::vector<std::int32_t>>();
    EXPECT_EQ(with_lora, merged.greedy(prompt, 10));
    EXPECT_EQ(without, plain.greedy(prompt, 10));
    EXPECT_NE(with_lora, without);

    // --adapter picks the adapter for --prompt prompts.
    const RunResult one = run({"generate", "--model", f.base, "--lora", "sql=" + f.lora, "--adapter", "sql", "--prompt",
                               "hello world", "--max-tokens", "10", "--temperature", "0", "--ignore-eos", "--json"});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_EQ(json_lines(one.out).at(0)["token_ids"].get<std::vector<std::int32_t>>(), with_lora);
}

TEST(CliLora, BadAdapterInputGivesAClearMessageAndANonZeroExit) {
    const Files f;
    RunResult r = run({"generate", "--model", f.base, "--lora", "sql", "--prompt", "hi"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--lora: expected NAME=PATH"), std::string::npos) << r.err;

    r = run({"generate", "--model", f.base, "--lora", "sql=" + f.lora, "--adapter", "chat", "--prompt", "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no LoRA adapter named 'chat'"), std::string::npos) << r.err;

    // An adapter for a model of another shape.
    ASSERT_EQ(run({"make-model", "--out", f.other, "--dim", "128", "--heads", "4", "--kv-heads", "4"}).exit_code, 0);
    r = run({"generate", "--model", f.other, "--lora", "sql=" + f.lora, "--prompt", "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("the adapter was made for another base model"), std::string::npos) << r.err;

    r = run({"generate", "--model", f.base, "--lora", "sql=" + f.base, "--prompt", "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not an adapter file"), std::string::npos) << r.err;

    r = run({"make-lora", "--base", f.base, "--out", (f.dir / "x.gguf").string(), "--targets", "q,lm_head"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("unknown LoRA target 'lm_head'"), std::string::npos) << r.err;
    r = run({"make-lora", "--base", f.base, "--out", (f.dir / "x.gguf").string(), "--targets", "q,v,q"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("'q' is named twice"), std::string::npos) << r.err;
    // alpha 0 is "no alpha" (scale 1) to a reader of the file, not a zero scale
    r = run({"make-lora", "--base", f.base, "--out", (f.dir / "x.gguf").string(), "--alpha", "0"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--alpha 0 would be read back as 'no alpha'"), std::string::npos) << r.err;
    r = run({"make-lora", "--out", (f.dir / "x.gguf").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--base MODEL is required"), std::string::npos) << r.err;
}

}  // namespace
