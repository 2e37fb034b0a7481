#pragma once
// Request-level histograms that vLLM exports and the engine does not keep, observed by the
// StreamRouter when a served request finishes (so they cover requests that came through the
// server): time in the running phase, time per output token, and the request parameters.
// Buckets as vLLM's PrometheusStatLogger has them.

#include <cstdint>

#include "engine/metrics.h"
#include "engine/request.h"

namespace kvscope::server {

struct ServingMetrics {
    explicit ServingMetrics(std::int32_t max_model_len);

    // One finished request: its timings, its n and max_tokens, and the most tokens one of its
    // samples generated.
    void observe(const RequestTimings& timings, std::int32_t n, std::int32_t max_tokens,
                 std::int32_t max_sample_tokens);

    Histogram request_inference_time_seconds;         // prefill + decode
    Histogram request_time_per_output_token_seconds;  // decode time / (longest sample's tokens - 1)
    Histogram request_params_n;
    Histogram request_params_max_tokens;
    Histogram request_max_num_generation_tokens;
};

// 1, 2, 5, 10, 20, 50, ... up to `max` (vLLM's build_1_2_5_buckets).
std::vector<double> buckets_1_2_5(double max);

}  // namespace kvscope::server
