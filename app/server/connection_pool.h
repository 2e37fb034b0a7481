#pragma once
// The server's worker threads. httplib serves each connection on one task for as long as it lives,
// so a stream holds its thread for its whole generation. With a fixed pool, once every thread held
// a stream, a health probe or a Prometheus scrape on a new connection waited behind all of them
// (vLLM, being asynchronous, answers them at once). This pool starts a thread for a connection
// that finds none idle, up to max_threads; threads beyond the warm ones end after idle_timeout
// without work. So the most connections served at once is max_threads, and an idle server keeps
// warm_threads. A thread that cannot be started (the system's limit) leaves the connection queued
// for the running ones.

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace kvscope::server {

struct ConnectionPoolOptions {
    std::size_t max_threads = 512;                   // the most tasks (connections) run at once
    std::size_t warm_threads = 8;                    // started at once and kept when idle (at most max_threads)
    std::chrono::milliseconds idle_timeout{30'000};  // a thread beyond the warm ones ends after this idle
};

class ConnectionPool final : public httplib::TaskQueue {
public:
    // Starts the warm threads; throws std::system_error when not even those can be started.
    explicit ConnectionPool(ConnectionPoolOptions options);
    ~ConnectionPool() override;  // shutdown()

    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    void enqueue(std::function<void()> task) override;
    // Runs every queued task, then joins every thread. Tasks enqueued later are run by the caller.
    void shutdown() override;

    std::size_t num_threads() const;  // running now, busy or idle
    std::size_t num_idle() const;
    std::size_t num_queued() const;  // waiting for a thread

private:
    void spawn_locked();  // one more thread; m_ held
    void work(std::size_t id);
    void join_retired();

    const std::size_t max_threads_;
    const std::size_t warm_threads_;
    const std::chrono::milliseconds idle_timeout_;
    mutable std::mutex m_;
    std::condition_variable work_ready_;
    std::deque<std::function<void()>> queue_;
    std::map<std::size_t, std::thread> threads_;  // by id
    std::vector<std::thread> retired_;            // ended after idling, to be joined
    std::size_t next_id_ = 0;
    std::size_t num_idle_ = 0;      // waiting for a task
    std::size_t num_starting_ = 0;  // started, not yet looking for a task
    bool stopping_ = false;
};

}  // namespace kvscope::server
