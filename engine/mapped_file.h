#pragma once
// A read-only view of a file's bytes: memory-mapped from disk (never copied whole), or a
// borrowed span of memory such as the embedded model.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace kvscope {

class MappedFile {
public:
    // Maps `path` read-only. Throws FileError (missing, unreadable, a directory, empty).
    static MappedFile open(const std::string& path);
    // Borrows `bytes` (which must outlive the MappedFile); `name` is shown in messages.
    static MappedFile borrow(std::span<const std::uint8_t> bytes, std::string name);

    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& name() const { return name_; }

private:
    void release();

    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    bool owned_ = false;  // true: data_ is our mmap and is unmapped on destruction
    std::string name_;
};

}  // namespace kvscope
