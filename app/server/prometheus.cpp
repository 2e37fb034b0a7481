#include "app/server/prometheus.h"

#include <charconv>
#include <cmath>

namespace kvscope::server {
namespace {

std::string escape_label(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

class Writer {
public:
    explicit Writer(const std::string& model_name)
        : labels_("model_name=\"" + escape_label(model_name) + "\",engine=\"0\"") {}

    void family(const std::string& name, const char* type, const char* help) {
        text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    }
    void sample(const std::string& name, double value, const std::string& extra_labels = "") {
        text_ += name + "{" + labels_ + extra_labels + "} " + prometheus_number(value) + "\n";
    }
    void gauge(const std::string& name, const char* help, double value) {
        family(name, "gauge", help);
        sample(name, value);
    }
    void counter(const std::string& name, const char* help, double value) {
        family(name, "counter", help);
        sample(name, value);
    }
    void histogram(const std::string& name, const char* help, const Histogram& h) {
        family(name, "histogram", help);
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds().size(); ++i) {
            cumulative += h.counts()[i];
            sample(name + "_bucket", double(cumulative), ",le=\"" + prometheus_number(h.bounds()[i]) + "\"");
        }
        sample(name + "_bucket", double(h.count()), ",le=\"+Inf\"");
        sample(name + "_count", double(h.count()));
        sample(name + "_sum", h.sum());
    }
    std::string take() { return std::move(text_); }

private:
    std::string labels_;
    std::string text_;
};

void write_vllm_gauges_and_counters(Writer& w, const EngineMetrics& m, const ServingInfo& info) {
    w.gauge("vllm:num_requests_running", "Number of requests in model execution batches.", m.num_requests_running);
    w.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", m.num_requests_waiting);
    w.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", m.kv_cache_usage_perc);
    w.gauge("vllm:gpu_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage. DEPRECATED: use vllm:kv_cache_usage_perc.",
            m.kv_cache_usage_perc);
    w.family("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
    w.sample("vllm:cache_config_info", 1.0,
             ",block_size=\"" + std::to_string(info.config.block_size) + "\",num_gpu_blocks=\"" +
                 std::to_string(info.plan.num_blocks) + "\",enable_prefix_caching=\"" +
                 (info.config.enable_prefix_caching ? "True" : "False") + "\"");
    w.counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.",
              double(m.prefix_cache_queries));
    w.counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.",
              double(m.prefix_cache_hits));
    w.counter("vllm:num_preemptions_total", "Cumulative number of preemption from the engine.",
              double(m.num_preemptions));
    w.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", double(m.prompt_tokens));
    w.counter("vllm:generation_tokens_total", "Number of generation tokens processed.", double(m.generation_tokens));
    w.family("vllm:request_success_total", "counter", "Count of successfully processed requests.");
    w.sample("vllm:request_success_total", double(m.request_success_stop), ",finished_reason=\"stop\"");
    w.sample("vllm:request_success_total", double(m.request_success_length), ",finished_reason=\"length\"");
    w.sample("vllm:request_success_total", double(m.request_success_abort), ",finished_reason=\"abort\"");
}

void write_vllm_histograms(Writer& w, const EngineMetrics& m, const ServingMetrics& s) {
    w.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                m.time_to_first_token_seconds);
    w.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                m.inter_token_latency_seconds);
    w.histogram("vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds. DEPRECATED: use vllm:inter_token_latency_seconds.",
                m.inter_token_latency_seconds);
    w.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                m.e2e_request_latency_seconds);
    w.histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                m.request_queue_time_seconds);
    w.histogram("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
                m.request_prefill_time_seconds);
    w.histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                m.request_decode_time_seconds);
    w.histogram("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
                s.request_inference_time_seconds);
    w.histogram("vllm:request_time_per_output_token_seconds", "Histogram of time_per_output_token_seconds per request.",
                s.request_time_per_output_token_seconds);
    w.histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
                m.iteration_tokens_total);
    w.histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", m.request_prompt_tokens);
    w.histogram("vllm:request_generation_tokens", "Number of generation tokens processed.",
                m.request_generation_tokens);
    w.histogram("vllm:request_max_num_generation_tokens", "Histogram of maximum number of requested generation tokens.",
                s.request_max_num_generation_tokens);
    w.histogram("vllm:request_params_n", "Histogram of the n request parameter.", s.request_params_n);
    w.histogram("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.",
                s.request_params_max_tokens);
}

void write_kvscope(Writer& w, const EngineSnapshot& snap) {
    const EngineMetrics& m = snap.metrics;
    const KvCacheStats& kv = snap.kv.stats;
    w.gauge("kvscope:kv_cache_fragmentation_perc",
            "Internal fragmentation: (slots in held blocks - tokens stored) / slots in held blocks.",
            m.kv_fragmentation);
    w.gauge("kvscope:kv_cache_shared_blocks", "KV blocks held by more than one sequence.", m.num_shared_blocks);
    w.gauge("kvscope:kv_cache_sharing_saved_bytes",
            "Bytes prefix sharing saves: sum over blocks of (ref_count - 1) x block bytes.",
            double(m.sharing_saved_bytes));
    w.family("kvscope:kv_cache_blocks", "gauge", "KV blocks by state: active (held), cached (reusable), free.");
    w.sample("kvscope:kv_cache_blocks", kv.num_used_blocks, ",state=\"active\"");
    w.sample("kvscope:kv_cache_blocks", kv.num_cached_free_blocks, ",state=\"cached\"");
    w.sample("kvscope:kv_cache_blocks", kv.num_free_blocks, ",state=\"free\"");
    w.gauge("kvscope:prefix_cache_hit_rate", "Prefix cache hit tokens / queried tokens since start.",
            m.prefix_cache_hit_rate());
    w.counter("kvscope:engine_steps_total", "Engine steps run.", double(m.num_steps));
}

}  // namespace

std::string prometheus_number(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (value == std::floor(value) && std::abs(value) < 1e16) {
        char buf[64];
        const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 1);
        return std::string(buf, end);
    }
    // Shortest round trip; scientific only outside [1e-4, 1e16), as Python's repr.
    const double magnitude = std::abs(value);
    const auto format =
        magnitude >= 1e-4 && magnitude < 1e16 ? std::chars_format::fixed : std::chars_format::scientific;
    char buf[400];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, format);
    return std::string(buf, end);
}

std::string render_prometheus(const ServingState& state, const ServingInfo& info, const std::string& model_name) {
    Writer w(model_name);
    write_vllm_gauges_and_counters(w, state.engine.metrics, info);
    write_vllm_histograms(w, state.engine.metrics, state.serving);
    write_kvscope(w, state.engine);
    return w.take();
}

}  // namespace kvscope::server
