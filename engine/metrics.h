#pragma once
// Engine metrics with vLLM's names, meanings and histogram buckets (vllm/v1/metrics/loggers.py),
// so that the workbench, the CLI, exports and /metrics read the same numbers from one place.
// The KV-cache figures (usage, fragmentation, sharing, prefix hit rate) are defined in
// engine/kv_snapshot.h (KvCacheStats) and copied here after every step.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kvscope {

// A Prometheus-style histogram: counts per bucket with upper bounds `bounds` (plus +Inf).
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);

    void observe(double value);
    // Adds observations counted per bucket (`counts` as counts() has them) whose values sum to
    // `sum`: a histogram read back from a server's /metrics.
    void add(std::span<const std::uint64_t> counts, double sum);
    const std::vector<double>& bounds() const { return bounds_; }
    // counts()[i]: observations <= bounds()[i] and > bounds()[i-1]; the last entry is +Inf.
    const std::vector<std::uint64_t>& counts() const { return counts_; }
    std::uint64_t count() const { return count_; }
    double sum() const { return sum_; }
    double mean() const { return count_ == 0 ? 0.0 : sum_ / double(count_); }
    // The q-quantile of the observations, estimated as histogram_quantile() does.
    double quantile(double q) const;

private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

// The q-quantile (q in [0, 1]) of observations counted per bucket (`counts` has bounds.size() + 1
// entries, the last for +Inf), estimated as Prometheus's histogram_quantile does: the bucket
// holding rank q * total is found, and the value interpolated linearly inside it (the first
// bucket starts at 0); a rank in the +Inf bucket gives the highest finite bound. NaN when the
// counts hold no observation. Charts take it over the difference of two snapshots' counts.
double histogram_quantile(std::span<const double> bounds, std::span<const std::uint64_t> counts, double q);

struct EngineMetrics {
    EngineMetrics();

    // Gauges, as of the last step.
    std::int32_t num_requests_running = 0;
    std::int32_t num_requests_waiting = 0;
    std::int32_t num_requests_swapped = 0;  // sequences preempted by swap, waiting to resume (vLLM v0)
    double kv_cache_usage_perc = 0;         // fraction of blocks held by sequences (vLLM: 0..1)
    double kv_fragmentation = 0;            // (slots in held blocks - tokens stored) / slots in held blocks
    std::int32_t num_shared_blocks = 0;
    std::int64_t sharing_saved_bytes = 0;  // sum over blocks of (ref_count - 1) x block bytes

    // Counters since the engine started.
    std::int64_t prefix_cache_queries = 0;  // prompt tokens looked up in the prefix cache
    std::int64_t prefix_cache_hits = 0;     // of those, tokens found
    std::int64_t num_preemptions = 0;
    std::int64_t prompt_tokens = 0;  // prompt tokens computed (prefix-cache hits excluded)
    std::int64_t generation_tokens = 0;
    std::int64_t num_steps = 0;
    std::int64_t request_success_stop = 0;
    std::int64_t request_success_length = 0;
    std::int64_t request_success_abort = 0;

    // Histograms (seconds, or tokens for the last ones).
    Histogram time_to_first_token_seconds;
    Histogram inter_token_latency_seconds;
    Histogram e2e_request_latency_seconds;
    Histogram request_queue_time_seconds;
    Histogram request_prefill_time_seconds;
    Histogram request_decode_time_seconds;
    Histogram iteration_tokens_total;
    Histogram request_prompt_tokens;
    Histogram request_generation_tokens;

    double prefix_cache_hit_rate() const {
        return prefix_cache_queries == 0 ? 0.0 : double(prefix_cache_hits) / double(prefix_cache_queries);
    }
};

}  // namespace kvscope
