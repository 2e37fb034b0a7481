#pragma once
// The subcommands of kvscope-cli. Each takes the arguments after its name and returns the
// process exit code; errors a user can fix are thrown (UsageError, kvscope::Error) and printed
// by main.

#include <string>
#include <vector>

namespace kvscope::cli {

int run_generate(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_make_model(const std::vector<std::string>& args);
int run_quantize(const std::vector<std::string>& args);
int run_perplexity(const std::vector<std::string>& args);
int run_make_lora(const std::vector<std::string>& args);
int run_make_trace(const std::vector<std::string>& args);
int run_lab(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);  // bench <subcommand>: cmd_bench.cpp
int run_serve(const std::vector<std::string>& args);

}  // namespace kvscope::cli
