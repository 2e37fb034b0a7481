#include "app/server/client_connection.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

namespace kvscope::server {
namespace {

// The numeric host and port of an address, as httplib writes them into a Request.
bool host_and_port(const sockaddr_storage& address, socklen_t length, std::string& host, int& port) {
    char host_text[NI_MAXHOST];
    char port_text[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host_text, sizeof(host_text), port_text,
                    sizeof(port_text), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return false;
    }
    host = host_text;
    port = std::atoi(port_text);
    return true;
}

bool is_connection_of(int fd, const httplib::Request& req) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    std::string host;
    int port = -1;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
    if (!host_and_port(address, length, host, port) || port != req.local_port || host != req.local_addr) return false;
    length = sizeof(address);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
    return host_and_port(address, length, host, port) && port == req.remote_port && host == req.remote_addr;
}

}  // namespace

ClientConnection::ClientConnection(const httplib::Request& req) {
    if (req.remote_port < 0 || req.local_port < 0) return;
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return;
    const int own = dirfd(dir);
    while (const dirent* entry = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == own) continue;
        if (is_connection_of(static_cast<int>(fd), req)) {
            fd_ = static_cast<int>(fd);
            break;
        }
    }
    closedir(dir);
}

bool ClientConnection::gone() const {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace kvscope::server
