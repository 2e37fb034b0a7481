#pragma once
// GET /metrics: the Prometheus text exposition format (version 0.0.4) with vLLM's metric names,
// types, labels (model_name, engine) and histogram buckets (vllm/v1/metrics/loggers.py), so that
// dashboards and alerts written for vLLM read kvscope unchanged:
//   gauges      vllm:num_requests_running, vllm:num_requests_waiting, vllm:kv_cache_usage_perc
//               (and its deprecated name vllm:gpu_cache_usage_perc), vllm:cache_config_info
//   counters    vllm:prompt_tokens_total, vllm:generation_tokens_total, vllm:num_preemptions_total,
//               vllm:prefix_cache_queries_total, vllm:prefix_cache_hits_total,
//               vllm:request_success_total{finished_reason="stop"|"length"|"abort"}
//   histograms  vllm:time_to_first_token_seconds, vllm:inter_token_latency_seconds (and its older
//               name vllm:time_per_output_token_seconds), vllm:e2e_request_latency_seconds,
//               vllm:request_queue_time_seconds, vllm:request_prefill_time_seconds,
//               vllm:request_decode_time_seconds, vllm:request_inference_time_seconds,
//               vllm:request_time_per_output_token_seconds, vllm:iteration_tokens_total,
//               vllm:request_prompt_tokens, vllm:request_generation_tokens,
//               vllm:request_max_num_generation_tokens, vllm:request_params_n,
//               vllm:request_params_max_tokens
// kvscope's own figures (DESIGN.md "Numbers shown to users") use a kvscope: prefix:
//   kvscope:kv_cache_fragmentation_perc, kvscope:kv_cache_shared_blocks,
//   kvscope:kv_cache_sharing_saved_bytes, kvscope:kv_cache_blocks{state="active"|"cached"|"free"},
//   kvscope:prefix_cache_hit_rate, kvscope:engine_steps_total.

#include <string>

#include "app/server/engine_host.h"

namespace kvscope::server {

std::string render_prometheus(const ServingState& state, const ServingInfo& info, const std::string& model_name);

// Python's repr of a float as prometheus_client writes it: "0.0", "0.25", "2560.0", "1e+20",
// "+Inf", "-Inf", "NaN".
std::string prometheus_number(double value);

}  // namespace kvscope::server
