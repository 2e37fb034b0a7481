// ClientConnection: a whole completion's handler finds its own connection by the request's two
// addresses (through /proc/net/tcp and /proc/self/fd's links, touching no other descriptor) and
// sees the client go. Checked against hand-written kernel table rows and real loopback sockets.

#include "app/server/client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <bit>

namespace kvscope::server {
namespace client_connection_test {

// Rows as Linux prints them on a little-endian host: 127.0.0.1:8080 <- 127.0.0.1:54321,
// a listening socket on the same port, a TIME_WAIT row (inode 0), ::1:8080 <- ::1:40000 and an
// IPv4-mapped 127.0.0.1:8080 <- 127.0.0.1:40001 on an IPv6 socket.
const char* const kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0\n"
    "   1: 0100007F:1F90 0100007F:D431 06 00000000:00000000 03:00000F2A 00000000     0        0 0 3 0\n"
    "   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 20 4 30 10 "
    "-1\n";
const char* const kTcp6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:9C40 01 00000000:00000000 "
    "00:00000000 00000000  1000        0 5151 1 0 20 4 30 10 -1\n"
    "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:9C41 01 00000000:00000000 "
    "00:00000000 00000000  1000        0 6161 1 0 20 4 30 10 -1\n";

TEST(ClientConnection, TheKernelTablesRowOfTheTwoAddressesGivesItsInode) {
    if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "the rows are a little-endian host's";
    EXPECT_EQ(socket_inode_in_table(kTcp, "127.0.0.1", 8080, "127.0.0.1", 54321), 4242u);
    EXPECT_EQ(socket_inode_in_table(kTcp6, "::1", 8080, "::1", 40000), 5151u);
    EXPECT_EQ(socket_inode_in_table(kTcp6, "::ffff:127.0.0.1", 8080, "::ffff:127.0.0.1", 40001), 6161u);
    EXPECT_EQ(socket_inode_in_table(kTcp6, "127.0.0.1", 8080, "127.0.0.1", 40001), 6161u);
    // The listening socket's row has a zero remote end: only that finds it.
    EXPECT_EQ(socket_inode_in_table(kTcp, "127.0.0.1", 8080, "0.0.0.0", 0), 111u);
    // Another port, another peer, unparsable addresses, no rows: none.
    EXPECT_FALSE(socket_inode_in_table(kTcp, "127.0.0.1", 8080, "127.0.0.1", 54322));
    EXPECT_FALSE(socket_inode_in_table(kTcp, "127.0.0.2", 8080, "127.0.0.1", 54321));
    EXPECT_FALSE(socket_inode_in_table(kTcp, "localhost", 8080, "127.0.0.1", 54321));
    EXPECT_FALSE(socket_inode_in_table("", "127.0.0.1", 8080, "127.0.0.1", 54321));
    EXPECT_FALSE(socket_inode_in_table("heading\n garbage: rows\n", "127.0.0.1", 8080, "127.0.0.1", 54321));
}

// A listening socket, a client connected to it and the server's accepted end, on loopback.
struct Loopback {
    int listener = -1, client = -1, accepted = -1;
    httplib::Request request;  // the addresses httplib would give the accepted connection's handler

    explicit Loopback(int family) {
        listener = socket(family, SOCK_STREAM, 0);
        client = socket(family, SOCK_STREAM, 0);
        sockaddr_storage address{};
        socklen_t length = 0;
        if (family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&address);
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            length = sizeof(sockaddr_in);
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&address);
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            length = sizeof(sockaddr_in6);
        }
        if (listener < 0 || client < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
            listen(listener, 1) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
            connect(client, reinterpret_cast<sockaddr*>(&address), length) != 0) {
            return;
        }
        accepted = accept(listener, nullptr, nullptr);
        request.local_addr = numeric(accepted, getsockname, request.local_port);
        request.remote_addr = numeric(accepted, getpeername, request.remote_port);
    }
    ~Loopback() {
        for (int fd : {listener, client, accepted}) {
            if (fd >= 0) close(fd);
        }
    }
    bool ok() const { return accepted >= 0; }

    static std::string numeric(int fd, int (*query)(int, sockaddr*, socklen_t*), int& port) {
        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        query(fd, reinterpret_cast<sockaddr*>(&address), &length);
        char text[INET6_ADDRSTRLEN] = {};
        if (address.ss_family == AF_INET) {
            const auto* a = reinterpret_cast<const sockaddr_in*>(&address);
            inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
            port = ntohs(a->sin_port);
        } else {
            const auto* a = reinterpret_cast<const sockaddr_in6*>(&address);
            inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
            port = ntohs(a->sin6_port);
        }
        return text;
    }
};

void expect_found_then_gone(Loopback& link) {
    const ClientConnection connection(link.request);
    EXPECT_EQ(connection.descriptor(), link.accepted) << link.request.remote_addr << ":" << link.request.remote_port;
    EXPECT_FALSE(connection.gone());
    // Bytes waiting to be read (a pipelined request) are not a departure.
    ASSERT_EQ(write(link.client, "GET / HTTP/1.1\r\n", 16), 16);
    EXPECT_FALSE(connection.gone());
    close(link.client);
    link.client = -1;
    EXPECT_TRUE(connection.gone());
}

TEST(ClientConnection, FindsItsOwnIpv4SocketAndSeesTheClientGo) {
    Loopback link(AF_INET);
    ASSERT_TRUE(link.ok());
    expect_found_then_gone(link);
}

TEST(ClientConnection, FindsItsOwnIpv6SocketAndSeesTheClientGo) {
    Loopback link(AF_INET6);
    if (!link.ok()) GTEST_SKIP() << "no IPv6 loopback on this machine";
    expect_found_then_gone(link);
}

TEST(ClientConnection, AnotherPeersAddressFindsNothingAndIsNeverGone) {
    Loopback link(AF_INET);
    ASSERT_TRUE(link.ok());
    httplib::Request other = link.request;
    other.remote_port = link.request.remote_port == 65535 ? 1 : link.request.remote_port + 1;
    const ClientConnection connection(other);
    EXPECT_EQ(connection.descriptor(), -1);
    close(link.client);
    link.client = -1;
    EXPECT_FALSE(connection.gone());
    httplib::Request unknown;  // no addresses at all (httplib's defaults are -1 ports)
    EXPECT_EQ(ClientConnection(unknown).descriptor(), -1);
}

}  // namespace client_connection_test
}  // namespace kvscope::server
