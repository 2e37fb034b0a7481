#include "app/server/serving_metrics.h"

#include <algorithm>

namespace kvscope::server {
namespace {

// The engine's histograms already carry vLLM's bounds: take them from there, not a copy.
std::vector<double> request_latency_bounds() {
    return EngineMetrics{}.e2e_request_latency_seconds.bounds();
}
std::vector<double> per_token_bounds() {
    return EngineMetrics{}.inter_token_latency_seconds.bounds();
}

}  // namespace

std::vector<double> buckets_1_2_5(double max) {
    std::vector<double> out;
    for (double exponent = 1;; exponent *= 10) {
        for (double m : {1.0, 2.0, 5.0}) {
            if (m * exponent > max) return out;
            out.push_back(m * exponent);
        }
    }
}

ServingMetrics::ServingMetrics(std::int32_t max_model_len)
    : request_inference_time_seconds(request_latency_bounds()),
      request_time_per_output_token_seconds(per_token_bounds()),
      request_params_n({1, 2, 5, 10, 20}),
      request_params_max_tokens(buckets_1_2_5(std::max(1, max_model_len))),
      request_max_num_generation_tokens(buckets_1_2_5(std::max(1, max_model_len))) {}

void ServingMetrics::observe(const RequestTimings& t, std::int32_t n, std::int32_t max_tokens,
                             std::int32_t max_sample_tokens) {
    request_inference_time_seconds.observe(t.prefill_time + t.decode_time);
    if (max_sample_tokens > 1) {
        request_time_per_output_token_seconds.observe(t.decode_time / double(max_sample_tokens - 1));
    }
    request_params_n.observe(n);
    request_params_max_tokens.observe(max_tokens);
    request_max_num_generation_tokens.observe(max_sample_tokens);
}

}  // namespace kvscope::server
