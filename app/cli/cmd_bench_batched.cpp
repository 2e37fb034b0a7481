// kvscope-cli bench batched: llama-batched-bench's grid through the engine. For every prompt
// length PP, generated length TG and batch size B: B sequences each get a PP-token prompt (with
// --shared-prompt one prompt, computed once and forked into B samples that share its KV blocks),
// then generate TG tokens each, batched. The prompt phase runs until every sequence has its first
// token; the generation phase is the TG decode steps after it.
//   S_PP = prompt tokens computed / T_PP, S_TG = B * TG / T_TG, S = all tokens / (T_PP + T_TG).

#include <chrono>
#include <cstdio>

#include "app/cli/bench_commands.h"
#include "app/cli/bench_common.h"

namespace kvscope::cli {
namespace {

struct Point {
    std::int32_t pp = 0, tg = 0, batch = 0;
};

struct PointResult {
    double t_pp = 0, t_tg = 0;
    std::int64_t prompt_tokens = 0;  // computed in the prompt phase
    std::int64_t gen_tokens = 0;     // generated in the generation phase
};

// One grid point on a fresh request set. max_tokens = TG + 1: the prompt step samples the first.
PointResult run_point(Engine& engine, const Point& p, bool shared, std::uint64_t seed) {
    const std::int64_t prompt_before = engine.metrics().prompt_tokens;
    const std::int64_t gen_before = engine.metrics().generation_tokens;
    const int num_requests = shared ? 1 : p.batch;
    for (int i = 0; i < num_requests; ++i) {
        Request r;
        r.prompt_token_ids = bench::random_prompt(engine.model(), p.pp, seed + static_cast<std::uint64_t>(i));
        r.params = bench::fixed_length_params(p.tg + 1);
        if (shared) r.params.n = p.batch;
        engine.add_request(std::move(r));
    }
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    PointResult out;
    // prompt phase: until every sequence has sampled its first token
    while (engine.has_work() && engine.metrics().generation_tokens - gen_before < p.batch) engine.step();
    const Clock::time_point prompt_done = Clock::now();
    out.prompt_tokens = engine.metrics().prompt_tokens - prompt_before;
    const std::int64_t gen_mid = engine.metrics().generation_tokens;
    while (engine.has_work()) engine.step();
    out.t_pp = std::chrono::duration<double>(prompt_done - start).count();
    out.t_tg = std::chrono::duration<double>(Clock::now() - prompt_done).count();
    out.gen_tokens = engine.metrics().generation_tokens - gen_mid;
    return out;
}

nlohmann::json point_json(const Point& p, const PointResult& r) {
    const double total = r.t_pp + r.t_tg;
    return {{"pp", p.pp},
            {"tg", p.tg},
            {"batch", p.batch},
            {"prompt_tokens", r.prompt_tokens},
            {"gen_tokens", r.gen_tokens},
            {"t_pp_s", r.t_pp},
            {"t_tg_s", r.t_tg},
            {"t_s", total},
            {"pp_tokens_per_s", r.prompt_tokens / r.t_pp},
            {"tg_tokens_per_s", r.t_tg > 0 ? r.gen_tokens / r.t_tg : 0.0},
            {"total_tokens_per_s", (r.prompt_tokens + r.gen_tokens) / total}};
}

}  // namespace

int run_bench_batched(const std::vector<std::string>& args) {
    const std::vector<OptionSpec> options = {
        {"npp", "N[,N...]", "prompt lengths (default 128,512)"},
        {"ntg", "N[,N...]", "generated lengths (default 128)"},
        {"npl", "N[,N...]", "batch sizes: parallel sequences (default 1,2,4,8,16)"},
        {"shared-prompt", "", "one prompt for the whole batch, computed once and shared (forked)"},
        {"max-num-batched-tokens", "N",
         "most tokens per engine step (default: the largest B x PP, so prompts take one step)"},
    };
    const ArgParser parser = bench::parser(
        "bench batched", "Batched prompt processing and generation over a grid, as llama-batched-bench.", options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const bench::CommonOptions common = bench::common_options(a);
    const bool shared = a.has("shared-prompt");
    std::vector<Point> grid;
    std::int64_t longest = 1, widest = 1, most_tokens = 1;
    for (std::int64_t pp : bench::integer_list(a, "npp", "128,512", 1, 1 << 20)) {
        for (std::int64_t tg : bench::integer_list(a, "ntg", "128", 1, 1 << 20)) {
            for (std::int64_t b : bench::integer_list(a, "npl", "1,2,4,8,16", 1, 4096)) {
                grid.push_back(
                    {static_cast<std::int32_t>(pp), static_cast<std::int32_t>(tg), static_cast<std::int32_t>(b)});
                longest = std::max(longest, pp + tg + 1);
                widest = std::max(widest, b);
                most_tokens = std::max(most_tokens, (shared ? 1 : b) * pp);
            }
        }
    }
    const std::shared_ptr<const Model> model = bench::load_model(common);
    bench::check_fits_context(*model, longest);
    nlohmann::json results = nlohmann::json::array();
    bench::Table table(
        {"threads", "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s"});
    std::string backend;
    for (int threads : common.threads) {
        EngineConfig config;
        config.num_threads = threads;
        config.block_size = common.block_size;
        config.cache_dtype = common.cache_dtype;
        config.enable_prefix_caching = false;  // every point computes its prompts (shared: once, by the fork)
        config.max_num_seqs = static_cast<std::int32_t>(widest);
        config.max_num_batched_tokens = static_cast<std::int32_t>(
            a.integer("max-num-batched-tokens", std::max<std::int64_t>(most_tokens, widest), 1, 1 << 24));
        config.max_model_len = static_cast<std::int32_t>(longest);
        config.num_kv_blocks = bench::blocks_for(widest, longest, common.block_size);
        const auto engine = bench::make_engine(model, config, common.pack_weights);
        backend = engine->backend_name();
        run_point(*engine, {grid.front().pp, 2, 1}, false, 7);  // warm-up
        for (const Point& p : grid) {
            const PointResult r = run_point(*engine, p, shared, 100);
            nlohmann::json j = point_json(p, r);
            j["threads"] = threads;
            results.push_back(j);
            const std::int64_t n_kv =
                shared ? p.pp + std::int64_t{p.batch} * p.tg : std::int64_t{p.batch} * (p.pp + p.tg);
            table.add_row({std::to_string(threads), std::to_string(p.pp), std::to_string(p.tg), std::to_string(p.batch),
                           std::to_string(n_kv), bench::format_number(r.t_pp, 3),
                           bench::format_number(j["pp_tokens_per_s"].get<double>(), 2), bench::format_number(r.t_tg, 3),
                           bench::format_number(j["tg_tokens_per_s"].get<double>(), 2),
                           bench::format_number(r.t_pp + r.t_tg, 3),
                           bench::format_number(j["total_tokens_per_s"].get<double>(), 2)});
            if (!common.json) {
                std::fprintf(stderr, "kvscope: pp %d tg %d B %d: S_PP %.1f, S_TG %.1f t/s\n", p.pp, p.tg, p.batch,
                             j["pp_tokens_per_s"].get<double>(), j["tg_tokens_per_s"].get<double>());
            }
        }
    }
    const nlohmann::json j = {{"bench", "batched"},
                              {"model", bench::model_json(*model, common.model_path)},
                              {"backend", backend},
                              {"shared_prompt", shared},
                              {"packed_weights", common.pack_weights},
                              {"results", results}};
    bench::print_result(common, j, table);
    return 0;
}

}  // namespace kvscope::cli
