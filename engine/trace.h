#pragma once
// A workload trace: the requests of a session or a batch with their arrival times and the output
// lengths they actually reached, as the memory lab replays them (engine/lab/replay.h). Values
// only; engine/trace_io.h reads and writes them as JSONL (docs/MEMORY_LAB.md has the format).
// An Engine records one when asked (Engine::record_trace), `kvscope-cli generate --trace-out`
// writes its batch's, and `kvscope-cli make-trace` draws a synthetic one (engine/workload.h).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/workload.h"

namespace kvscope {

struct TraceRequest {
    double arrival_s = 0;  // seconds after the trace's start, >= 0
    // The prompt's token ids; empty when only its length is known (such prompts share nothing).
    std::vector<std::int32_t> prompt_token_ids;
    std::int32_t prompt_len = 0;  // >= 1; = prompt_token_ids.size() when the ids are given
    // Per sample (n entries): the output length it reached, >= 1.
    std::vector<std::int32_t> output_lens;
    // Per sample, the generated token ids when known (empty, or n lists of output_lens[i] ids):
    // a replay with prefix caching then hashes output blocks as the live engine did.
    std::vector<std::vector<std::int32_t>> output_token_ids;
    std::int32_t priority = 0;  // lower is served first (Request::priority)

    std::int32_t n() const { return static_cast<std::int32_t>(output_lens.size()); }
    std::int64_t num_output_tokens() const;  // over all samples
};

// Optional facts about where a trace came from; the lab uses them as defaults.
struct TraceHeader {
    std::string source;                              // "kvscope-cli generate", "make-trace sharegpt", ...
    std::string model;                               // model name
    std::optional<std::int32_t> max_model_len;       // the context limit the requests ran under
    std::optional<std::int64_t> kv_bytes_per_token;  // K and V of all layers for one token
    std::optional<std::int64_t> kv_cache_tokens;     // the KV budget (blocks x block size) it ran with
};

struct Trace {
    TraceHeader header;
    std::vector<TraceRequest> requests;
};

// The requests of a synthetic workload, each sample of which generates `max_tokens` tokens.
Trace trace_from_workload(const std::vector<WorkloadRequest>& workload, std::int32_t n = 1);

}  // namespace kvscope
