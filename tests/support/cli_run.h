#pragma once
// Runs a command-line binary (kvscope-cli) with arguments, as a user's shell would, and collects
// its exit code, stdout and stderr: the CLI tests' one way of calling it.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvscope::test {

struct CliResult {
    int exit_code = -1;  // -1 when it did not exit normally
    std::string out;     // stdout
    std::string err;     // stderr
};

// `binary` and each argument are single-quoted for the shell (no expansion).
CliResult run_cli(const std::string& binary, const std::vector<std::string>& args);

// One JSON value per non-empty line.
std::vector<nlohmann::json> json_lines(const std::string& text);

}  // namespace kvscope::test
