#include "engine/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/error.h"

namespace kvscope {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error) {
    throw FileError(path + ": cannot write (" + what + ": " + std::strerror(error) +
                    "); check that the folder exists and is writable and that the disk has room");
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view content) {
    std::random_device rd;
    std::string temp;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
        temp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
        fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && (errno != EEXIST || attempt == 16)) fail(path, "create " + temp, errno);
    }
    try {
        for (std::size_t done = 0; done < content.size();) {
            const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail(path, "write", n < 0 ? errno : EIO);
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd) != 0) fail(path, "fsync", errno);
        const int closed = ::close(fd);
        fd = -1;
        if (closed != 0) fail(path, "close", errno);
        if (::rename(temp.c_str(), path.c_str()) != 0) fail(path, "rename " + temp, errno);
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
}

}  // namespace kvscope
