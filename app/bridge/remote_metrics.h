#pragma once
// What the workbench reads from the /metrics of a server it attaches to. kvscope and vLLM servers
// use vLLM's names ("vllm:*"), llama.cpp's server its own ("llamacpp:*"). A kvscope server's
// block state comes from /v1/kv/snapshot; its latency histograms, and everything from vLLM and
// llama.cpp, from here, into the EngineSnapshot the charts are drawn from.

#include <optional>
#include <string>
#include <vector>

#include "app/server/prometheus_text.h"
#include "engine/snapshot.h"

namespace kvscope::app {

enum class ServerKind { Kvscope, Vllm, LlamaCpp };

// "kvscope", "vLLM", "llama.cpp".
std::string kind_name(ServerKind kind);

// vLLM or llama.cpp by the names of its metrics; nullopt when neither is there.
std::optional<ServerKind> metrics_kind(const server::PromText& metrics);

// A counters-only snapshot of a vLLM or llama.cpp server: requests running and waiting, tokens
// (prompt, generated), KV usage, prefix-cache queries and hits and preemptions where exported.
// The KV usage becomes `num_used_blocks` of `num_blocks` (vLLM's cache_config_info block count,
// or 1000 per-mille blocks when the server does not say). Latency: LatencyFollower.
EngineSnapshot metrics_snapshot(const server::PromText& metrics, ServerKind kind);

// The TTFT and inter-token latency histograms of a server (vLLM's names, which kvscope's server
// uses too), followed from one /metrics reading to the next into EngineMetrics histograms with
// the charts' buckets (vLLM's). The first reading brings what the server observed before it
// (since the server started: the charts show it as "before attach"); each later one adds the
// observations new since the previous one, bucket by bucket, with the difference of the sums.
// A histogram with other buckets is left empty. A count that goes down (a restarted server)
// starts the following again from that reading.
class LatencyFollower {
public:
    void update(const server::PromText& metrics, EngineMetrics& out);

private:
    struct Series {
        Histogram histogram;
        std::vector<double> last;  // cumulative counts at the previous reading; empty before the first
        double lastSum = 0;
    };
    static void follow(const std::optional<server::PromHistogram>& read, Series& series);

    EngineMetrics defaults_;
    Series ttft_{defaults_.time_to_first_token_seconds, {}, 0};
    Series itl_{defaults_.inter_token_latency_seconds, {}, 0};
};

}  // namespace kvscope::app
