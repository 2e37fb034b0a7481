#pragma once
// A STREAM-like probe of this machine's memory bandwidth, run on a thread pool as the forward
// pass runs (each thread streams a contiguous share). Arrays are far larger than the caches.
//   read:  sum of 64-bit words over the array (bytes = the array), the access of a decode step
//   triad: a[i] = b[i] + s * c[i] over doubles (bytes = 3 arrays, STREAM's count)
// Each figure is the best of `passes` passes, as STREAM reports.

#include <cstddef>

namespace kvscope {
class ThreadPool;
}

namespace kvscope::cli::bench {

struct Bandwidth {
    double read_bytes_per_s = 0;
    double triad_bytes_per_s = 0;
    std::size_t array_bytes = 0;
};

Bandwidth measure_bandwidth(ThreadPool& pool, std::size_t array_bytes, int passes);

}  // namespace kvscope::cli::bench
