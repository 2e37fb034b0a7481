#include "engine/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/error.h"

namespace kvscope {
namespace {

std::string advice(int error) {
    switch (error) {
        case ENOSPC:
        case EDQUOT:
            return "free some disk space or write to another disk";
        case EROFS:
        case EPERM:
            return "choose a directory you can write to";
        case EACCES:
            return "check the permissions of the file and its folder, or write to another path";
        case ENOENT:
        case ENOTDIR:
            return "create the directory first or fix the path";
        case EFBIG:
            return "the file system (or a limit) does not allow a file this large";
        case EISDIR:
            return "the path is a directory; give a file name";
        case ESPIPE:
            return "give the path of a file";
        case ELOOP:
            return "fix the symbolic links";
        default:
            return "check the path and the disk";
    }
}

// ---- the temporary files being written, for the signal handler --------------------------------
// Fixed storage and lock-free atomics only: the handler may run at any instruction.
constexpr int kSlots = 32;
constexpr int kSlotFree = 0, kSlotClaimed = 1, kSlotLive = 2;
struct TempSlot {
    std::atomic<int> state{kSlotFree};
    char path[PATH_MAX];
};
TempSlot g_temp_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free);

int register_temp(const std::string& path) {
    if (path.size() >= PATH_MAX) return -1;
    for (int i = 0; i < kSlots; ++i) {
        int expected = kSlotFree;
        if (!g_temp_slots[i].state.compare_exchange_strong(expected, kSlotClaimed)) continue;
        std::memcpy(g_temp_slots[i].path, path.c_str(), path.size() + 1);
        g_temp_slots[i].state.store(kSlotLive, std::memory_order_release);
        return i;
    }
    return -1;  // more files at once than slots: this one is not removed on a signal
}

void unregister_temp(int slot) {
    if (slot >= 0) g_temp_slots[slot].state.store(kSlotFree, std::memory_order_release);
}

extern "C" void remove_temporary_files_and_die(int signal) {
    for (TempSlot& s : g_temp_slots) {
        if (s.state.load(std::memory_order_acquire) == kSlotLive) ::unlink(s.path);
    }
    std::signal(signal, SIG_DFL);
    std::raise(signal);
}

// The descriptor that /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N names, or -1.
int own_stream_fd(const std::string& path) {
    if (path == "/dev/stdin" || path == "/dev/fd/0" || path == "/proc/self/fd/0") return -1;
    if (path == "/dev/stdout") return 1;
    if (path == "/dev/stderr") return 2;
    for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
        const std::string p(prefix);
        if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 &&
            path.find_first_not_of("0123456789", p.size()) == std::string::npos && path.size() - p.size() <= 6) {
            return std::stoi(path.substr(p.size()));
        }
    }
    return -1;
}

// Where the symbolic links from `path` lead, when that file does not exist yet.
std::string follow_dangling_links(std::string path) {
    for (int hop = 0; hop < 40; ++hop) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
        std::string link(PATH_MAX, '\0');
        const ssize_t n = ::readlink(path.c_str(), link.data(), link.size());
        if (n <= 0) return path;
        link.resize(static_cast<std::size_t>(n));
        const std::filesystem::path next(link);
        path = next.is_absolute() ? link : (std::filesystem::path(path).parent_path() / next).string();
    }
    errno = ELOOP;
    return {};
}

}  // namespace

void AtomicFile::fail(const std::string& step, int error) const {
    throw FileError(path_ + ": cannot write " + what_ + " (" + step + ": " + std::strerror(error) + "); " +
                    advice(error));
}

// How `path` is written (see atomic_file.h); throws through `fail` when it cannot be.
struct AtomicFile::Plan {
    std::string target;     // the file the bytes reach
    bool in_place = false;  // a device, pipe or socket
    bool exists = false;
    mode_t mode = 0;
};

AtomicFile::Plan AtomicFile::plan() const {
    if (path_.empty()) fail("no path given", ENOENT);
    Plan p;
    p.target = path_;
    struct stat st {};
    p.exists = ::stat(path_.c_str(), &st) == 0;  // follows the links: what the bytes would reach
    if (!p.exists && errno != ENOENT) fail("stat", errno);
    if (!p.exists) {
        p.target = follow_dangling_links(path_);
        if (p.target.empty()) fail("follow the symbolic links", ELOOP);
        return p;
    }
    p.mode = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) fail("open", EISDIR);
    if (S_ISBLK(st.st_mode)) {
        throw FileError(path_ + ": cannot write " + what_ + " (it is a block device: a disk); give the path of a file");
    }
    // A device, pipe or socket; or this process's own stream (/dev/stdout, /dev/fd/N), even when
    // the shell sent it to a file: renaming over that file would lose what else goes to the stream.
    if (!S_ISREG(st.st_mode) || own_stream_fd(path_) >= 0) {
        p.in_place = true;
        return p;
    }
    struct stat lst {};
    if (::lstat(path_.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char real[PATH_MAX];
        if (::realpath(path_.c_str(), real) == nullptr) fail("follow the symbolic links", errno);
        p.target = real;
    }
    if (::access(p.target.c_str(), W_OK) != 0) fail("the file is read-only", errno);
    return p;
}

