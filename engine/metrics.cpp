#include "engine/metrics.h"

#include <algorithm>
#include <limits>

#include "kernels/check.h"

namespace kvscope {
namespace {

// vLLM's buckets.
std::vector<double> ttft_buckets() {
    return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
            1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}
std::vector<double> itl_buckets() {
    return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
}
std::vector<double> request_latency_buckets() {
    return {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
            30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}
// 1, 2, 5, 10, 20, 50, ... up to `max` (vLLM's build_1_2_5_buckets).
std::vector<double> buckets_1_2_5(double max) {
    std::vector<double> out;
    for (double exponent = 1;; exponent *= 10) {
        for (double m : {1.0, 2.0, 5.0}) {
            if (m * exponent > max) return out;
            out.push_back(m * exponent);
        }
    }
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
    KV_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void Histogram::observe(double value) {
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
    ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
    ++count_;
    sum_ += value;
}

void Histogram::add(std::span<const std::uint64_t> counts, double sum) {
    KV_CHECK(counts.size() == counts_.size());
    for (std::size_t i = 0; i < counts.size(); ++i) {
        counts_[i] += counts[i];
        count_ += counts[i];
    }
    sum_ += sum;
}

double Histogram::quantile(double q) const {
    return histogram_quantile(bounds_, counts_, q);
}

double histogram_quantile(std::span<const double> bounds, std::span<const std::uint64_t> counts, double q) {
    KV_CHECK(counts.size() == bounds.size() + 1);
    std::uint64_t total = 0;
    for (const std::uint64_t c : counts) total += c;
    if (total == 0) return std::numeric_limits<double>::quiet_NaN();
    const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    std::uint64_t below = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
        if (counts[b] == 0 || static_cast<double>(below + counts[b]) < rank) {
            below += counts[b];
            continue;
        }
        if (b == bounds.size()) return bounds.empty() ? 0.0 : bounds.back();  // the +Inf bucket
        const double lo = b == 0 ? 0.0 : bounds[b - 1];
        const double within = (rank - static_cast<double>(below)) / static_cast<double>(counts[b]);
        return lo + (bounds[b] - lo) * within;
    }
    return bounds.empty() ? 0.0 : bounds.back();
}

EngineMetrics::EngineMetrics()
    : time_to_first_token_seconds(ttft_buckets()),
      inter_token_latency_seconds(itl_buckets()),
      e2e_request_latency_seconds(request_latency_buckets()),
      request_queue_time_seconds(request_latency_buckets()),
      request_prefill_time_seconds(request_latency_buckets()),
      request_decode_time_seconds(request_latency_buckets()),
      iteration_tokens_total({1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}),
      request_prompt_tokens(buckets_1_2_5(1 << 20)),
      request_generation_tokens(buckets_1_2_5(1 << 20)) {}

}  // namespace kvscope
