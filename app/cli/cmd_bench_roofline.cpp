// kvscope-cli bench roofline: how close batch-1 generation comes to this machine's memory limit.
// A decode step reads every weight once (plus one embedding row, the norms and the KV cache of the
// context so far), so generation can go no faster than
//   ceiling tokens/s = read bandwidth / bytes read per token.
// The bandwidth probe (bench_bandwidth.h) and the generation runs alternate, so both see the same
// machine conditions; the achieved fraction is measured tg tokens/s over the ceiling.

#include <algorithm>
#include <cstdio>

#include "app/cli/bench_bandwidth.h"
#include "app/cli/bench_commands.h"
#include "app/cli/bench_common.h"
#include "kernels/packed_weight.h"
#include "kernels/thread_pool.h"

namespace kvscope::cli {
namespace {

// A weight's bytes as the CPU backend reads them: its packed copy where it packs (the K-quants'
// is 2-3% larger than the file's rows), else as stored.
std::uint64_t tensor_bytes(const WeightTensor& w, bool pack) {
    return pack ? packed_bytes(w) : static_cast<std::uint64_t>(w.rows) * row_bytes(w.type, w.cols);
}

// Bytes one decode step reads at a context of `context` tokens.
std::uint64_t bytes_per_token(const Model& model, std::int64_t context, TensorType cache_dtype, bool pack) {
    const ModelShape& s = model.shape();
    const ModelWeights& w = model.weights();
    std::uint64_t bytes = row_bytes(w.token_embedding.type, w.token_embedding.cols) + tensor_bytes(w.output, pack);
    bytes += static_cast<std::uint64_t>(s.dim) * sizeof(float);  // output norm
    for (const LayerWeights& l : w.layers) {
        for (const WeightTensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
            bytes += tensor_bytes(*t, pack);
        }
        bytes += 2 * static_cast<std::uint64_t>(s.dim) * sizeof(float);  // the two norms
    }
    // K and V of every cached position, every layer
    bytes += 2 * static_cast<std::uint64_t>(s.num_layers) * context * row_bytes(cache_dtype, s.kv_dim());
    return bytes;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v[(v.size() - 1) / 2] + v[v.size() / 2]) / 2;
}

}  // namespace

int run_bench_roofline(const std::vector<std::string>& args) {
    const std::vector<OptionSpec> options = {
        {"gen-tokens", "N", "tokens generated per run from an empty context (default 64)"},
        {"repetitions", "N", "probe + generation rounds (default 3)"},
        {"probe-mib", "N", "size of the bandwidth probe's array in MiB (default 512)"},
        {"passes", "N", "passes over the array per probe, the best counts (default 3)"},
    };
    const ArgParser parser = bench::parser(
        "bench roofline", "Memory bandwidth of this machine and the bandwidth-bound ceiling of batch-1 generation.",
        options);
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const bench::CommonOptions common = bench::common_options(a);
    const auto gen = static_cast<std::int32_t>(a.integer("gen-tokens", 64, 2, 1 << 20));
    const int reps = static_cast<int>(a.integer("repetitions", 3, 1, 100));
    const auto probe_bytes = static_cast<std::size_t>(a.integer("probe-mib", 512, 1, 1 << 16)) << 20;
    const int passes = static_cast<int>(a.integer("passes", 3, 1, 100));

    const std::shared_ptr<const Model> model = bench::load_model(common);
    bench::check_fits_context(*model, std::int64_t{gen} + 1);
    // mean context over the run: positions 0 .. gen - 1 are read while generating
    const std::uint64_t per_token = bytes_per_token(*model, gen / 2, common.cache_dtype, common.pack_weights);
    nlohmann::json results = nlohmann::json::array();
    bool above_ceiling_said = false;
    bench::Table table(
        {"model", "threads", "read GB/s", "triad GB/s", "MB/token", "ceiling t/s", "tg t/s", "fraction"});
    std::string backend;
    for (int threads : common.threads) {
        EngineConfig config;
        config.num_threads = threads;
        config.block_size = common.block_size;
        config.cache_dtype = common.cache_dtype;
        config.enable_prefix_caching = false;
        config.max_num_seqs = 1;
        config.max_model_len = gen + 1;
        config.num_kv_blocks = bench::blocks_for(1, gen + 1, common.block_size);
        const auto engine = bench::make_engine(model, config, common.pack_weights);
        backend = engine->backend_name();
        ThreadPool probe_pool(threads);
        std::vector<double> read, triad, tps;
        auto generate = [&](std::uint64_t seed) {
            Request r;
            r.prompt_token_ids = bench::random_prompt(*model, 1, seed);
            r.params = bench::fixed_length_params(gen);
            engine->add_request(std::move(r));
            return gen / bench::run_to_completion(*engine);
        };
        generate(1);  // warm-up
        for (int rep = 0; rep < reps; ++rep) {
            const bench::Bandwidth bw = bench::measure_bandwidth(probe_pool, probe_bytes, passes);
            read.push_back(bw.read_bytes_per_s);
            triad.push_back(bw.triad_bytes_per_s);
            tps.push_back(generate(2 + static_cast<std::uint64_t>(rep)));
        }
        const double bandwidth = median(read);
        const double ceiling = bandwidth / double(per_token);
        const double achieved = bench::stats(tps).mean;
        if (achieved > 1.05 * ceiling && !above_ceiling_said) {
            above_ceiling_said = true;
            std::fprintf(stderr,
                         "bench roofline: note: generation ran above the bandwidth ceiling: the model's %.1f MB per "
                         "token stay in the CPU caches, so memory bandwidth does not bound it; the ceiling is "
                         "meaningful for models larger than the caches\n",
                         double(per_token) / 1e6);
        }
        results.push_back({{"threads", threads},
                           {"read_bytes_per_s", bandwidth},
                           {"read_bytes_per_s_samples", read},
                           {"triad_bytes_per_s", median(triad)},
                           {"probe_bytes", probe_bytes},
                           {"bytes_per_token", per_token},
                           {"ceiling_tokens_per_s", ceiling},
                           {"tg_tokens_per_s", bench::stats_json(bench::stats(tps))},
                           {"gen_tokens", gen},
                           {"fraction", achieved / ceiling}});
        table.add_row({model->config().name, std::to_string(threads), bench::format_number(bandwidth / 1e9, 2),
                       bench::format_number(median(triad) / 1e9, 2), bench::format_number(double(per_token) / 1e6, 1),
                       bench::format_number(ceiling, 2), bench::format_number(achieved, 2),
                       bench::format_number(100 * achieved / ceiling, 1) + "%"});
    }
    const nlohmann::json j = {{"bench", "roofline"},
                              {"model", bench::model_json(*model, common.model_path)},
                              {"backend", backend},
                              {"packed_weights", common.pack_weights},
                              {"results", results}};
    bench::print_result(common, j, table);
    return 0;
}

}  // namespace kvscope::cli
