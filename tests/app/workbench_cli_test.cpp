// kvscope (the workbench) on a machine without a display: --help and --version answer on stdout
// and exit 0, as a command-line tool does, instead of aborting for want of a Qt platform plugin.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/cli_run.h"

namespace {

// kvscope with no display of any kind: no X, no Wayland, no platform plugin chosen.
kvscope::test::CliResult runWithoutDisplay(const std::vector<std::string>& args) {
    std::vector<std::string> command = {"-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", "-u", "QT_QPA_PLATFORM", KVSCOPE_GUI};
    command.insert(command.end(), args.begin(), args.end());
    return kvscope::test::run_cli("env", command);
}

TEST(WorkbenchCli, HelpNeedsNoDisplay) {
    for (const std::string flag : {"--help", "-h"}) {
        const auto r = runWithoutDisplay({flag});
        EXPECT_EQ(r.exit_code, 0) << flag << ": " << r.err;
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << flag << ": " << r.out;
        EXPECT_NE(r.out.find("--model"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("--demo-batch"), std::string::npos) << r.out;
        EXPECT_EQ(r.err.find("platform plugin"), std::string::npos) << r.err;
    }
}

TEST(WorkbenchCli, VersionNeedsNoDisplay) {
    const auto r = runWithoutDisplay({"--version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, std::string("kvscope ") + KVSCOPE_VERSION + "\n");
}

}  // namespace
