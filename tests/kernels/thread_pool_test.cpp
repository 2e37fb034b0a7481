#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace kvscope {
namespace thread_pool_test {

// Every item of [0, num_items) is visited exactly once, by ranges that are contiguous,
// non-empty and differ in size by at most one.
void expect_exact_cover(ThreadPool& pool, std::int64_t num_items) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(num_items));
    std::mutex mutex;
    std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
    pool.parallel_for(num_items, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        std::lock_guard lock(mutex);
        ranges.emplace_back(begin, end);
    });
    for (std::int64_t i = 0; i < num_items; ++i) ASSERT_EQ(hits[i].load(), 1) << "item " << i << " of " << num_items;
    if (num_items == 0) {
        EXPECT_TRUE(ranges.empty());
        return;
    }
    EXPECT_EQ(static_cast<std::int64_t>(ranges.size()), std::min<std::int64_t>(pool.num_threads(), num_items));
    std::int64_t smallest = num_items, largest = 0;
    for (const auto& [b, e] : ranges) {
        EXPECT_LT(b, e);
        smallest = std::min(smallest, e - b);
        largest = std::max(largest, e - b);
    }
    EXPECT_LE(largest - smallest, 1);
}

TEST(ThreadPoolTest, CoversAllItemsExactlyOnce) {
    for (int threads : {1, 2, 3, 4, 7}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.num_threads(), threads);
        for (std::int64_t n : {0, 1, 2, 3, 5, 7, 8, 100, 1001}) {
            SCOPED_TRACE(testing::Message() << threads << " threads, " << n << " items");
            expect_exact_cover(pool, n);
        }
    }
}

TEST(ThreadPoolTest, PartitionMatchesHandComputedRanges) {
    // 10 items in 4 parts: 3, 3, 2, 2.
    EXPECT_EQ(ThreadPool::partition(10, 0, 4), (std::pair<std::int64_t, std::int64_t>{0, 3}));
    EXPECT_EQ(ThreadPool::partition(10, 1, 4), (std::pair<std::int64_t, std::int64_t>{3, 6}));
    EXPECT_EQ(ThreadPool::partition(10, 2, 4), (std::pair<std::int64_t, std::int64_t>{6, 8}));
    EXPECT_EQ(ThreadPool::partition(10, 3, 4), (std::pair<std::int64_t, std::int64_t>{8, 10}));
}

TEST(ThreadPoolTest, ManyConsecutiveCallsAllComplete) {
    // Both wait paths: spinning workers, and workers that always sleep on the futex.
    for (int spin : {ThreadPool::kDefaultSpinIterations, 0}) {
        ThreadPool pool(3, spin);
        std::vector<std::int64_t> values(64, 0);
        constexpr int kCalls = 5000;
        for (int call = 0; call < kCalls; ++call) {
            pool.parallel_for(static_cast<std::int64_t>(values.size()), [&](std::int64_t b, std::int64_t e) {
                for (std::int64_t i = b; i < e; ++i) values[i] += i;
            });
        }
        // A caller that returned before a worker finished would leave some sums short.
        for (std::size_t i = 0; i < values.size(); ++i) ASSERT_EQ(values[i], static_cast<std::int64_t>(i) * kCalls);
    }
}

TEST(ThreadPoolTest, RunOnThreadsUsesEveryThreadOnceAndCallerIsIndexZero) {
    ThreadPool pool(4);
    for (int round = 0; round < 50; ++round) {
        std::mutex mutex;
        std::set<int> indices;
        std::set<std::thread::id> ids;
        std::thread::id index0_id;
        pool.run_on_threads([&](int index, int num_threads) {
            EXPECT_EQ(num_threads, 4);
            std::lock_guard lock(mutex);
            EXPECT_TRUE(indices.insert(index).second) << "index " << index << " ran twice";
            ids.insert(std::this_thread::get_id());
            if (index == 0) index0_id = std::this_thread::get_id();
        });
        EXPECT_EQ(indices, (std::set<int>{0, 1, 2, 3}));
        EXPECT_EQ(ids.size(), 4u);
        EXPECT_EQ(index0_id, std::this_thread::get_id());
    }
}

TEST(ThreadPoolTest, OneThreadPoolRunsInlineOnTheCaller) {
    ThreadPool pool(1);
    EXPECT_EQ(pool.num_threads(), 1);
    std::thread::id ran_on;
    std::int64_t seen_begin = -1, seen_end = -1;
    pool.parallel_for(10, [&](std::int64_t b, std::int64_t e) {
        ran_on = std::this_thread::get_id();
        seen_begin = b;
        seen_end = e;
    });
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    EXPECT_EQ(seen_begin, 0);
    EXPECT_EQ(seen_end, 10);
    int calls = 0;
    pool.run_on_threads([&](int index, int n) {
        EXPECT_EQ(index, 0);
        EXPECT_EQ(n, 1);
        ++calls;
    });
    EXPECT_EQ(calls, 1);
}

TEST(ThreadPoolTest, DefaultSizeIsHardwareConcurrency) {
    ThreadPool pool;
    EXPECT_EQ(pool.num_threads(), std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
}

TEST(ThreadPoolTest, DestructionWhileIdle) {
    { ThreadPool never_used(4); }
    {
        // Workers asleep on the futex (no spinning) when the pool goes away.
        ThreadPool pool(4, 0);
        std::atomic<int> sum{0};
        pool.parallel_for(4, [&](std::int64_t b, std::int64_t e) { sum += static_cast<int>(e - b); });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        EXPECT_EQ(sum.load(), 4);
    }
    {
        // Workers still spinning right after a region when the pool goes away.
        ThreadPool pool(4);
        pool.parallel_for(100, [](std::int64_t, std::int64_t) {});
    }
    SUCCEED();
}

TEST(ThreadPoolDeathTest, NestedUseIsRejected) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ThreadPool pool(2);
            pool.parallel_for(
                2, [&](std::int64_t, std::int64_t) { pool.parallel_for(2, [](std::int64_t, std::int64_t) {}); });
        },
        "used from inside one of its own tasks");
    EXPECT_DEATH(
        {
            ThreadPool pool(1);
            pool.parallel_for(1, [&](std::int64_t, std::int64_t) { pool.run_on_threads([](int, int) {}); });
        },
        "used from inside one of its own tasks");
}

}  // namespace thread_pool_test
}  // namespace kvscope
