// AtomicFile and write_file_atomically against what the path names: a regular file (replaced
// whole, keeping its permissions), a symbolic link (followed, and left a link), a pipe (written in
// place, not replaced), a directory (refused), the pre-run check, and the temporary file removed
// when the process is ended by a signal in the middle of a write.

#include "engine/atomic_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/error.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace atomic_file_test {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const FileError& e) {
        return e.what();
    }
    return "no error";
}

TEST(AtomicFile, ReplacesARegularFileWholeAndKeepsItsPermissions) {
    const auto dir = test::temp_dir();
    const fs::path file = dir / "out.txt";
    write_file_atomically(file.string(), "old");
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    write_file_atomically(file.string(), "new content");
    EXPECT_EQ(read(file), "new content");
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    EXPECT_EQ(entries(dir), std::vector<std::string>{"out.txt"});
}

TEST(AtomicFile, WritesThroughASymbolicLinkWhichStaysALink) {
    const auto dir = test::temp_dir();
    fs::create_directory(dir / "real");
    write_file_atomically((dir / "real" / "target.txt").string(), "old");
    fs::create_symlink("real/target.txt", dir / "link.txt");
    write_file_atomically((dir / "link.txt").string(), "through the link");
    EXPECT_TRUE(fs::is_symlink(dir / "link.txt"));
    EXPECT_EQ(read(dir / "real" / "target.txt"), "through the link");
    EXPECT_EQ(entries(dir / "real"), std::vector<std::string>{"target.txt"});  // the temporary file was there

    fs::create_symlink("real/new.txt", dir / "dangling.txt");  // a link to a file not made yet
    write_file_atomically((dir / "dangling.txt").string(), "created");
    EXPECT_TRUE(fs::is_symlink(dir / "dangling.txt"));
    EXPECT_EQ(read(dir / "real" / "new.txt"), "created");
}

TEST(AtomicFile, WritesIntoAPipeInPlace) {
    const auto dir = test::temp_dir();
    const fs::path fifo = dir / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::string got;
    std::thread reader([&] { got = read(fifo); });
    write_file_atomically(fifo.string(), "line one\nline two\n");
    reader.join();
    EXPECT_EQ(got, "line one\nline two\n");
    EXPECT_TRUE(fs::is_fifo(fifo));  // not replaced by a regular file
    EXPECT_EQ(entries(dir), std::vector<std::string>{"fifo"});

    // In place means in order: a format written at offsets cannot go there.
    std::thread drain([&] { got = read(fifo); });
    const std::string message = error_of([&] {
        AtomicFile f(fifo.string(), "the base file");
        f.resize(64);
    });
    drain.join();
    EXPECT_NE(message.find("the base file"), std::string::npos) << message;
    EXPECT_NE(message.find("written in order"), std::string::npos) << message;
}

// /dev/stdout redirected to a file by the shell: the stream itself is written, its offset shared
// with what else the process writes to it, not a new file renamed over the shell's.
TEST(AtomicFile, AStreamOfThisProcessIsWrittenInPlaceInOrder) {
    const auto dir = test::temp_dir();
    const fs::path file = dir / "redirected.txt";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "first\n", 6), 6);
    write_file_atomically("/dev/fd/" + std::to_string(fd), "second\n");
    ASSERT_EQ(::write(fd, "third\n", 6), 6);
    ::close(fd);
    EXPECT_EQ(read(file), "first\nsecond\nthird\n");
    EXPECT_EQ(entries(dir), std::vector<std::string>{"redirected.txt"});
}

TEST(AtomicFile, RefusesADirectoryAndAMissingFolderWithTheReason) {
    const auto dir = test::temp_dir();
    fs::create_directory(dir / "d");
    std::string message = error_of([&] { write_file_atomically((dir / "d").string(), "x", "the trace"); });
    EXPECT_EQ(message.rfind((dir / "d").string() + ": cannot write the trace (", 0), 0u) << message;
    EXPECT_NE(message.find("give a file name"), std::string::npos) << message;
    message = error_of([&] { write_file_atomically((dir / "no" / "x").string(), "x"); });
    EXPECT_NE(message.find("create the directory first"), std::string::npos) << message;
    message = error_of([&] { write_file_atomically("", "x"); });
    EXPECT_NE(message.find("no path given"), std::string::npos) << message;
    EXPECT_EQ(entries(dir), std::vector<std::string>{"d"});
}

TEST(AtomicFile, CheckWritableFindsTheErrorsAndWritesNothing) {
    const auto dir = test::temp_dir();
    EXPECT_NO_THROW(AtomicFile::check_writable((dir / "later.json").string()));
    EXPECT_TRUE(entries(dir).empty());
    EXPECT_NE(error_of([&] {
                  AtomicFile::check_writable((dir / "no" / "x.json").string(), "the JSON result");
              }).find("cannot write the JSON result (cannot create a temporary file in"),
              std::string::npos);
    const fs::path fifo = dir / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_NO_THROW(AtomicFile::check_writable(fifo.string()));  // not opened: that would block, or end a reader
}

TEST(AtomicFile, ARefusedWriteLeavesTheOldFile) {
    if (::geteuid() == 0) GTEST_SKIP() << "root may write a read-only file";
    const auto dir = test::temp_dir();
    const fs::path file = dir / "ro.txt";
    write_file_atomically(file.string(), "keep");
    fs::permissions(file, fs::perms::owner_read);
    EXPECT_NE(error_of([&] { write_file_atomically(file.string(), "lost"); }).find("read-only"), std::string::npos);
    EXPECT_EQ(read(file), "keep");
}

// A child process is in the middle of writing when SIGTERM arrives: it dies by the signal, and
// neither the temporary file nor a new target is left; the old target is intact.
TEST(AtomicFile, ATerminatingSignalRemovesTheTemporaryFile) {
    const auto dir = test::temp_dir();
    const fs::path file = dir / "big.bin";
    write_file_atomically(file.string(), "old");
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        remove_temporary_files_on_termination();
        AtomicFile f(file.string());
        const std::vector<std::uint8_t> chunk(4096, 7);
        f.append(chunk);
        std::raise(SIGTERM);
        ::_exit(3);  // not reached
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
    EXPECT_EQ(entries(dir), std::vector<std::string>{"big.bin"});
    EXPECT_EQ(read(file), "old");
}

}  // namespace atomic_file_test
}  // namespace kvscope
