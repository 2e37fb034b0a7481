// kvscope-cli bench throughput: offline serving, as vLLM's benchmark_throughput. A synthetic
// workload (engine/workload.h: N requests, prompt and output length distributions, a prefix
// shared by every prompt) arrives at once and runs through the continuous-batching engine until
// the last request finishes. Reports requests/s and tokens/s over the whole run, the mean batch
// (requests running per step), KV usage, preemptions and the prefix-cache hit rate.

#include <cstdio>

#include "app/cli/bench_commands.h"
#include "app/cli/bench_common.h"
#include "app/cli/engine_options.h"
#include "app/cli/output_path.h"
#include "engine/workload.h"
#include "resources/embedded_model.h"

namespace kvscope::cli {
namespace {

struct RunStats {
    double seconds = 0;
    std::int64_t steps = 0;
    double running_sum = 0;  // requests running after each step, summed
    double kv_usage_sum = 0, kv_usage_max = 0;
};

RunStats serve(Engine& engine) {
    RunStats s;
    const auto start = std::chrono::steady_clock::now();
    while (engine.has_work()) {
        engine.step();
        const EngineMetrics& m = engine.metrics();
        ++s.steps;
        s.running_sum += m.num_requests_running;
        s.kv_usage_sum += m.kv_cache_usage_perc;
        s.kv_usage_max = std::max(s.kv_usage_max, m.kv_cache_usage_perc);
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return s;
}

}  // namespace

int run_bench_throughput(const std::vector<std::string>& args) {
    std::vector<OptionSpec> options = {
        {"num-prompts", "N", "requests in the workload (default 64)"},
        {"input-len", "DIST", "prompt lengths: 128, uniform:32-512 or normal:256,64 (default 128)"},
        {"output-len", "DIST", "output lengths, as --input-len (default 128)"},
        {"shared-prefix-fraction", "F", "fraction of each prompt shared by all requests, 0..1 (default 0)"},
        {"seed", "S", "workload seed (default 0)"},
        {"json", "", "print one JSON object instead of the table"},
        {"json-file", "PATH", "also write the JSON object to PATH"},
        {"no-repack", "",
         "read every weight as stored, in place in the mapped file, instead of packed (Q4_0/Q8_0/Q4_K/Q5_K) or copied "
         "into memory of its own (to measure what that buys)"},
    };
    append_model_options(options);
    append_engine_options(options);
    const ArgParser parser("bench throughput", "Offline serving throughput of a synthetic workload through the engine.",
                           options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    WorkloadSpec spec;
    spec.num_requests = static_cast<std::int32_t>(a.integer("num-prompts", 64, 1, 1 << 20));
    spec.prompt_len = LengthDistribution::parse(a.string("input-len").value_or("128"), "--input-len");
    spec.output_len = LengthDistribution::parse(a.string("output-len").value_or("128"), "--output-len");
    spec.shared_prefix_fraction = a.number("shared-prefix-fraction", 0.0, 0.0, 1.0);
    spec.seed = static_cast<std::uint64_t>(a.integer("seed", 0, 0, INT64_MAX));
    spec.validate();
    const EngineConfig config = engine_config_from_args(a);
    bench::CommonOptions common;
    common.json = a.has("json");
    common.pack_weights = !a.has("no-repack");
    common.model_path = a.string("model").value_or(std::string(kEmbeddedModelName));
    common.json_file = output_path(a, "json-file", "the JSON result", {common.model_path}).value_or("");

    const std::shared_ptr<const Model> model = load_model_from_args(a);
    const auto engine = bench::make_engine(model, config, common.pack_weights);
    const Tokenizer& tok = model->tokenizer();
    const auto workload = generate_workload(spec, model->shape().vocab_size, std::min(3, model->shape().vocab_size - 1),
                                            tok.add_bos() ? tok.bos_id() : -1);
    std::int64_t prompt_tokens = 0, output_tokens = 0;
    for (const WorkloadRequest& w : workload) {
        Request r;
        r.prompt_token_ids = w.prompt_token_ids;
        r.params = bench::fixed_length_params(w.max_tokens);
        prompt_tokens += static_cast<std::int64_t>(w.prompt_token_ids.size());
        output_tokens += w.max_tokens;
        engine->add_request(std::move(r));
    }
    const RunStats s = serve(*engine);
    const EngineMetrics& m = engine->metrics();
    const double steps = static_cast<double>(std::max<std::int64_t>(s.steps, 1));
    const nlohmann::json j = {{"bench", "throughput"},
                              {"model", bench::model_json(*model, common.model_path)},
                              {"backend", engine->backend_name()},
                              {"packed_weights", common.pack_weights},
                              {"workload",
                               {{"num_requests", spec.num_requests},
                                {"input_len", spec.prompt_len.to_string()},
                                {"output_len", spec.output_len.to_string()},
                                {"shared_prefix_fraction", spec.shared_prefix_fraction},
                                {"seed", spec.seed}}},
                              {"elapsed_s", s.seconds},
                              {"num_requests", spec.num_requests},
                              {"prompt_tokens", prompt_tokens},
                              {"output_tokens", m.generation_tokens},
                              {"requested_output_tokens", output_tokens},
                              {"computed_prompt_tokens", m.prompt_tokens},
                              {"requests_per_s", spec.num_requests / s.seconds},
                              {"output_tokens_per_s", m.generation_tokens / s.seconds},
                              {"total_tokens_per_s", (prompt_tokens + m.generation_tokens) / s.seconds},
                              {"steps", s.steps},
                              {"mean_batch_size", s.running_sum / steps},
                              {"mean_tokens_per_step", m.iteration_tokens_total.mean()},
                              {"kv_usage_mean", s.kv_usage_sum / steps},
                              {"kv_usage_max", s.kv_usage_max},
                              {"num_preemptions", m.num_preemptions},
                              {"prefix_cache_hit_rate", m.prefix_cache_hit_rate()}};
    bench::Table table({"requests", "elapsed s", "req/s", "out t/s", "total t/s", "mean batch", "KV mean", "KV max",
                        "preemptions", "prefix hits"});
    table.add_row({std::to_string(spec.num_requests), bench::format_number(s.seconds, 2),
                   bench::format_number(j["requests_per_s"].get<double>(), 2),
                   bench::format_number(j["output_tokens_per_s"].get<double>(), 1),
                   bench::format_number(j["total_tokens_per_s"].get<double>(), 1),
                   bench::format_number(j["mean_batch_size"].get<double>(), 2),
                   bench::format_number(100 * j["kv_usage_mean"].get<double>(), 1) + "%",
                   bench::format_number(100 * s.kv_usage_max, 1) + "%", std::to_string(m.num_preemptions),
                   bench::format_number(100 * m.prefix_cache_hit_rate(), 1) + "%"});
    if (!common.json) {
        std::fprintf(stderr, "kvscope: %s on %s, %d KV blocks\n", model->config().name.c_str(),
                     engine->backend_name().c_str(), engine->cache_plan().num_blocks);
    }
    bench::print_result(common, j, table);
    return 0;
}

}  // namespace kvscope::cli
