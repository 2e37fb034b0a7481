#include "engine/lab/lab_json.h"

#include <nlohmann/json.hpp>

namespace kvscope::lab {
namespace {

using Json = nlohmann::json;

std::string kind_name(AllocatorSpec::Kind kind) {
    switch (kind) {
        case AllocatorSpec::Kind::OrcaMax:
            return "orca-max";
        case AllocatorSpec::Kind::OrcaPow2:
            return "orca-pow2";
        case AllocatorSpec::Kind::OrcaOracle:
            return "orca-oracle";
        case AllocatorSpec::Kind::Paged:
            break;
    }
    return "paged";
}

// The parts of a MemoryUse (a sum over steps) scaled by `scale`.
Json parts(const MemoryUse& m, double scale) {
    return {{"token", m.token * scale},       {"reserved", m.reserved * scale},
            {"internal", m.internal * scale}, {"external", m.external * scale},
            {"cached", m.cached * scale},     {"free", m.free * scale},
            {"used", m.used() * scale},       {"shared_saved", m.shared_saved * scale}};
}

Json totals_json(const LabTotals& t, std::int64_t bytes_per_token) {
    const double steps = t.num_steps > 0 ? static_cast<double>(t.num_steps) : 1.0;
    const double capacity = t.slot_steps.capacity > 0 ? static_cast<double>(t.slot_steps.capacity) : 1.0;
    Json share = parts(t.slot_steps, 1.0 / capacity);
    Json j = {{"steps", t.num_steps},
              {"makespan_steps", t.makespan_steps},
              {"token_share_of_used", t.token_share_of_used()},
              {"share", share},
              {"mean_tokens", parts(t.slot_steps, 1.0 / steps)},
              {"max_batch", t.max_batch},
              {"mean_batch", t.mean_batch},
              {"peak_used_tokens", t.peak_used},
              {"preemptions", t.num_preemptions},
              {"finished", t.num_finished},
              {"refused", t.num_refused},
              {"truncated", t.num_truncated},
              {"generated_tokens", t.num_generated_tokens},
              {"prefix_query_tokens", t.prefix_query_tokens},
              {"prefix_hit_tokens", t.prefix_hit_tokens}};
    if (bytes_per_token > 0) j["mean_bytes"] = parts(t.slot_steps, static_cast<double>(bytes_per_token) / steps);
    return j;
}

Json series_json(const std::vector<LabStep>& steps, int max_points) {
    const std::size_t stride = steps.empty() ? 1
                                             : (steps.size() + static_cast<std::size_t>(max_points) - 1) /
                                                   static_cast<std::size_t>(max_points);
    Json step = Json::array(), time = Json::array(), batch = Json::array(), running = Json::array(),
         waiting = Json::array(), token = Json::array(), reserved = Json::array(), internal = Json::array(),
         external = Json::array(), cached = Json::array(), free = Json::array(), saved = Json::array(),
         preempted = Json::array();
    for (std::size_t i = 0; i < steps.size(); i += stride) {
        const LabStep& s = steps[i];
        step.push_back(s.step);
        time.push_back(s.time_s);
        batch.push_back(s.num_batched_seqs);
        running.push_back(s.num_running);
        waiting.push_back(s.num_waiting);
        token.push_back(s.memory.token);
        reserved.push_back(s.memory.reserved);
        internal.push_back(s.memory.internal);
        external.push_back(s.memory.external);
        cached.push_back(s.memory.cached);
        free.push_back(s.memory.free);
        saved.push_back(s.memory.shared_saved);
        preempted.push_back(s.num_preempted);
    }
    return {{"stride", stride},      {"step", step},          {"time_s", time},   {"batch", batch},
            {"running", running},    {"waiting", waiting},    {"token", token},   {"reserved", reserved},
            {"internal", internal},  {"external", external},  {"cached", cached}, {"free", free},
            {"shared_saved", saved}, {"preempted", preempted}};
}

}  // namespace

std::string lab_report_json(const LabReport& report, const LabJsonOptions& options) {
    const LabConfig& c = report.config;
    Json allocators = Json::array();
    for (const LabRun& run : report.runs) {
        Json a = {{"name", run.name},
                  {"kind", kind_name(run.allocator.kind)},
                  {"block_size", run.allocator.is_paged() ? Json(run.allocator.block_size) : Json(nullptr)},
                  {"prefix_caching", run.allocator.prefix_caching},
                  {"capacity_tokens", run.capacity},
                  {"totals", totals_json(run.totals, c.bytes_per_token)}};
        Json refused = Json::array();
        for (const RefusedRequest& r : run.refused) refused.push_back({{"index", r.index}, {"reason", r.reason}});
        a["refused"] = refused;
        if (options.max_series_points > 0) a["series"] = series_json(run.steps, options.max_series_points);
        allocators.push_back(std::move(a));
    }
    const Json j = {{"trace",
                     {{"path", options.trace_path},
                      {"requests", report.num_requests},
                      {"prompt_tokens", report.num_prompt_tokens},
                      {"output_tokens", report.num_output_tokens}}},
                    {"config",
                     {{"budget_tokens", c.budget_tokens},
                      {"bytes_per_token", c.bytes_per_token > 0 ? Json(c.bytes_per_token) : Json(nullptr)},
                      {"max_model_len", c.max_model_len},
                      {"max_num_seqs", c.max_num_seqs},
                      {"max_num_batched_tokens", c.max_num_batched_tokens},
                      {"enable_chunked_prefill", c.enable_chunked_prefill},
                      {"step_time_s", c.step_time_s}}},
                    {"allocators", allocators}};
    return j.dump(options.indent);
}

}  // namespace kvscope::lab
