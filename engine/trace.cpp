#include "engine/trace.h"

namespace kvscope {

std::int64_t TraceRequest::num_output_tokens() const {
    std::int64_t total = 0;
    for (const std::int32_t len : output_lens) total += len;
    return total;
}

Trace trace_from_workload(const std::vector<WorkloadRequest>& workload, std::int32_t n) {
    Trace trace;
    trace.requests.reserve(workload.size());
    for (const WorkloadRequest& w : workload) {
        TraceRequest r;
        r.arrival_s = w.arrival_s;
        r.prompt_token_ids = w.prompt_token_ids;
        r.prompt_len = static_cast<std::int32_t>(w.prompt_token_ids.size());
        r.output_lens.assign(static_cast<std::size_t>(n), w.max_tokens);
        trace.requests.push_back(std::move(r));
    }
    return trace;
}

}  // namespace kvscope
