#pragma once
// Writing a whole file so that readers see the old content or the new, never a torn one: the
// bytes go to a temporary file beside the target, which is flushed to disk and renamed over it.

#include <string>
#include <string_view>

namespace kvscope {

// Throws FileError (one line: the path, what failed, what to do) when the file cannot be written.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace kvscope
