#pragma once
// The file an option names for a command to write (--out, --json-file, --trace-out, ...),
// checked before the command does its work: not empty, not one of the command's own input files
// (writing it would destroy the input), and writable where it is (a temporary file is made and
// removed there), so a long run does not end in "cannot write".

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/cli/args.h"

namespace kvscope::cli {

// The value of --`option`, or nothing when it was not given. `what` names the file in errors
// ("the trace"); `inputs` are the command's input files (empty strings are skipped). Throws
// UsageError (empty, or an input) or FileError (cannot be written there).
std::optional<std::string> output_path(const ParsedArgs& args, const std::string& option, std::string_view what,
                                       const std::vector<std::string>& inputs = {});

}  // namespace kvscope::cli
