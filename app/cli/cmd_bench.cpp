// kvscope-cli bench <subcommand>: the benchmark suite. A dispatcher over a table of
// subcommands; a new one joins with one line in kSubcommands.

#include <cstdio>

#include "app/cli/args.h"
#include "app/cli/bench_commands.h"
#include "app/cli/commands.h"

namespace kvscope::cli {
namespace {

struct Subcommand {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

constexpr Subcommand kSubcommands[] = {
    {"latency", "prompt processing (pp) and generation (tg) tokens/s, as llama-bench", run_bench_latency},
    {"batched", "a grid of prompt length x generated length x batch size, as llama-batched-bench", run_bench_batched},
    {"throughput", "offline serving of a synthetic workload through the continuous-batching engine",
     run_bench_throughput},
    {"roofline", "this machine's memory bandwidth and the bandwidth-bound ceiling of generation", run_bench_roofline},
    {"serve", "load an OpenAI-compatible server over HTTP, as vllm bench serve", run_bench_serve},
};

void print_usage(std::FILE* out) {
    std::fprintf(out, "usage: kvscope-cli bench <subcommand> [options]\n\nsubcommands:\n");
    for (const Subcommand& s : kSubcommands) std::fprintf(out, "  %-12s %s\n", s.name, s.summary);
    std::fprintf(out, "\nRun 'kvscope-cli bench <subcommand> --help' for its options.\n");
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
    if (args.empty()) {
        print_usage(stderr);
        return 2;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        print_usage(stdout);
        return 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const Subcommand& s : kSubcommands) {
        if (args[0] == s.name) return s.run(rest);
    }
    throw UsageError("unknown subcommand '" + args[0] + "' (see kvscope-cli bench --help)");
}

}  // namespace kvscope::cli
