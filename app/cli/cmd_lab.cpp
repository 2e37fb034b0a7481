// kvscope-cli lab: replay a trace under several KV allocators (the PagedAttention paper's
// comparison) and show where the memory goes: a table, or JSON with totals and time series.

#include <cstdio>
#include <sstream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/engine_options.h"
#include "app/cli/lab_options.h"
#include "app/cli/output_path.h"
#include "engine/atomic_file.h"
#include "engine/lab/lab_json.h"
#include "engine/lab/replay.h"
#include "engine/trace_io.h"

namespace kvscope::cli {
namespace {

std::vector<std::int32_t> parse_block_sizes(const std::string& text) {
    std::vector<std::int32_t> sizes;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        if (item != "8" && item != "16" && item != "32") {
            throw UsageError("--block-sizes: '" + item + "' is not a block size; use 8, 16 and/or 32, e.g. 8,16,32");
        }
        sizes.push_back(std::stoi(item));
    }
    if (sizes.empty()) throw UsageError("--block-sizes: give at least one of 8, 16, 32");
    return sizes;
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
    return buf;
}

std::string percent(double part, double whole) {
    if (whole <= 0) return "-";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * part / whole);
    return buf;
}

void print_table(const lab::LabReport& report, const std::string& trace_path) {
    const lab::LabConfig& c = report.config;
    std::printf("kvscope lab: %s: %d requests, %lld prompt + %lld output tokens\n", trace_path.c_str(),
                report.num_requests, static_cast<long long>(report.num_prompt_tokens),
                static_cast<long long>(report.num_output_tokens));
    std::printf("budget %lld tokens", static_cast<long long>(c.budget_tokens));
    if (c.bytes_per_token > 0) {
        std::printf(" (%s at %s a token)", human_bytes(double(c.budget_tokens) * double(c.bytes_per_token)).c_str(),
                    human_bytes(double(c.bytes_per_token)).c_str());
    }
    std::printf(", max_model_len %d, max_num_seqs %d, step %g s\n\n", c.max_model_len, c.max_num_seqs, c.step_time_s);
    std::printf("%-18s %-38s %8s %7s %13s\n", "", "share of the KV memory in use", "budget", "budget", "batch size");
    std::printf("%-18s %9s %9s %9s %9s %8s %7s %6s %6s %10s %8s %8s\n", "allocator", "tokens", "reserved", "internal",
                "external", "in use", "shared", "max", "mean", "preempted", "refused", "steps");
    for (const lab::LabRun& run : report.runs) {
        const lab::LabTotals& t = run.totals;
        const lab::MemoryUse& m = t.slot_steps;
        const double used = static_cast<double>(m.used());
        std::printf("%-18s %9s %9s %9s %9s %8s %7s %6d %6.1f %10lld %8d %8lld\n", run.name.c_str(),
                    percent(double(m.token), used).c_str(), percent(double(m.reserved), used).c_str(),
                    percent(double(m.internal), used).c_str(), percent(double(m.external), used).c_str(),
                    percent(used, double(m.capacity)).c_str(),
                    percent(double(m.shared_saved), double(m.capacity)).c_str(), t.max_batch, t.mean_batch,
                    static_cast<long long>(t.num_preemptions), t.num_refused, static_cast<long long>(t.makespan_steps));
    }
    std::printf(
        "\ntokens: slots holding K and V; reserved: held for tokens the request writes later; internal: held and\n"
        "never written; external: free, while the next request in line fits in no gap; in use: those four over\n"
        "the budget; shared: slots that sharing saved, over the budget; all averaged over the steps; steps:\n"
        "until the last request finished.\n");
}

std::vector<OptionSpec> lab_options() {
    return {
        {"trace", "FILE", "the trace to replay (JSONL, docs/MEMORY_LAB.md; required)"},
        {"budget-tokens", "N", "KV budget in tokens (default: the trace's kv_cache_tokens)"},
        {"budget-bytes", "BYTES", "KV budget in bytes, e.g. 12G (needs the bytes per token: --model or the trace's)"},
        {"allocators", "LIST", "allocators to compare (default max,pow2,oracle,paged,paged+prefix)"},
        {"block-sizes", "LIST", "block sizes for each plain 'paged' entry (default 8,16,32)"},
        {"model", "PATH", "a GGUF model: bytes per token, and the default max_model_len"},
        {"cache-dtype", "TYPE", "KV element type for the bytes per token with --model: f32, f16, q8_0 (default f32)"},
        {"kv-bytes-per-token", "N", "K and V bytes of one token, all layers (instead of --model's or the trace's)"},
        {"max-model-len", "N", "context; Orca max reserves it (default: the model's, the trace's, else 2048)"},
        {"max-num-seqs", "N", "most sequences running at once (default 256)"},
        {"max-num-batched-tokens", "N", "most tokens computed per step (default: no limit)"},
        {"enable-chunked-prefill", "", "split prompts above the step's token budget over several steps (default)"},
        {"no-enable-chunked-prefill", "", "compute each prompt in one step"},
        {"step-time", "S", "seconds per step, to place arrivals on steps (default 0.025)"},
        {"json", "", "print the report as JSON (totals and time series per allocator)"},
        {"out", "FILE", "also write the JSON report to FILE"},
        {"series-points", "N", "time-series points per allocator in the JSON (default 2000; 0: none)"},
    };
}

