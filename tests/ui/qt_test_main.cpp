// The entry point of the grouped Qt tests (`ui_tests`): runs the test class registered under its
// first argument (tests/ui/qt_test_main.h) as QTEST_MAIN would run it alone.

#include <QApplication>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tests/ui/qt_test_main.h"

namespace kvscope::test {
namespace {

std::map<std::string, QtTestRun>& registry() {
    static std::map<std::string, QtTestRun> tests;
    return tests;
}

}  // namespace

bool register_qt_test(const char* name, QtTestRun run) {
    return registry().emplace(name, run).second;
}

}  // namespace kvscope::test

int main(int argc, char** argv) {
    const auto& tests = kvscope::test::registry();
    const auto it = argc >= 2 ? tests.find(argv[1]) : tests.end();
    if (it == tests.end()) {
        std::fprintf(stderr, "%s: %s\nusage: %s TEST [Qt Test options]; TEST is one of:\n", argv[0],
                     argc >= 2 ? "no such test" : "which test?", argv[0]);
        for (const auto& [name, run] : tests) std::fprintf(stderr, "  %s\n", name.c_str());
        return 2;
    }
    // argv without the test's name, as Qt Test expects its own options.
    std::vector<char*> args{argv[0]};
    args.insert(args.end(), argv + 2, argv + argc);
    int count = static_cast<int>(args.size());
    args.push_back(nullptr);
    QApplication app(count, args.data());
    app.setAttribute(Qt::AA_Use96Dpi, true);  // as QTEST_MAIN does
    return it->second(count, args.data());
}
