#include "engine/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "engine/error.h"

namespace kvscope {

MappedFile MappedFile::open(const std::string& path) {
    if (path.empty()) throw FileError("no file path given; pass the path of a .gguf model file");
    // O_NONBLOCK: a FIFO would block the open until a writer came; it is refused below instead.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        throw FileError(path + ": cannot open (" + std::strerror(errno) + "); check the path and permissions");
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw FileError(path + ": not a regular file (" +
                        (S_ISDIR(st.st_mode)    ? "a directory"
                         : S_ISFIFO(st.st_mode) ? "a pipe"
                                                : "a device or socket") +
                        "); pass the path of a .gguf model file");
    }
    if (st.st_size == 0) {
        ::close(fd);
        throw FileError(path + ": the file is empty; pass the path of a .gguf model file");
    }
    void* addr = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_errno = errno;
    ::close(fd);
    if (addr == MAP_FAILED) {
        throw FileError(path + ": cannot memory-map the file (" + std::strerror(map_errno) + ")");
    }
    MappedFile f;
    f.data_ = static_cast<const std::uint8_t*>(addr);
    f.size_ = static_cast<std::size_t>(st.st_size);
    f.owned_ = true;
    f.name_ = path;
    return f;
}

MappedFile MappedFile::borrow(std::span<const std::uint8_t> bytes, std::string name) {
    MappedFile f;
    f.data_ = bytes.data();
    f.size_ = bytes.size();
    f.owned_ = false;
    f.name_ = std::move(name);
    return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      owned_(std::exchange(other.owned_, false)),
      name_(std::move(other.name_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        owned_ = std::exchange(other.owned_, false);
        name_ = std::move(other.name_);
    }
    return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
    if (owned_ && data_ != nullptr) {
        ::munmap(const_cast<std::uint8_t*>(data_), size_);
    }
    data_ = nullptr;
    size_ = 0;
    owned_ = false;
}

}  // namespace kvscope
