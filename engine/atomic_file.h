#pragma once
// Writing a file so that readers see the old content or the new, never a torn one: the bytes go
// to a temporary file beside the target, which is flushed to disk and renamed over it.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kvscope {

// Throws FileError (one line: the path, what failed, what to do) when the file cannot be written.
void write_file_atomically(const std::string& path, std::string_view content);

// A file written in pieces, at any offsets, into a temporary file beside `path`; commit() flushes
// it and renames it into place. Destroyed without commit(), the temporary file is removed and
// `path` is untouched. Every failure is a FileError as above.
class AtomicFile {
public:
    explicit AtomicFile(std::string path);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void resize(std::uint64_t size);
    void write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes);
    void commit();

private:
    std::string path_, temp_;
    int fd_ = -1;
};

}  // namespace kvscope
