#include "app/bridge/remote_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace kvscope::app {
namespace {

bool has_prefix(const server::PromText& metrics, const std::string& prefix) {
    for (const server::PromSample& s : metrics.samples()) {
        if (s.name.rfind(prefix, 0) == 0) return true;
    }
    return false;
}

// The first of `names` that is exported.
std::optional<double> first_value(const server::PromText& metrics, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        if (!metrics.find(name).empty()) return metrics.sum(name);
    }
    return std::nullopt;
}

// The cumulative counts of `h` when its bounds are `bounds` (+Inf last); empty otherwise.
std::vector<double> cumulative(const server::PromHistogram& h, const std::vector<double>& bounds) {
    if (h.buckets.size() != bounds.size() + 1 || !std::isinf(h.buckets.back().first)) return {};
    std::vector<double> counts;
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
        if (i < bounds.size() && std::abs(h.buckets[i].first - bounds[i]) > 1e-9 * std::max(1.0, bounds[i])) return {};
        counts.push_back(h.buckets[i].second);
    }
    return counts;
}

}  // namespace

std::string kind_name(ServerKind kind) {
    switch (kind) {
        case ServerKind::Kvscope:
            return "kvscope";
        case ServerKind::Vllm:
            return "vLLM";
        case ServerKind::LlamaCpp:
            return "llama.cpp";
    }
    return "?";
}

std::optional<ServerKind> metrics_kind(const server::PromText& metrics) {
    if (has_prefix(metrics, "vllm:")) return ServerKind::Vllm;
    if (has_prefix(metrics, "llamacpp:")) return ServerKind::LlamaCpp;
    return std::nullopt;
}

void LatencyFollower::follow(const std::optional<server::PromHistogram>& read, Series& series) {
    const std::vector<double>& bounds = series.histogram.bounds();
    const std::vector<double> now = read ? cumulative(*read, bounds) : std::vector<double>{};
    if (now.empty()) return;
    const bool first = series.last.size() != now.size();
    std::vector<std::uint64_t> added(now.size());
    for (std::size_t i = 0; i < now.size(); ++i) {
        const double in_bucket = now[i] - (i > 0 ? now[i - 1] : 0.0);
        const double before = first ? 0.0 : series.last[i] - (i > 0 ? series.last[i - 1] : 0.0);
        if (in_bucket < before) {  // a restarted server: follow from here
            series.last = now;
            series.lastSum = read->sum;
            return;
        }
        added[i] = static_cast<std::uint64_t>(std::llround(in_bucket - before));
    }
    series.histogram.add(added, read->sum - (first ? 0.0 : series.lastSum));
    series.last = now;
    series.lastSum = read->sum;
}

void LatencyFollower::update(const server::PromText& metrics, EngineMetrics& out) {
    follow(metrics.histogram("vllm:time_to_first_token_seconds"), ttft_);
    std::optional<server::PromHistogram> itl = metrics.histogram("vllm:inter_token_latency_seconds");
    if (!itl) itl = metrics.histogram("vllm:time_per_output_token_seconds");  // vLLM before 0.9
    follow(itl, itl_);
    out.time_to_first_token_seconds = ttft_.histogram;
    out.inter_token_latency_seconds = itl_.histogram;
}

EngineSnapshot metrics_snapshot(const server::PromText& metrics, ServerKind kind) {
    EngineSnapshot snap;
    snap.detail = SnapshotDetail::CountersOnly;
    EngineMetrics& m = snap.metrics;
    KvCacheStats& kv = snap.kv.stats;
    double usage = 0;
    std::int32_t blocks = 1000;
    if (kind == ServerKind::LlamaCpp) {
        m.num_requests_running = static_cast<std::int32_t>(metrics.sum("llamacpp:requests_processing"));
        m.num_requests_waiting = static_cast<std::int32_t>(metrics.sum("llamacpp:requests_deferred"));
        m.prompt_tokens = static_cast<std::int64_t>(metrics.sum("llamacpp:prompt_tokens_total"));
        m.generation_tokens = static_cast<std::int64_t>(metrics.sum("llamacpp:tokens_predicted_total"));
        m.num_steps = static_cast<std::int64_t>(metrics.sum("llamacpp:n_decode_total"));
        usage = metrics.sum("llamacpp:kv_cache_usage_ratio");
    } else {
        m.num_requests_running = static_cast<std::int32_t>(metrics.sum("vllm:num_requests_running"));
        m.num_requests_waiting = static_cast<std::int32_t>(metrics.sum("vllm:num_requests_waiting"));
        m.prompt_tokens = static_cast<std::int64_t>(metrics.sum("vllm:prompt_tokens_total"));
        m.generation_tokens = static_cast<std::int64_t>(metrics.sum("vllm:generation_tokens_total"));
        m.num_preemptions = static_cast<std::int64_t>(metrics.sum("vllm:num_preemptions_total"));
        m.prefix_cache_queries = static_cast<std::int64_t>(
            first_value(metrics, {"vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"})
                .value_or(0));
        m.prefix_cache_hits = static_cast<std::int64_t>(
            first_value(metrics, {"vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"}).value_or(0));
        usage = first_value(metrics, {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}).value_or(0);
        for (const server::PromSample* info : metrics.find("vllm:cache_config_info")) {
            const auto it = info->labels.find("num_gpu_blocks");
            if (it != info->labels.end() && !it->second.empty() && it->second != "None")
                blocks = std::max(1, std::atoi(it->second.c_str()));
        }
    }
    usage = std::clamp(std::isfinite(usage) ? usage : 0.0, 0.0, 1.0);
    m.kv_cache_usage_perc = usage;
    kv.num_blocks = blocks;
    kv.num_used_blocks = static_cast<std::int32_t>(std::lround(usage * blocks));
    kv.num_free_blocks = blocks - kv.num_used_blocks;
    kv.block_size = 1;  // no block layout is known: fragmentation shows as none
    kv.num_filled_slots = kv.num_used_blocks;
    kv.num_prefix_query_tokens = m.prefix_cache_queries;
    kv.num_prefix_hit_tokens = m.prefix_cache_hits;
    kv.num_sequences = m.num_requests_running + m.num_requests_waiting;
    snap.step = m.num_steps;
    kv.step = m.num_steps;
    return snap;
}

}  // namespace kvscope::app
