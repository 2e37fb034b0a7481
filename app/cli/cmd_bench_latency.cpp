// kvscope-cli bench latency: llama-bench's two tests through the engine. ppN: one prompt of N
// tokens in one step (tokens/s = N / the step's time). tgN: N tokens generated one at a time from
// an empty context (a 1-token prompt, then N - 1 decode steps: N forward passes of one token), or
// with --depth D after a D-token prompt that is not timed (N decode steps at contexts D .. D+N-1).
// Each test runs once untimed, then --repetitions times; mean and sample standard deviation.

#include <cstdio>

#include "app/cli/bench_commands.h"
#include "app/cli/bench_common.h"
#include "engine/error.h"

namespace kvscope::cli {
namespace {

using bench::Stats;

struct Test {
    std::string name;  // "pp512", "tg128"
    std::int32_t prompt = 0, gen = 0;
};

// Seconds of one run of `test` (a fresh request; prefix caching is off).
double run_once(Engine& engine, const Test& test, std::int32_t depth, std::uint64_t seed) {
    Request r;
    if (test.prompt > 0) {
        r.prompt_token_ids = bench::random_prompt(engine.model(), test.prompt, seed);
        r.params = bench::fixed_length_params(1);
        engine.add_request(std::move(r));
        return bench::run_to_completion(engine);
    }
    // tg: the depth's prompt step(s) sample the first token untimed, then N decode steps
    r.prompt_token_ids = bench::random_prompt(engine.model(), std::max(depth, 1), seed);
    r.params = bench::fixed_length_params(depth > 0 ? test.gen + 1 : test.gen);
    engine.add_request(std::move(r));
    if (depth > 0) {
        const std::int64_t before = engine.metrics().generation_tokens;
        while (engine.has_work() && engine.metrics().generation_tokens == before) engine.step();
    }
    return bench::run_to_completion(engine);
}

nlohmann::json result_json(const Test& test, int threads, std::int32_t depth, const std::vector<double>& seconds,
                           const std::vector<double>& tps) {
    return {{"test", test.name},
            {"threads", threads},
            {"depth", test.prompt > 0 ? 0 : depth},
            {"n_prompt", test.prompt},
            {"n_gen", test.gen},
            {"repetitions", tps.size()},
            {"tokens_per_s", bench::stats_json(bench::stats(tps))},
            {"seconds", seconds}};
}

}  // namespace

int run_bench_latency(const std::vector<std::string>& args) {
    const std::vector<OptionSpec> options = {
        {"prompt-tokens", "N[,N...]", "prompt lengths of the pp tests; 0 = none (default 512)"},
        {"gen-tokens", "N[,N...]", "generated lengths of the tg tests; 0 = none (default 128)"},
        {"repetitions", "N", "timed runs of each test (default 5)"},
        {"depth", "N", "tg tests start after an untimed N-token prompt (default 0: empty context)"},
    };
    const ArgParser parser = bench::parser(
        "bench latency", "Prompt processing and generation speed, as llama-bench: ppN and tgN tokens/s.", options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const bench::CommonOptions common = bench::common_options(a);
    const auto prompts = bench::integer_list(a, "prompt-tokens", "512", 0, 1 << 20);
    const auto gens = bench::integer_list(a, "gen-tokens", "128", 0, 1 << 20);
    const int reps = static_cast<int>(a.integer("repetitions", 5, 1, 1000));
    const auto depth = static_cast<std::int32_t>(a.integer("depth", 0, 0, 1 << 20));
    std::vector<Test> tests;
    std::int64_t longest = 1;
    for (std::int64_t p : prompts) {
        if (p > 0) tests.push_back({"pp" + std::to_string(p), static_cast<std::int32_t>(p), 0});
        longest = std::max(longest, p + 1);
    }
    for (std::int64_t g : gens) {
        const std::string suffix = depth > 0 ? " @ d" + std::to_string(depth) : "";
        if (g > 0) tests.push_back({"tg" + std::to_string(g) + suffix, 0, static_cast<std::int32_t>(g)});
        longest = std::max(longest, depth + g + 1);
    }
    if (tests.empty()) throw UsageError("nothing to run: give a --prompt-tokens or --gen-tokens above 0");

    const std::shared_ptr<const Model> model = bench::load_model(common);
    bench::check_fits_context(*model, longest);
    nlohmann::json results = nlohmann::json::array();
    bench::Table table({"model", "size", "params", "backend", "threads", "test", "t/s"});
    std::string backend;
    for (int threads : common.threads) {
        EngineConfig config;
        config.num_threads = threads;
        config.block_size = common.block_size;
        config.cache_dtype = common.cache_dtype;
        config.enable_prefix_caching = false;
        config.max_num_seqs = 1;
        config.max_num_batched_tokens = static_cast<std::int32_t>(std::max<std::int64_t>(longest, 16));
        config.max_model_len = static_cast<std::int32_t>(longest);
        config.num_kv_blocks = bench::blocks_for(1, longest, common.block_size);
        const auto engine = bench::make_engine(model, config, common.pack_weights);
        backend = engine->backend_name();
        for (const Test& test : tests) {
            run_once(*engine, test, depth, 999);  // warm-up: page in weights, size the scratch
            std::vector<double> seconds, tps;
            for (int r = 0; r < reps; ++r) {
                seconds.push_back(run_once(*engine, test, depth, 1000 + static_cast<std::uint64_t>(r)));
                tps.push_back((test.prompt > 0 ? test.prompt : test.gen) / seconds.back());
            }
            const Stats s = bench::stats(tps);
            if (!common.json)
                std::fprintf(stderr, "kvscope: %s, %d threads: %.2f t/s\n", test.name.c_str(), threads, s.mean);
            results.push_back(result_json(test, threads, depth, seconds, tps));
            table.add_row({model->config().name, bench::format_bytes(double(model->loaded_weight_bytes())),
                           bench::format_number(double(model->config().num_params) / 1e9, 2) + " B", backend,
                           std::to_string(threads), test.name,
                           bench::format_number(s.mean, 2) + " ± " + bench::format_number(s.stddev, 2)});
        }
    }
    const nlohmann::json j = {{"bench", "latency"},
                              {"model", bench::model_json(*model, common.model_path)},
                              {"backend", backend},
                              {"packed_weights", common.pack_weights},
                              {"results", results}};
    bench::print_result(common, j, table);
    return 0;
}

}  // namespace kvscope::cli
