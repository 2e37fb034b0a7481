#pragma once
// The connection a request came in on, found among the process's sockets by its two addresses,
// so that a handler that waits for its answer (a whole, non-streamed completion) notices a
// client that went away, and still answers with the status the outcome deserves. httplib 0.11
// gives handlers no socket, and its content providers, where it does notice such a client, send
// the status line before the first byte of the body is known. Linux: it reads /proc/self/fd.

#include <httplib.h>

namespace kvscope::server {

class ClientConnection {
public:
    explicit ClientConnection(const httplib::Request& req);

    // True once the client has closed its side or the connection has failed (never when the
    // socket was not found). Bytes waiting to be read, such as a pipelined request, do not count.
    bool gone() const;

private:
    int fd_ = -1;
};

}  // namespace kvscope::server
