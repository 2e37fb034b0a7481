#pragma once
// The subcommands of `kvscope-cli bench`. Each takes the arguments after its name and returns
// the exit code, as the top-level commands do (commands.h).

#include <string>
#include <vector>

namespace kvscope::cli {

int run_bench_latency(const std::vector<std::string>& args);
int run_bench_batched(const std::vector<std::string>& args);
int run_bench_throughput(const std::vector<std::string>& args);
int run_bench_roofline(const std::vector<std::string>& args);
int run_bench_serve(const std::vector<std::string>& args);  // cmd_bench_serve.cpp

}  // namespace kvscope::cli
