// bench serve, the reporting side: vLLM's figures from the per-request timings, as a table and
// as JSON (vLLM's key names).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <numeric>

#include "app/server/bench_serve.h"

namespace kvscope::server {
namespace {

LatencySummary summarize_ms(const std::vector<double>& seconds, const std::vector<double>& percentiles) {
    LatencySummary s;
    if (!seconds.empty()) {
        const double n = static_cast<double>(seconds.size());
        const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / n;
        double var = 0;
        for (double v : seconds) var += (v - mean) * (v - mean);
        s.mean_ms = mean * 1000;
        s.std_ms = std::sqrt(var / n) * 1000;  // numpy's std: population
        s.median_ms = percentile(seconds, 50) * 1000;
    }
    for (double p : percentiles) s.percentiles_ms.emplace_back(p, percentile(seconds, p) * 1000);
    return s;
}

// "P99" / "p99" (built by appending: GCC 12 warns falsely on "P" + std::string).
std::string percentile_key(const char* letter, double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%g", letter, p);
    return buf;
}

void add_latency_rows(std::string& out, const char* title, const char* name, const LatencySummary& s) {
    char line[128];
    std::snprintf(line, sizeof line, "%s\n", title);
    out += line;
    std::snprintf(line, sizeof line, "%-40s %-10.2f\n", (std::string("Mean ") + name + " (ms):").c_str(), s.mean_ms);
    out += line;
    std::snprintf(line, sizeof line, "%-40s %-10.2f\n", (std::string("Median ") + name + " (ms):").c_str(),
                  s.median_ms);
    out += line;
    for (const auto& [p, v] : s.percentiles_ms) {
        std::snprintf(line, sizeof line, "%-40s %-10.2f\n", (percentile_key("P", p) + " " + name + " (ms):").c_str(),
                      v);
        out += line;
    }
}

void add_latency_json(nlohmann::json& j, const char* key, const LatencySummary& s) {
    const std::string k(key);
    j["mean_" + k + "_ms"] = s.mean_ms;
    j["median_" + k + "_ms"] = s.median_ms;
    j["std_" + k + "_ms"] = s.std_ms;
    for (const auto& [p, v] : s.percentiles_ms) j[percentile_key("p", p) + "_" + k + "_ms"] = v;
}

}  // namespace

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

void summarize(BenchServeResult& r, const std::vector<double>& percentiles) {
    std::vector<double> ttfts, tpots, itls, e2els;
    r.completed = r.failed = r.total_input_tokens = r.total_output_tokens = 0;
    r.total_cached_tokens = -1;
    for (const BenchRequestResult& q : r.requests) {
        if (!q.success) {
            ++r.failed;
            continue;
        }
        // A server that sends no usage: one token per chunk.
        const std::int64_t output =
            q.output_tokens > 0 ? q.output_tokens : static_cast<std::int64_t>(q.itl_s.size() + 1);
        ++r.completed;
        r.total_input_tokens += q.prompt_len;
        r.total_output_tokens += output;
        if (q.cached_tokens >= 0)
            r.total_cached_tokens = std::max<std::int64_t>(r.total_cached_tokens, 0) + q.cached_tokens;
        if (output > 1) tpots.push_back((q.latency_s - q.ttft_s) / static_cast<double>(output - 1));
        itls.insert(itls.end(), q.itl_s.begin(), q.itl_s.end());
        ttfts.push_back(q.ttft_s);
        e2els.push_back(q.latency_s);
    }
    const double d = r.duration_s > 0 ? r.duration_s : 1.0;
    r.request_throughput = static_cast<double>(r.completed) / d;
    r.output_throughput = static_cast<double>(r.total_output_tokens) / d;
    r.total_token_throughput = static_cast<double>(r.total_input_tokens + r.total_output_tokens) / d;
    r.ttft = summarize_ms(ttfts, percentiles);
    r.tpot = summarize_ms(tpots, percentiles);
    r.itl = summarize_ms(itls, percentiles);
    r.e2el = summarize_ms(e2els, percentiles);
}

std::string bench_table(const BenchServeOptions& o, const BenchServeResult& r) {
    std::string out;
    char line[160];
    const auto row = [&](const char* name, const char* fmt, double value) {
        char v[64];
        std::snprintf(v, sizeof v, fmt, value);
        std::snprintf(line, sizeof line, "%-40s %-10s\n", name, v);
        out += line;
    };
    out += "============ Serving Benchmark Result ============\n";
    row("Successful requests:", "%.0f", static_cast<double>(r.completed));
    row("Failed requests:", "%.0f", static_cast<double>(r.failed));
    if (o.max_concurrency > 0) row("Maximum request concurrency:", "%.0f", o.max_concurrency);
    row("Request rate configured (RPS):", "%.2f", o.workload.request_rate);
    row("Benchmark duration (s):", "%.2f", r.duration_s);
    row("Total input tokens:", "%.0f", static_cast<double>(r.total_input_tokens));
    row("Total generated tokens:", "%.0f", static_cast<double>(r.total_output_tokens));
    if (r.total_cached_tokens >= 0) {  // kvscope's own rows: what the server's prefix cache served
        row("Prefix cache hit tokens:", "%.0f", static_cast<double>(r.total_cached_tokens));
        row("Prefix cache hit rate (%):", "%.2f",
            r.total_input_tokens > 0
                ? 100.0 * static_cast<double>(r.total_cached_tokens) / static_cast<double>(r.total_input_tokens)
                : 0.0);
    }
    row("Request throughput (req/s):", "%.2f", r.request_throughput);
    row("Output token throughput (tok/s):", "%.2f", r.output_throughput);
    row("Total token throughput (tok/s):", "%.2f", r.total_token_throughput);
    add_latency_rows(out, "---------------Time to First Token----------------", "TTFT", r.ttft);
    add_latency_rows(out, "-----Time per Output Token (excl. 1st token)------", "TPOT", r.tpot);
    add_latency_rows(out, "---------------Inter-token Latency----------------", "ITL", r.itl);
    add_latency_rows(out, "----------------End-to-end Latency----------------", "E2EL", r.e2el);
    out += "==================================================\n";
    return out;
}

nlohmann::json bench_json(const BenchServeOptions& o, const BenchServeResult& r) {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", std::localtime(&now));
    nlohmann::json j = {
        {"date", date},
        {"backend", "openai"},
        {"endpoint", o.endpoint},
        {"url", o.url},
        {"model_id", o.model},
        {"num_prompts", r.requests.size()},
        {"request_rate",
         std::isfinite(o.workload.request_rate) ? nlohmann::json(o.workload.request_rate) : nlohmann::json("inf")},
        {"max_concurrency", o.max_concurrency > 0 ? nlohmann::json(o.max_concurrency) : nlohmann::json()},
        {"prompt_len", o.workload.prompt_len.to_string()},
        {"output_len", o.workload.output_len.to_string()},
        {"shared_prefix_fraction", o.workload.shared_prefix_fraction},
        {"seed", o.workload.seed},
        {"duration", r.duration_s},
        {"completed", r.completed},
        {"failed", r.failed},
        {"total_input_tokens", r.total_input_tokens},
        {"total_output_tokens", r.total_output_tokens},
        {"total_cached_input_tokens",
         r.total_cached_tokens >= 0 ? nlohmann::json(r.total_cached_tokens) : nlohmann::json()},
        {"request_throughput", r.request_throughput},
        {"output_throughput", r.output_throughput},
        {"total_token_throughput", r.total_token_throughput}};
    add_latency_json(j, "ttft", r.ttft);
    add_latency_json(j, "tpot", r.tpot);
    add_latency_json(j, "itl", r.itl);
    add_latency_json(j, "e2el", r.e2el);
    nlohmann::json input_lens = nlohmann::json::array(), output_lens = nlohmann::json::array(),
                   ttfts = nlohmann::json::array(), itls = nlohmann::json::array(), errors = nlohmann::json::array();
    for (const BenchRequestResult& q : r.requests) {
        input_lens.push_back(q.prompt_len);
        output_lens.push_back(q.success ? q.output_tokens : 0);
        ttfts.push_back(q.ttft_s);
        itls.push_back(q.itl_s);
        errors.push_back(q.error);
    }
    j["input_lens"] = input_lens;
    j["output_lens"] = output_lens;
    j["ttfts"] = ttfts;
    j["itls"] = itls;
    j["errors"] = errors;
    return j;
}

}  // namespace kvscope::server