// Budget, bytes per token and context: the flags first, then --model, then the trace's header.
lab::LabConfig lab_config_from_args(const ParsedArgs& a, const TraceHeader& header) {
    lab::LabConfig config;
    std::optional<std::int32_t> model_context;
    if (a.has("model")) {
        const std::shared_ptr<const Model> model = load_model_from_args(a);
        config.bytes_per_token = kv_bytes_per_token(*model, a);
        model_context = model->shape().max_context;
    } else if (header.kv_bytes_per_token) {
        config.bytes_per_token = *header.kv_bytes_per_token;
    }
    if (auto bytes = a.optional_integer("kv-bytes-per-token", 1, std::int64_t{1} << 40)) {
        config.bytes_per_token = *bytes;
    }
    if (a.has("budget-tokens") && a.has("budget-bytes")) {
        throw UsageError("give --budget-tokens or --budget-bytes, not both");
    }
    if (auto tokens = a.optional_integer("budget-tokens", 1, std::int64_t{1} << 40)) {
        config.budget_tokens = *tokens;
    } else if (auto bytes = a.string("budget-bytes")) {
        if (config.bytes_per_token == 0) {
            throw UsageError(
                "--budget-bytes needs the KV bytes per token: give --model or --kv-bytes-per-token, or use "
                "--budget-tokens");
        }
        config.budget_tokens = parse_bytes(*bytes, "budget-bytes") / config.bytes_per_token;
    } else if (header.kv_cache_tokens) {
        config.budget_tokens = *header.kv_cache_tokens;
    } else {
        throw UsageError("no KV budget: give --budget-tokens N or --budget-bytes BYTES (the trace names none)");
    }
    config.max_model_len = static_cast<std::int32_t>(
        a.integer("max-model-len", model_context.value_or(header.max_model_len.value_or(2048)), 2, 1 << 24));
    config.max_num_seqs = static_cast<std::int32_t>(a.integer("max-num-seqs", config.max_num_seqs, 1, 1 << 20));
    config.max_num_batched_tokens = static_cast<std::int32_t>(
        a.integer("max-num-batched-tokens", config.max_num_batched_tokens, 1, config.max_num_batched_tokens));
    config.enable_chunked_prefill = a.toggle("enable-chunked-prefill", true);
    config.step_time_s = a.number("step-time", config.step_time_s, 1e-9, 1e9);
    return config;
}

}  // namespace

int run_lab(const std::vector<std::string>& args) {
    const ArgParser parser("lab", "Replay a trace under several KV allocators and show where the memory goes.",
                           lab_options());
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const std::optional<std::string> trace_path = a.string("trace");
    if (!trace_path) throw UsageError("--trace FILE is required (make one with generate --trace-out or make-trace)");
    const std::optional<std::string> out =
        output_path(a, "out", "the JSON report", {*trace_path, a.string("model").value_or("")});
    const Trace trace = read_trace(*trace_path);
    const lab::LabConfig config = lab_config_from_args(a, trace.header);
    const std::vector<lab::AllocatorSpec> allocators =
        lab::parse_allocators(a.string("allocators").value_or("max,pow2,oracle,paged,paged+prefix"),
                              parse_block_sizes(a.string("block-sizes").value_or("8,16,32")));

    const lab::LabReport report = lab::run_lab(trace, config, allocators);
    lab::LabJsonOptions json_options;
    json_options.trace_path = *trace_path;
    json_options.max_series_points = static_cast<int>(a.integer("series-points", 2000, 0, 1 << 24));
    if (a.has("json") || out) {
        const std::string json = lab::lab_report_json(report, json_options);
        if (out) write_file_atomically(*out, json + "\n", "the JSON report");
        if (a.has("json")) std::printf("%s\n", json.c_str());
    }
    if (!a.has("json")) print_table(report, *trace_path);
    for (const lab::LabRun& run : report.runs) {
        if (run.refused.empty()) continue;
        std::fprintf(stderr, "kvscope: %s refused %zu requests (request %d: %s)\n", run.name.c_str(),
                     run.refused.size(), run.refused.front().index, run.refused.front().reason.c_str());
    }
    return 0;
}

}  // namespace kvscope::cli
