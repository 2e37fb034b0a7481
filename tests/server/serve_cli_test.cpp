// kvscope-cli serve as a user runs it: it starts on a free loopback port, answers, and shuts
// down cleanly on SIGTERM and SIGINT; bench serve runs against it and writes its JSON; bad
// flags exit 2.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "tests/server/test_server.h"
#include "tests/support/chat_template_model.h"
#include "tests/support/cli_run.h"
#include "tests/support/paths.h"

extern char** environ;

namespace kvscope::test {
namespace serve_cli_test {

using nlohmann::json;

class ServeProcess {
public:
    explicit ServeProcess(std::vector<std::string> extra) {
        std::vector<std::string> args = {KVSCOPE_CLI,         "serve", "--port", "0", "--threads", "1",
                                         "--kv-cache-blocks", "128"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int pipe_fds[2];
        EXPECT_EQ(pipe(pipe_fds), 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
        posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
        EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        close(pipe_fds[1]);
        err_fd_ = pipe_fds[0];
    }
    ~ServeProcess() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        close(err_fd_);
    }

    // Reads stderr (bounded wait) until a line matches; returns the match's first group.
    std::string wait_for(const std::regex& pattern) {
        for (int i = 0; i < 300; ++i) {
            std::smatch m;
            if (std::regex_search(err_, m, pattern)) return m[1];
            pollfd p{err_fd_, POLLIN, 0};
            if (poll(&p, 1, 100) > 0) {
                char buf[4096];
                const ssize_t n = read(err_fd_, buf, sizeof buf);
                if (n <= 0) break;
                err_.append(buf, static_cast<std::size_t>(n));
            }
        }
        ADD_FAILURE() << "serve never printed the expected line; stderr so far:\n" << err_;
        return {};
    }

    int stop(int signal) {
        kill(pid_, signal);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        char buf[4096];
        for (ssize_t n; (n = read(err_fd_, buf, sizeof buf)) > 0;) err_.append(buf, static_cast<std::size_t>(n));
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    const std::string& err() const { return err_; }

private:
    pid_t pid_ = -1;
    int err_fd_ = -1;
    std::string err_;
};

const std::regex kListening(R"(at http://127\.0\.0\.1:(\d+))");

TEST(ServeCli, ServesAndStopsCleanlyOnSigterm) {
    ServeProcess serve({"--served-model-name", "tiny"});
    const int port = std::stoi(serve.wait_for(kListening));
    httplib::Client client("127.0.0.1", port);
    const HttpReply r =
        post_json(client, "/v1/completions",
                  {{"model", "tiny"}, {"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["choices"][0]["text"], ", there was a little girl named Lily. She loved to play outsid");
    EXPECT_EQ(r.body["model"], "tiny");
    EXPECT_EQ(serve.stop(SIGTERM), 0);
    EXPECT_NE(serve.err().find("SIGTERM: shutting down"), std::string::npos) << serve.err();
}

TEST(ServeCli, SigintDuringAStreamStillExitsCleanly) {
    ServeProcess serve({"--api-key", "k"});
    const int port = std::stoi(serve.wait_for(kListening));
    std::thread streamer([port] {
        httplib::Client client("127.0.0.1", port);
        client.set_bearer_token_auth("k");
        post_stream(client, "/v1/completions",
                    {{"prompt", "Once upon a time"}, {"max_tokens", 1900}, {"ignore_eos", true}, {"stream", true}}, 2);
    });
    streamer.join();
    EXPECT_EQ(serve.stop(SIGINT), 0);
}

TEST(ServeCli, BenchServeWritesItsJson) {
    ServeProcess serve({});
    const std::string port = serve.wait_for(kListening);
    const std::filesystem::path json_path = temp_dir() / "bench.json";
    const std::string cmd = std::string(KVSCOPE_CLI) + " bench serve --url http://127.0.0.1:" + port +
                            " --num-prompts 6 --prompt-len 16 --output-len 8 --max-concurrency 3 --json-file " +
                            json_path.string() + " > " + (temp_dir() / "table.txt").string() + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream in(json_path);
    const json j = json::parse(in);
    EXPECT_EQ(j["completed"], 6);
    EXPECT_EQ(j["failed"], 0);
    EXPECT_EQ(j["total_output_tokens"], 48);
    EXPECT_EQ(j["model_id"], "stories260K");
    EXPECT_EQ(serve.stop(SIGTERM), 0);
}

// --weight-type re-quantises at load; the model card names the type the server runs, and a type
// that is not a target is refused with the list of targets.
TEST(ServeCli, WeightTypeReQuantisesAtLoadAndTheModelCardSaysSo) {
    ServeProcess serve({"--weight-type", "q8_0"});
    const int port = std::stoi(serve.wait_for(kListening));
    EXPECT_NE(serve.err().find("kvscope: re-quantised 32 weights to Q8_0 at load"), std::string::npos) << serve.err();
    httplib::Client client("127.0.0.1", port);
    const auto models = client.Get("/v1/models");
    ASSERT_TRUE(models);
    ASSERT_EQ(models->status, 200);
    EXPECT_EQ(json::parse(models->body)["data"][0]["kvscope"]["weight_type"], "Q8_0") << models->body;
    EXPECT_EQ(serve.stop(SIGTERM), 0);

    const CliResult bad = run_cli(KVSCOPE_CLI, {"serve", "--weight-type", "q4_1"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--weight-type: expected as-stored, one of F16, Q8_0, Q6_K, Q5_K, Q4_K or Q4_0, or the "
                           "mixture Q4_K_M or Q5_K_M, got 'q4_1'"),
              std::string::npos)
        << bad.err;
}

// A model with a Mistral template: the chat endpoint renders [INST] turns (its prompt has as many
// tokens as that text), and serve says nothing; with a template kvscope does not know, serve warns
// once at start.
TEST(ServeCli, TheChatEndpointRendersTheModelsTemplateAndAnUnknownOneIsReported) {
    const std::string mistral =
        write_model_with_chat_template((temp_dir() / "mistral.gguf").string(), kMistralLegacyTemplate);
    ServeProcess serve({"--model", mistral, "--served-model-name", "m"});
    const int port = std::stoi(serve.wait_for(kListening));
    httplib::Client client("127.0.0.1", port);
    const HttpReply chat = post_json(
        client, "/v1/chat/completions",
        {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})}, {"max_tokens", 1}});
    ASSERT_EQ(chat.status, 200) << chat.text;
    const HttpReply tokens = post_json(client, "/tokenize", {{"model", "m"}, {"prompt", "[INST] Hello [/INST]"}});
    ASSERT_EQ(tokens.status, 200) << tokens.text;
    EXPECT_EQ(chat.body["usage"]["prompt_tokens"], tokens.body["count"]) << tokens.text;
    EXPECT_GT(tokens.body["count"].get<int>(), 4);  // more than "Hello" alone would take
    EXPECT_EQ(serve.stop(SIGTERM), 0);
    EXPECT_EQ(serve.err().find("warning"), std::string::npos) << serve.err();

    const std::string phi3 = write_model_with_chat_template((temp_dir() / "phi3.gguf").string(), kPhi3Template);
    ServeProcess unknown({"--model", phi3});
    unknown.wait_for(kListening);
    EXPECT_EQ(unknown.stop(SIGTERM), 0);
    EXPECT_NE(unknown.err().find("kvscope: warning: the model's chat template is none that kvscope renders"),
              std::string::npos)
        << unknown.err();
}

TEST(ServeCli, BadFlagsExit2AndABusyPortExits1) {
    EXPECT_EQ(WEXITSTATUS(std::system((std::string(KVSCOPE_CLI) + " serve --port 70000 2>/dev/null").c_str())), 2);
    EXPECT_EQ(WEXITSTATUS(std::system((std::string(KVSCOPE_CLI) + " serve --bogus 2>/dev/null").c_str())), 2);
    EXPECT_EQ(WEXITSTATUS(std::system((std::string(KVSCOPE_CLI) + " bench nothing 2>/dev/null").c_str())), 2);
    // An adapter named as the served model could never be picked (that name picks the base model);
    // refused before any file is read.
    const CliResult same = run_cli(KVSCOPE_CLI, {"serve", "--served-model-name", "tiny", "--lora", "tiny=none.gguf"});
    EXPECT_EQ(same.exit_code, 2);
    EXPECT_NE(same.err.find("--lora tiny=none.gguf: 'tiny' is the served model's name"), std::string::npos) << same.err;
    const CliResult embedded = run_cli(KVSCOPE_CLI, {"serve", "--lora", "stories260K=none.gguf"});
    EXPECT_EQ(embedded.exit_code, 2) << embedded.err;
    ServeProcess first({});
    const std::string port = first.wait_for(kListening);
    // (timeout: a second server that did bind would otherwise run forever)
    const std::string second =
        "timeout 30 " + std::string(KVSCOPE_CLI) + " serve --threads 1 --port " + port + " 2>/dev/null";
    EXPECT_EQ(WEXITSTATUS(std::system(second.c_str())), 1);
    EXPECT_EQ(first.stop(SIGTERM), 0);
}

}  // namespace serve_cli_test
}  // namespace kvscope::test
