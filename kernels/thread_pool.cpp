#include "kernels/thread_pool.h"

#include <climits>

#include "kernels/check.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace kvscope {
namespace {

// One poll of a spin-wait. Every 64th poll yields the core, so that a pool with more threads
// than free cores (other processes, oversubscription) still makes progress quickly: a spinning
// thread would otherwise hold the core for a whole time slice while the one it waits for is
// not running.
void spin_pause(int iteration) {
    if ((iteration & 63) == 63) {
        std::this_thread::yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Sleep while *word == expected (returns at once if it differs; may return spuriously).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
#else
    word.wait(expected, std::memory_order_seq_cst);
#endif
}

void futex_wake_all(std::atomic<std::uint32_t>& word) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
    word.notify_all();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int num_threads, int spin_iterations)
    : num_threads_(num_threads > 0 ? num_threads : static_cast<int>(std::thread::hardware_concurrency())),
      spin_iterations_(std::max(0, spin_iterations)) {
    if (num_threads_ < 1) num_threads_ = 1;
    workers_.reserve(num_threads_ - 1);
    for (int t = 1; t < num_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
    KV_CHECK_MSG(!busy_.load(), "ThreadPool destroyed while a parallel region runs");
    // Publish the stop request like a region, so every worker wakes up and sees it.
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(generation_);
    for (auto& w : workers_) w.join();
}

void ThreadPool::begin_region() {
    const bool was_busy = busy_.exchange(true, std::memory_order_acquire);
    KV_CHECK_MSG(!was_busy, "ThreadPool used from inside one of its own tasks, or from two threads at once");
}

void ThreadPool::end_region() {
    busy_.store(false, std::memory_order_release);
}

void ThreadPool::run(TaskFn task, void* context, int num_active) {
    begin_region();
    // 1. Describe the region, then publish it by bumping the generation (seq_cst: pairs with
    //    the sleepers' increment of num_sleeping_ before they re-read the generation).
    task_ = task;
    task_context_ = context;
    task_num_active_ = num_active;
    num_pending_.store(static_cast<std::uint32_t>(num_threads_ - 1), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (num_sleeping_.load(std::memory_order_seq_cst) > 0) futex_wake_all(generation_);

    // 2. The caller is thread 0 and does its share.
    task(context, 0, num_active);

    // 3. Wait for the workers: spin, then sleep until the last one wakes us.
    for (int i = 0; i < spin_iterations_ && num_pending_.load(std::memory_order_acquire) != 0; ++i) spin_pause(i);
    if (num_pending_.load(std::memory_order_acquire) != 0) {
        caller_sleeping_.store(1, std::memory_order_seq_cst);
        for (std::uint32_t p; (p = num_pending_.load(std::memory_order_seq_cst)) != 0;) futex_wait(num_pending_, p);
        caller_sleeping_.store(0, std::memory_order_relaxed);
    }
    end_region();
}

void ThreadPool::worker_loop(int thread_index) {
    std::uint32_t seen = 0;
    for (;;) {
        // 1. Wait for the next generation: spin a while, then sleep on the futex.
        std::uint32_t g = generation_.load(std::memory_order_acquire);
        for (int i = 0; i < spin_iterations_ && g == seen; ++i) {
            spin_pause(i);
            g = generation_.load(std::memory_order_acquire);
        }
        while (g == seen) {
            num_sleeping_.fetch_add(1, std::memory_order_seq_cst);
            g = generation_.load(std::memory_order_seq_cst);
            if (g == seen) futex_wait(generation_, seen);
            num_sleeping_.fetch_sub(1, std::memory_order_relaxed);
            g = generation_.load(std::memory_order_acquire);
        }
        // The caller waits for every worker before it bumps again: exactly one step ahead.
        seen = g;
        if (stopping_) return;

        // 2. Run this thread's share, if it has one.
        if (thread_index < task_num_active_) task_(task_context_, thread_index, task_num_active_);

        // 3. Report completion; the last worker wakes the caller if it went to sleep.
        if (num_pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
            caller_sleeping_.load(std::memory_order_seq_cst) != 0) {
            futex_wake_all(num_pending_);
        }
    }
}

}  // namespace kvscope
