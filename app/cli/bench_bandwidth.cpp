#include "app/cli/bench_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "kernels/thread_pool.h"

namespace kvscope::cli::bench {
namespace {

struct Free {
    void operator()(void* p) const { std::free(p); }
};

// Page-aligned; aligned_alloc wants a size that is a multiple of the alignment (the triad's
// thirds of the probe are not: ASan refuses them, glibc let them pass).
std::unique_ptr<std::uint64_t[], Free> make_array(std::size_t bytes) {
    constexpr std::size_t kPage = 4096;
    auto* p = static_cast<std::uint64_t*>(std::aligned_alloc(kPage, (bytes + kPage - 1) / kPage * kPage));
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 1, bytes);  // commit every page before timing
    return std::unique_ptr<std::uint64_t[], Free>(p);
}

template <class Fn>
double timed(Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Bandwidth measure_bandwidth(ThreadPool& pool, std::size_t array_bytes, int passes) {
    const std::size_t words = array_bytes / sizeof(std::uint64_t) / 64 * 64;
    Bandwidth out;
    out.array_bytes = words * sizeof(std::uint64_t);
    // 1. read: every thread sums its share with 4 independent accumulators
    {
        const auto a = make_array(out.array_bytes);
        volatile std::uint64_t sink = 0;
        for (int p = 0; p < passes; ++p) {
            const double s = timed([&] {
                pool.parallel_for(static_cast<std::int64_t>(words / 64), [&](std::int64_t begin, std::int64_t end) {
                    std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (std::size_t i = static_cast<std::size_t>(begin) * 64; i < static_cast<std::size_t>(end) * 64;
                         i += 4) {
                        s0 += a[i];
                        s1 += a[i + 1];
                        s2 += a[i + 2];
                        s3 += a[i + 3];
                    }
                    sink = sink + (s0 + s1 + s2 + s3);
                });
            });
            out.read_bytes_per_s = std::max(out.read_bytes_per_s, double(out.array_bytes) / s);
        }
    }
    // 2. triad over three arrays of a third of the size each
    {
        const std::size_t n = words / 3 / 64 * 64;
        const auto a = make_array(n * 8), b = make_array(n * 8), c = make_array(n * 8);
        auto* da = reinterpret_cast<double*>(a.get());
        const auto* db = reinterpret_cast<const double*>(b.get());
        const auto* dc = reinterpret_cast<const double*>(c.get());
        for (int p = 0; p < passes; ++p) {
            const double s = timed([&] {
                pool.parallel_for(static_cast<std::int64_t>(n / 64), [&](std::int64_t begin, std::int64_t end) {
                    for (std::size_t i = static_cast<std::size_t>(begin) * 64; i < static_cast<std::size_t>(end) * 64;
                         ++i) {
                        da[i] = db[i] + 3.0 * dc[i];
                    }
                });
            });
            out.triad_bytes_per_s = std::max(out.triad_bytes_per_s, 3.0 * double(n * 8) / s);
        }
    }
    return out;
}

}  // namespace kvscope::cli::bench
