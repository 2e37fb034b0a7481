// ConnectionPool: a thread for every task that finds none idle, up to the limit; beyond it tasks
// wait; threads beyond the warm ones end after their idle time; shutdown runs what is queued.
// Tasks here block on a gate, as connections hold their threads while they stream.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "app/server/connection_pool.h"

namespace kvscope::test {
namespace connection_pool_test {

using namespace std::chrono_literals;
using server::ConnectionPool;
using server::ConnectionPoolOptions;

// Tasks that count themselves in and wait until opened.
class Gate {
public:
    std::function<void()> task() {
        return [this] {
            std::unique_lock<std::mutex> lock(m_);
            ++entered_;
            changed_.notify_all();
            changed_.wait(lock, [this] { return open_; });
            ++finished_;
            changed_.notify_all();
        };
    }
    void open() {
        const std::lock_guard<std::mutex> lock(m_);
        open_ = true;
        changed_.notify_all();
    }
    // Waits (at most 10 s) until `n` tasks have entered; returns how many have.
    int wait_entered(int n) {
        std::unique_lock<std::mutex> lock(m_);
        changed_.wait_for(lock, 10s, [&] { return entered_ >= n; });
        return entered_;
    }
    int entered() {
        const std::lock_guard<std::mutex> lock(m_);
        return entered_;
    }
    int finished() {
        const std::lock_guard<std::mutex> lock(m_);
        return finished_;
    }

private:
    std::mutex m_;
    std::condition_variable changed_;
    bool open_ = false;
    int entered_ = 0;
    int finished_ = 0;
};

// Polls (at most 10 s) until pred() holds.
template <typename Pred>
bool eventually(Pred pred) {
    for (int i = 0; i < 1000 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
}

TEST(ConnectionPool, StartsTheWarmThreadsAndNoMore) {
    ConnectionPool pool(ConnectionPoolOptions{.max_threads = 16, .warm_threads = 3});
    EXPECT_EQ(pool.num_threads(), 3u);
    EXPECT_TRUE(eventually([&] { return pool.num_idle() == 3; }));
    // Warm threads beyond the limit are not started.
    ConnectionPool small(ConnectionPoolOptions{.max_threads = 2, .warm_threads = 8});
    EXPECT_EQ(small.num_threads(), 2u);
}

// 100 tasks that hold their threads are all running at once with 4 warm threads (a fixed pool of
// 4 ran 4 and queued 96); one more task, a probe, still runs at once.
TEST(ConnectionPool, EveryTaskGetsAThreadUpToTheLimit) {
    Gate streams;  // outlives the pool, which joins the threads that use it
    ConnectionPool pool(ConnectionPoolOptions{.max_threads = 128, .warm_threads = 4});
    for (int i = 0; i < 100; ++i) pool.enqueue(streams.task());
    ASSERT_EQ(streams.wait_entered(100), 100);
    EXPECT_EQ(pool.num_threads(), 100u);

    std::atomic<bool> probed{false};
    pool.enqueue([&] { probed = true; });
    EXPECT_TRUE(eventually([&] { return probed.load(); }));
    EXPECT_EQ(pool.num_queued(), 0u);
    streams.open();
    EXPECT_TRUE(eventually([&] { return streams.finished() == 100; }));
}

// At the limit, a task waits for a thread to come free, and is then run on it.
TEST(ConnectionPool, AtTheLimitATaskWaitsForAThread) {
    Gate held;
    ConnectionPool pool(ConnectionPoolOptions{.max_threads = 3, .warm_threads = 1});
    for (int i = 0; i < 3; ++i) pool.enqueue(held.task());
    ASSERT_EQ(held.wait_entered(3), 3);
    std::atomic<bool> ran{false};
    pool.enqueue([&] { ran = true; });
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(ran.load());
    EXPECT_EQ(pool.num_queued(), 1u);
    EXPECT_EQ(pool.num_threads(), 3u);
    held.open();
    EXPECT_TRUE(eventually([&] { return ran.load(); }));
    EXPECT_EQ(pool.num_threads(), 3u);
}

// Idle threads reuse: tasks one after another never start a thread beyond the warm ones.
TEST(ConnectionPool, AnIdleThreadTakesTheNextTask) {
    ConnectionPool pool(ConnectionPoolOptions{.max_threads = 64, .warm_threads = 2});
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(eventually([&] { return pool.num_idle() == 2; }));
        std::atomic<bool> ran{false};
        pool.enqueue([&] { ran = true; });
        ASSERT_TRUE(eventually([&] { return ran.load(); }));
    }
    EXPECT_EQ(pool.num_threads(), 2u);
}

// After a burst, the threads beyond the warm ones end once idle for the timeout; the pool then
// grows again for the next burst.
TEST(ConnectionPool, ThreadsBeyondTheWarmOnesEndWhenIdle) {
    ConnectionPool pool(ConnectionPoolOptions{.max_threads = 32, .warm_threads = 2, .idle_timeout = 50ms});
    for (int burst = 0; burst < 2; ++burst) {
        Gate held;
        for (int i = 0; i < 20; ++i) pool.enqueue(held.task());
        ASSERT_EQ(held.wait_entered(20), 20);
        EXPECT_EQ(pool.num_threads(), 20u);
        held.open();
        ASSERT_TRUE(eventually([&] { return held.finished() == 20; }));  // before the gate goes
        EXPECT_TRUE(eventually([&] { return pool.num_threads() == 2; })) << pool.num_threads();
        std::this_thread::sleep_for(200ms);
        EXPECT_EQ(pool.num_threads(), 2u);  // the warm ones stay
    }
}

// Shutdown runs the queued tasks and joins every thread, retired ones included.
TEST(ConnectionPool, ShutdownRunsWhatIsQueuedAndJoins) {
    std::atomic<int> done{0};
    Gate held;
    {
        ConnectionPool pool(ConnectionPoolOptions{.max_threads = 2, .warm_threads = 1, .idle_timeout = 10ms});
        for (int i = 0; i < 2; ++i) pool.enqueue(held.task());
        ASSERT_EQ(held.wait_entered(2), 2);
        for (int i = 0; i < 5; ++i) pool.enqueue([&] { ++done; });
        EXPECT_EQ(pool.num_queued(), 5u);
        std::thread opener([&] {
            std::this_thread::sleep_for(100ms);
            held.open();
        });
        pool.shutdown();
        opener.join();
        EXPECT_EQ(done.load(), 5);
        EXPECT_EQ(held.finished(), 2);
        pool.enqueue([&] { ++done; });  // after shutdown: run by the caller, not lost
        EXPECT_EQ(done.load(), 6);
    }  // the destructor's second shutdown finds nothing to join
}

}  // namespace connection_pool_test
}  // namespace kvscope::test
