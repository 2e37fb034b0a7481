// The server under hundreds of concurrent streaming clients on loopback, round after round:
// every stream ends in [DONE] with all its tokens, no request fails or is aborted, the block pool
// is all free after each round, and the resident memory after the rounds stays within a bound of
// what it was after the first (warm-up) round. Rounds: 2 by default (warm-up + 1 measured);
// KVSCOPE_SOAK_SECONDS=S keeps running rounds for S seconds (the longer run in RELIABILITY.md).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "tests/server/test_server.h"

namespace kvscope::test {
namespace serving_soak_test {

constexpr int kClients = 300;
constexpr int kMaxTokens = 16;

std::int64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

// One round: kClients threads, each streaming one completion. Returns the failures.
int run_round(const TestServer& server, int round) {
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    threads.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            auto client = server.client(120);
            const nlohmann::json body = {
                {"prompt", "Once upon a time " + std::to_string(i % 37) + " " + std::to_string(round)},
                {"max_tokens", kMaxTokens},
                {"temperature", 0.7},
                {"seed", i},
                {"ignore_eos", true},
                {"return_token_ids", true},
                {"stream", true}};
            const SseReply s = post_stream(*client, "/v1/completions", body);
            std::size_t tokens = 0;
            for (const auto& e : s.events) {
                for (const auto& c : e["choices"]) tokens += c["token_ids"].size();
            }
            if (s.status != 200 || !s.done || tokens != kMaxTokens) ++failures;
        });
    }
    for (std::thread& t : threads) t.join();
    return failures.load();
}

TEST(ServingSoak, HundredsOfConcurrentStreamsRoundAfterRoundLeakNothing) {
    server::ServerOptions options;
    options.num_threads = kClients + 16;  // every connection served at once
    EngineConfig config = small_engine_config();
    config.num_kv_blocks = 64;  // 1024 tokens for ~7000 wanted at once: queueing and preemption
    TestServer server(options, config);

    const char* env = std::getenv("KVSCOPE_SOAK_SECONDS");
    const double seconds = env ? std::atof(env) : 0.0;
    const auto start = std::chrono::steady_clock::now();
    std::int64_t warm_rss = 0;
    int rounds = 0;
    for (;; ++rounds) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (rounds >= 2 && elapsed >= seconds) break;
        ASSERT_EQ(run_round(server, rounds), 0) << "round " << rounds;
        const server::ServingState idle = server.wait_idle();
        ASSERT_EQ(idle.engine.kv.stats.num_used_blocks, 0) << "round " << rounds;
        if (rounds == 0) warm_rss = resident_bytes();
    }
    const server::ServingState idle = server.wait_idle();
    const std::int64_t total = static_cast<std::int64_t>(rounds) * kClients;
    EXPECT_EQ(idle.engine.metrics.request_success_length, total);
    EXPECT_EQ(idle.engine.metrics.request_success_abort, 0);
    EXPECT_GT(idle.engine.metrics.num_preemptions, 0) << "the block pool was meant to run out";
    EXPECT_EQ(idle.engine.kv.stats.num_used_blocks, 0);
    const std::int64_t growth = resident_bytes() - warm_rss;
    std::printf(
        "soak: %d rounds of %d streams (%lld requests), %.1f s, RSS after warm-up %.1f MiB, growth %.1f MiB, "
        "%lld preemptions\n",
        rounds, kClients, static_cast<long long>(total),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), warm_rss / 1048576.0,
        growth / 1048576.0, static_cast<long long>(idle.engine.metrics.num_preemptions));
    EXPECT_LT(growth, 32ll << 20) << "resident memory grew by " << growth << " bytes after warm-up";
}

}  // namespace serving_soak_test
}  // namespace kvscope::test
