#pragma once
// What the workbench reads from the /metrics of a server it attaches to. kvscope and vLLM servers
// use vLLM's names ("vllm:*"), llama.cpp's server its own ("llamacpp:*"). A kvscope server's
// block state comes from /v1/kv/snapshot; its latency histograms, and everything from vLLM and
// llama.cpp, from here, into the EngineSnapshot the charts are drawn from.

#include <optional>
#include <string>

#include "app/server/prometheus_text.h"
#include "engine/snapshot.h"

namespace kvscope::app {

enum class ServerKind { Kvscope, Vllm, LlamaCpp };

// "kvscope", "vLLM", "llama.cpp".
std::string kind_name(ServerKind kind);

// vLLM or llama.cpp by the names of its metrics; nullopt when neither is there.
std::optional<ServerKind> metrics_kind(const server::PromText& metrics);

// A counters-only snapshot of a vLLM or llama.cpp server: requests running and waiting, tokens
// (prompt, generated), KV usage, prefix-cache queries and hits and preemptions where exported,
// and the TTFT / inter-token latency histograms where their buckets are the ones the charts use.
// The KV usage becomes `num_used_blocks` of `num_blocks` (vLLM's cache_config_info block count,
// or 1000 per-mille blocks when the server does not say).
EngineSnapshot metrics_snapshot(const server::PromText& metrics, ServerKind kind);

// Copies the TTFT and inter-token latency histograms of `metrics` (vLLM's names) into `out`,
// where their bucket bounds are `out`'s own (kvscope's and vLLM's are).
void read_latency_histograms(const server::PromText& metrics, EngineMetrics& out);

}  // namespace kvscope::app
