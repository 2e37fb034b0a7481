#include "engine/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "engine/error.h"

namespace kvscope {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error) {
    throw FileError(path + ": cannot write (" + what + ": " + std::strerror(error) +
                    "); check that the folder exists and is writable and that the disk has room");
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
    std::random_device rd;
    for (int attempt = 0; fd_ < 0; ++attempt) {
        temp_ = path_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
        fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd_ < 0 && (errno != EEXIST || attempt == 16)) fail(path_, "create " + temp_, errno);
    }
}

AtomicFile::~AtomicFile() {
    if (fd_ < 0) return;
    ::close(fd_);
    ::unlink(temp_.c_str());
}

void AtomicFile::resize(std::uint64_t size) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail(path_, "resize", errno);
}

void AtomicFile::write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(path_, "write", n < 0 ? errno : EIO);
        done += static_cast<std::size_t>(n);
    }
}

void AtomicFile::commit() {
    if (::fsync(fd_) != 0) fail(path_, "fsync", errno);
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) {
        ::unlink(temp_.c_str());
        fail(path_, "close", errno);
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
        const int error = errno;
        ::unlink(temp_.c_str());
        fail(path_, "rename " + temp_, error);
    }
}

void write_file_atomically(const std::string& path, std::string_view content) {
    AtomicFile file(path);
    file.write_at(0, std::span(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()));
    file.commit();
}

}  // namespace kvscope