int AtomicFile::create_temp(const std::string& target, std::string& temp) const {
    std::random_device rd;
    for (int attempt = 0;; ++attempt) {
        temp = target + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) return fd;
        if (errno != EEXIST || attempt == 16) {
            const std::filesystem::path dir = std::filesystem::path(target).parent_path();
            fail("cannot create a temporary file in " + (dir.empty() ? std::string(".") : dir.string()), errno);
        }
    }
}

AtomicFile::AtomicFile(std::string path, std::string what) : path_(std::move(path)), what_(std::move(what)) {
    const Plan p = plan();
    target_ = p.target;
    if (p.in_place) {
        if (const int own = own_stream_fd(path_); own >= 0) {
            // The stream itself (its offset shared with the rest of this process's output), after
            // what stdio still buffers for it.
            std::fflush(own == 1 ? stdout : own == 2 ? stderr : nullptr);
            fd_ = ::fcntl(own, F_DUPFD_CLOEXEC, 0);
        } else {
            fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
        }
        if (fd_ < 0) fail("open", errno);
        return;
    }
    fd_ = create_temp(target_, temp_);
    slot_ = register_temp(temp_);
    // An existing file keeps its permissions (the new one would get 0666 less the umask).
    if (p.exists && ::fchmod(fd_, p.mode) != 0) {
        const int error = errno;
        ::close(fd_);
        fd_ = -1;
        ::unlink(temp_.c_str());
        unregister_temp(slot_);
        fail("keep the file's permissions", error);
    }
}

void AtomicFile::check_writable(const std::string& path, std::string_view what) {
    const AtomicFile probe_only(path, std::string(what), Probe{});
    const Plan p = probe_only.plan();
    if (p.in_place) {
        if (::access(path.c_str(), W_OK) != 0) probe_only.fail("access", errno);
        return;
    }
    std::string temp;
    const int fd = probe_only.create_temp(p.target, temp);
    ::close(fd);
    ::unlink(temp.c_str());
}

AtomicFile::~AtomicFile() {
    if (fd_ < 0) return;
    ::close(fd_);
    if (!temp_.empty()) {
        ::unlink(temp_.c_str());
        unregister_temp(slot_);
    }
}

void AtomicFile::check_room(std::uint64_t size) const {
    struct statvfs fs {};
    if (temp_.empty() || ::fstatvfs(fd_, &fs) != 0) return;
    const double free_bytes = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
    if (static_cast<double>(size) <= free_bytes) return;
    char sizes[128];
    std::snprintf(sizes, sizeof sizes, "it needs %.1f GiB and the disk has %.1f GiB free",
                  static_cast<double>(size) / (1 << 30), free_bytes / (1 << 30));
    fail(sizes, ENOSPC);
}

void AtomicFile::resize(std::uint64_t size) {
    if (temp_.empty()) {
        if (size != end_) fail("a device or pipe is written in order, it cannot be resized", ESPIPE);
        return;
    }
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail("resize", errno);
    end_ = size;
}

void AtomicFile::write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    if (temp_.empty() && offset != end_) fail("a device or pipe is written in order only", ESPIPE);
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n =
            temp_.empty() ? ::write(fd_, bytes.data() + done, bytes.size() - done)
                          : ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write", n < 0 ? errno : EIO);
        done += static_cast<std::size_t>(n);
    }
    end_ = std::max<std::uint64_t>(end_, offset + bytes.size());
}

void AtomicFile::commit() {
    if (!temp_.empty() && ::fsync(fd_) != 0) fail("fsync", errno);
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) {
        const int error = errno;
        if (!temp_.empty()) {
            ::unlink(temp_.c_str());
            unregister_temp(slot_);
        }
        fail("close", error);
    }
    if (temp_.empty()) return;
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
        const int error = errno;
        ::unlink(temp_.c_str());
        unregister_temp(slot_);
        fail("rename " + temp_, error);
    }
    unregister_temp(slot_);
}

void write_file_atomically(const std::string& path, std::string_view content, std::string_view what) {
    AtomicFile file(path, std::string(what));
    file.append(std::span(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()));
    file.commit();
}

void remove_temporary_files_on_termination() {
    for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction current {};
        if (::sigaction(signal, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) continue;  // ignored or taken
        struct sigaction action {};
        action.sa_handler = remove_temporary_files_and_die;
        sigemptyset(&action.sa_mask);
        ::sigaction(signal, &action, nullptr);
    }
}

}  // namespace kvscope
