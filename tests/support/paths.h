#pragma once
// Where tests find project files and put temporary ones.

#include <filesystem>
#include <string>

namespace kvscope::test {

// resources/models/stories260K.gguf in the source tree.
inline std::filesystem::path stories260k_path() {
    return std::filesystem::path(KVSCOPE_SOURCE_DIR) / "resources" / "models" / "stories260K.gguf";
}

// A fresh, empty directory under the build tree, unique to the calling test.
std::filesystem::path temp_dir();

}  // namespace kvscope::test
