#pragma once
// GET /v1/kv/snapshot: the block state the inspector draws, as JSON, and the way back (for the
// workbench's remote attach, which paints from an EngineSnapshot whatever its source).
//
//   {"object": "kv.snapshot", "model", "step", "block_size", "num_blocks", "block_bytes",
//    "max_model_len", "loras": [the LoRA adapters' names],
//    "stats":  {"num_used_blocks", "num_cached_blocks", "num_free_blocks", "num_filled_slots",
//               "num_shared_blocks", "num_saved_blocks", "num_sequences", "num_prefix_requests",
//               "num_prefix_query_tokens", "num_prefix_hit_tokens", "usage", "fragmentation",
//               "prefix_hit_rate", "sharing_saved_bytes"},
//    "blocks": [{"id", "state": "free"|"cached"|"active", "ref_count", "num_tokens",
//               "hash": "<32 hex digits>"|null, "last_used", "owners": [sequence ids],
//               "lora": the adapter whose KV it holds (left out: the base model)}],
//    "sequences": [{"id", "request_id" (the API id, e.g. "cmpl-..."), "engine_request_id",
//               "sample_index", "status": "waiting"|"running", "priority", "num_prompt_tokens",
//               "num_tokens", "num_computed_tokens", "num_cached_tokens", "num_preemptions",
//               "block_table": [block ids], "lora": its adapter (left out: the base model)}],
//    "free_queue": [block ids, next to be allocated first],
//    "metrics": {"num_requests_running", "num_requests_waiting", "kv_cache_usage_perc",
//               "prompt_tokens", "generation_tokens", "num_preemptions", "prefix_cache_queries",
//               "prefix_cache_hits", "num_steps", "request_success": {"stop", "length", "abort"}}}
//
// With include_free = false, blocks in state "free" are left out of "blocks" (their count is in
// stats; the reader recreates them), which keeps the snapshot of a large, mostly idle cache small.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "app/server/engine_host.h"

namespace kvscope::server {

nlohmann::json kv_snapshot_json(const ServingState& state, const ServingInfo& info, const std::string& model_name,
                                bool include_free);

struct RemoteKvSnapshot {
    std::string model;
    std::int32_t max_model_len = 0;
    EngineSnapshot engine;  // KV picture, sequences; metrics: gauges and counters only
    std::unordered_map<RequestId, std::string> labels;
};

class SnapshotFormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws SnapshotFormatError when the JSON is not a snapshot of the shape above.
RemoteKvSnapshot kv_snapshot_from_json(const nlohmann::json& j);

}  // namespace kvscope::server
