#pragma once
// KVSCOPE_QTEST_MAIN(file, TestClass): a Qt Test file's entry point, in place of QTEST_MAIN, after
// the file's namespace `file` (named after the file) closes.
// - One executable per file: QTEST_MAIN(file::TestClass).
// - Grouped (KVSCOPE_GROUP_TESTS: all of tests/ui in `ui_tests`, unity batches): registers the class
//   under "file" with tests/ui/qt_test_main.cpp, whose main runs the one its first argument names
//   (`ui_tests batch_test [Qt Test options]`); ctest runs each file's class as its own test.

#include <QtTest>

#if KVSCOPE_QT_TESTS_GROUPED

namespace kvscope::test {

using QtTestRun = int (*)(int argc, char** argv);
bool register_qt_test(const char* name, QtTestRun run);

}  // namespace kvscope::test

#define KVSCOPE_QTEST_MAIN(file, TestClass)                                                                        \
    namespace file {                                                                                               \
    [[maybe_unused]] const bool kRegistered = ::kvscope::test::register_qt_test(#file, [](int argc, char** argv) { \
        TestClass test;                                                                                            \
        return QTest::qExec(&test, argc, argv);                                                                    \
    });                                                                                                            \
    }

#else

#define KVSCOPE_QTEST_MAIN(file, TestClass) QTEST_MAIN(file::TestClass)

#endif
