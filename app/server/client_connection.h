#pragma once
// The connection a request came in on, found by its two addresses, so that a handler that waits
// for its answer (a whole, non-streamed completion) notices a client that went away, and still
// answers with the status the outcome deserves. httplib 0.11 gives handlers no socket, and its
// content providers, where it does notice such a client, send the status line before the first
// byte of the body is known. Linux: the socket's inode comes from /proc/net/tcp (or tcp6) by its
// addresses, then its descriptor from the links in /proc/self/fd. No other descriptor is touched:
// the process's other threads own them (and ThreadSanitizer rightly reports a probe of one).

#include <httplib.h>

#include <cstdint>
#include <optional>
#include <string>

namespace kvscope::server {

class ClientConnection {
public:
    explicit ClientConnection(const httplib::Request& req);

    // True once the client has closed its side or the connection has failed (never when the
    // socket was not found). Bytes waiting to be read, such as a pipelined request, do not count.
    bool gone() const;

    // The descriptor found, or -1.
    int descriptor() const { return fd_; }

private:
    int fd_ = -1;
};

// The inode of the TCP socket whose local and remote ends are these (numeric addresses as httplib
// writes them: "127.0.0.1", "::1", "::ffff:127.0.0.1"), read from a /proc/net/tcp-style table;
// nullopt when no row matches or an address does not parse. A table's IPv4 rows match IPv4 and
// IPv4-mapped IPv6 addresses alike. Exposed for its test.
std::optional<std::uint64_t> socket_inode_in_table(const std::string& table_text, const std::string& local_addr,
                                                   int local_port, const std::string& remote_addr, int remote_port);

}  // namespace kvscope::server
