#include "tests/support/paths.h"

#include <gtest/gtest.h>

#include <atomic>
#include <unistd.h>

namespace kvscope::test {

std::filesystem::path temp_dir() {
    static std::atomic<int> counter{0};
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
    for (char& c : name) {
        if (c == '/') c = '_';
    }
    auto dir = std::filesystem::path(KVSCOPE_BINARY_DIR) / "test-tmp" /
               (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace kvscope::test
