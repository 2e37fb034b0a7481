#include "app/server/client_connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kvscope::server {
namespace {

// An address as 16 bytes, IPv4 as IPv4-mapped IPv6, so that the two families compare alike.
using Address = std::array<unsigned char, 16>;

Address mapped_ipv4(const unsigned char* v4) {
    Address a{};
    a[10] = 0xff;
    a[11] = 0xff;
    std::memcpy(a.data() + 12, v4, 4);
    return a;
}

std::optional<Address> parse_numeric(const std::string& text) {
    unsigned char v4[4];
    if (inet_pton(AF_INET, text.c_str(), v4) == 1) return mapped_ipv4(v4);
    Address a{};
    if (inet_pton(AF_INET6, text.c_str(), a.data()) == 1) return a;
    return std::nullopt;
}

// "0100007F:1F90" (IPv4) or 32 hex digits then ":port" (IPv6): the kernel prints each 32-bit word
// of the address as the host reads it from memory, so the word's bytes in host order are the
// address's bytes; the port is plain hex.
bool parse_table_endpoint(const std::string& text, Address& address, int& port) {
    const std::size_t colon = text.find(':');
    if (colon == std::string::npos || (colon != 8 && colon != 32)) return false;
    unsigned char bytes[16];
    for (std::size_t word = 0; word < colon / 8; ++word) {
        const std::string hex = text.substr(word * 8, 8);
        char* end = nullptr;
        const std::uint32_t value = static_cast<std::uint32_t>(std::strtoul(hex.c_str(), &end, 16));
        if (*end != '\0') return false;
        std::memcpy(bytes + word * 4, &value, 4);
    }
    if (colon == 8) {
        address = mapped_ipv4(bytes);
    } else {
        std::memcpy(address.data(), bytes, 16);
    }
    char* end = nullptr;
    port = static_cast<int>(std::strtol(text.c_str() + colon + 1, &end, 16));
    return *end == '\0' && end != text.c_str() + colon + 1;
}

std::string read_text(const char* path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The descriptor in /proc/self/fd that links to "socket:[inode]", by the links alone.
int descriptor_of_socket(std::uint64_t inode) {
    const std::string wanted = "socket:[" + std::to_string(inode) + "]";
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    int found = -1;
    while (const dirent* entry = readdir(dir)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        const std::string path = std::string("/proc/self/fd/") + entry->d_name;
        char link[64];
        const ssize_t n = readlink(path.c_str(), link, sizeof(link));
        if (n > 0 && std::string(link, static_cast<std::size_t>(n)) == wanted) {
            found = std::atoi(entry->d_name);
            break;
        }
    }
    closedir(dir);
    return found;
}

}  // namespace

std::optional<std::uint64_t> socket_inode_in_table(const std::string& table_text, const std::string& local_addr,
                                                   int local_port, const std::string& remote_addr, int remote_port) {
    const std::optional<Address> local = parse_numeric(local_addr);
    const std::optional<Address> remote = parse_numeric(remote_addr);
    if (!local || !remote) return std::nullopt;
    std::istringstream lines(table_text);
    std::string line;
    std::getline(lines, line);  // the heading
    while (std::getline(lines, line)) {
        // sl local remote st tx:rx tr:when retrnsmt uid timeout inode
        std::istringstream fields(line);
        std::string slot, local_text, remote_text, skip;
        std::uint64_t inode = 0;
        if (!(fields >> slot >> local_text >> remote_text)) continue;
        for (int i = 0; i < 6; ++i) fields >> skip;
        if (!(fields >> inode) || inode == 0) continue;  // 0: no socket owns it (TIME_WAIT)
        Address row_local{}, row_remote{};
        int row_local_port = -1, row_remote_port = -1;
        if (!parse_table_endpoint(local_text, row_local, row_local_port) ||
            !parse_table_endpoint(remote_text, row_remote, row_remote_port)) {
            continue;
        }
        if (row_local == *local && row_local_port == local_port && row_remote == *remote &&
            row_remote_port == remote_port) {
            return inode;
        }
    }
    return std::nullopt;
}

ClientConnection::ClientConnection(const httplib::Request& req) {
    if (req.remote_port < 0 || req.local_port < 0) return;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        const std::optional<std::uint64_t> inode =
            socket_inode_in_table(read_text(table), req.local_addr, req.local_port, req.remote_addr, req.remote_port);
        if (inode) {
            fd_ = descriptor_of_socket(*inode);
            return;
        }
    }
}

bool ClientConnection::gone() const {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace kvscope::server
