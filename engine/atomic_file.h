#pragma once
// Writing a file so that readers see the old content or the new, never a torn one: the bytes go
// to a temporary file beside the target, which is flushed to disk and renamed over it.
//
// What the path names decides how:
//  - a regular file, or none: temporary file + rename; an existing file keeps its permissions;
//  - a symbolic link: the file it leads to is written that way, and the link stays a link;
//  - a device, pipe or socket (a FIFO), or this process's own stream (/dev/stdout, /dev/fd/N, even
//    redirected to a file): written in place, in order (there is nothing to rename over it, and
//    replacing it would break it or lose the rest of the stream);
//  - a directory: refused.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kvscope {

// Throws FileError (one line: the path, what failed, what to do) when the file cannot be written.
// `what` names the file in that message: "<path>: cannot write <what> (...)".
void write_file_atomically(const std::string& path, std::string_view content, std::string_view what = "the file");

// A file written in pieces into a temporary file beside `path`; commit() flushes it and renames
// it into place. Destroyed without commit(), the temporary file is removed and `path` is
// untouched. Every failure is a FileError as above. A device or pipe takes only append() (or
// write_at at the end), and gets the bytes as they come.
class AtomicFile {
public:
    explicit AtomicFile(std::string path, std::string what = "the file");
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    // Refuses at once (ENOSPC, with both sizes) a file of `size` bytes that the disk has no room
    // for, rather than failing when it is full. Nothing to check for a device or pipe.
    void check_room(std::uint64_t size) const;
    void resize(std::uint64_t size);
    void write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes);
    void append(std::span<const std::uint8_t> bytes) { write_at(end_, bytes); }
    void commit();

    // The file that receives the bytes (the path, or where its symbolic links lead).
    const std::string& target() const { return target_; }

    // Throws the FileError that writing `path` would, without writing it (a temporary file is
    // created and removed; a device or pipe is not opened): for a check before a long run.
    static void check_writable(const std::string& path, std::string_view what = "the file");

private:
    struct Plan;
    struct Probe {};
    AtomicFile(std::string path, std::string what, Probe) : path_(std::move(path)), what_(std::move(what)) {}
    Plan plan() const;
    int create_temp(const std::string& target, std::string& temp) const;
    [[noreturn]] void fail(const std::string& step, int error) const;

    std::string path_, what_, target_, temp_;  // temp_ empty: written in place
    int fd_ = -1;
    int slot_ = -1;  // in the registry of temporary files removed on SIGINT / SIGTERM
    std::uint64_t end_ = 0;
};

// For command-line programs: on SIGINT, SIGTERM or SIGHUP, remove the temporary files of the
// AtomicFiles being written, then end by the signal as before. (Programs that handle those
// signals themselves, such as `serve`, are unaffected.)
void remove_temporary_files_on_termination();

}  // namespace kvscope
