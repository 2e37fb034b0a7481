#include "app/cli/output_path.h"

#include <filesystem>
#include <system_error>

#include "engine/atomic_file.h"

namespace kvscope::cli {

std::optional<std::string> output_path(const ParsedArgs& args, const std::string& option, std::string_view what,
                                       const std::vector<std::string>& inputs) {
    std::optional<std::string> path = args.string(option);
    if (!path) return std::nullopt;
    if (path->empty()) throw UsageError("--" + option + ": give the path of the file to write");
    for (const std::string& input : inputs) {
        std::error_code ec;  // an input that does not exist is reported by whoever reads it
        if (!input.empty() && std::filesystem::equivalent(input, *path, ec)) {
            throw UsageError("--" + option + " " + *path + " is the input file " + input +
                             " (writing it would destroy it); write to another path");
        }
    }
    AtomicFile::check_writable(*path, what);
    return path;
}

}  // namespace kvscope::cli
