#pragma once
// A persistent pool of threads for the many small parallel regions of a forward pass.
//
// num_threads() threads take part in every region: num_threads() - 1 workers plus the thread
// that calls parallel_for / run_on_threads (thread index 0), which returns when all are done.
// Between regions, workers spin for a short while (the next region of a decode step usually
// follows within microseconds), then sleep on a futex until the next one.
//
// A call does not allocate: the callable is passed by address with a function pointer that
// restores its type. Rules:
// - One region at a time per pool, started from one thread at a time. Calling parallel_for or
//   run_on_threads from inside a task of the same pool (nesting), or from two threads at once,
//   is a bug: it fails a KV_CHECK (abort) instead of deadlocking.
// - Tasks must not throw (an exception in a worker terminates the program).
// - The destructor must not run while a region is in flight; it stops and joins the workers.
//
// Use this header only from files compiled for the baseline target (not *_avx2.cpp /
// *_avx512.cpp): its templates are instantiated where they are used.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace kvscope {

class ThreadPool {
public:
    // num_threads <= 0: std::thread::hardware_concurrency() (at least 1).
    // spin_iterations: how many pause-loop polls a waiting thread makes before it sleeps.
    explicit ThreadPool(int num_threads = 0, int spin_iterations = kDefaultSpinIterations);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int num_threads() const { return num_threads_; }

    // fn(begin, end) over a static partition of [0, num_items) into at most num_threads()
    // contiguous ranges of near-equal size (sizes differ by at most one; no empty range is
    // passed). Runs inline on the calling thread when one range suffices.
    template <class Fn>
    void parallel_for(std::int64_t num_items, Fn&& fn);

    // fn(thread_index, num_threads) once on every thread of the pool (index 0 = the caller).
    // For work that balances itself, e.g. threads taking items from a shared atomic counter.
    template <class Fn>
    void run_on_threads(Fn&& fn);

    // The range of item `part` when num_items are split into num_parts as parallel_for does.
    static std::pair<std::int64_t, std::int64_t> partition(std::int64_t num_items, int part, int num_parts) {
        const std::int64_t base = num_items / num_parts;
        const std::int64_t extra = num_items % num_parts;  // the first `extra` parts get one more
        const std::int64_t begin = part * base + std::min<std::int64_t>(part, extra);
        return {begin, begin + base + (part < extra ? 1 : 0)};
    }

    static constexpr int kDefaultSpinIterations = 1 << 14;

private:
    using TaskFn = void (*)(void* context, int thread_index, int num_threads);

    // Runs task(context, t, num_active) on threads t < num_active (workers past it only
    // acknowledge), then returns when every worker has acknowledged.
    void run(TaskFn task, void* context, int num_active);
    void worker_loop(int thread_index);
    void begin_region();
    void end_region();

    int num_threads_;
    int spin_iterations_;
    std::vector<std::thread> workers_;

    // The region being run: written by the caller before generation_ is bumped.
    TaskFn task_ = nullptr;
    void* task_context_ = nullptr;
    int task_num_active_ = 0;
    bool stopping_ = false;

    // Bumped once per region; workers wait on it (futex word).
    alignas(64) std::atomic<std::uint32_t> generation_{0};
    std::atomic<std::int32_t> num_sleeping_{0};  // workers blocked in futex wait on generation_
    // Workers that have not finished the current region; the caller waits on it (futex word).
    alignas(64) std::atomic<std::uint32_t> num_pending_{0};
    std::atomic<std::int32_t> caller_sleeping_{0};
    // Set while a region runs: catches nested and concurrent use.
    alignas(64) std::atomic<bool> busy_{false};
};

template <class Fn>
void ThreadPool::parallel_for(std::int64_t num_items, Fn&& fn) {
    if (num_items <= 0) return;
    const int num_parts = static_cast<int>(std::min<std::int64_t>(num_threads_, num_items));
    if (num_parts == 1) {
        begin_region();
        fn(std::int64_t{0}, num_items);
        end_region();
        return;
    }
    struct Context {
        std::remove_reference_t<Fn>* fn;
        std::int64_t num_items;
    } context{&fn, num_items};
    run(
        [](void* p, int part, int num_parts) {
            auto* c = static_cast<Context*>(p);
            const auto [begin, end] = partition(c->num_items, part, num_parts);
            (*c->fn)(begin, end);
        },
        &context, num_parts);
}

template <class Fn>
void ThreadPool::run_on_threads(Fn&& fn) {
    if (num_threads_ == 1) {
        begin_region();
        fn(0, 1);
        end_region();
        return;
    }
    run([](void* p, int thread_index,
           int num_threads) { (*static_cast<std::remove_reference_t<Fn>*>(p))(thread_index, num_threads); },
        &fn, num_threads_);
}

}  // namespace kvscope
