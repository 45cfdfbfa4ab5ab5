// Socket termination (bpf_sock_destroy from socket iterators): a backend that
// leaves its service takes the sockets hopless redirected to it along; a
// socket to the same backend that hopless did not redirect is never touched.
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>

#include "harness.h"

using namespace hlt;

namespace {

// A listener the test accepts on by hand, so connections stay open.
struct Holder {
    int fd = -1;
    uint16_t port = 0;
    Holder(int type) {
        fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        if (type == SOCK_STREAM) listen(fd, 16);
        socklen_t l = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        port = ntohs(a.sin_port);
    }
    ~Holder() { close(fd); }
};

int tcp_to(const char* ip, uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in v{};
    v.sin_family = AF_INET;
    v.sin_port = htons(port);
    inet_pton(AF_INET, ip, &v.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&v), sizeof v) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// What a blocked reader sees on the socket within 3 s.
std::string outcome(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 3000) != 1) return "alive";
    char b[8];
    ssize_t n = recv(fd, b, sizeof b, 0);
    if (n < 0) return std::string("error ") + strerror(errno);
    return n == 0 ? "eof" : "data";
}

using Terminate = AttachedDatapathTest;

}  // namespace

TEST_F(Terminate, RemovedBackendTakesItsRedirectedTcpSocketsAlong) {
    Holder a(SOCK_STREAM);
    TcpServer b("B");
    hl::Config cfg;
    cfg.pin_dir = dp->pin_dir();
    cfg.services = {service("web", "127.255.0.1", 80, {a.port})};
    cfg.attach = {{cg->path(), "default"}};
    dp->apply(cfg);
    int sync[2];
    ASSERT_EQ(pipe(sync), 0);
    uint16_t aport = a.port;
    Child child(cg->path(), [&] {
        int via_vip = tcp_to("127.255.0.1", 80);
        int direct = tcp_to("127.0.0.1", aport);  // not redirected: never touched
        if (via_vip < 0 || direct < 0) return std::string("connect failed");
        char go;
        if (read(sync[0], &go, 1) != 1) return std::string("no sync");
        return outcome(via_vip) + "|" + outcome(direct);
    });
    int c1 = accept4(a.fd, nullptr, nullptr, SOCK_CLOEXEC), c2 = accept4(a.fd, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(c1, 0);
    ASSERT_GE(c2, 0);
    cfg.services[0].backends[0].port = b.port();  // a leaves the set
    auto r = dp->try_apply(cfg);
    ASSERT_TRUE(r.ok()) << r.error().what();
    ASSERT_EQ(r->removed_backends.size(), 1u);
    EXPECT_EQ(dp->terminate(*r, {cg->path()}), 1u);
    ASSERT_EQ(write(sync[1], "g", 1), 1);
    EXPECT_EQ(child.join(), "error " + std::string(strerror(ECONNABORTED)) + "|alive");
    EXPECT_EQ(dp->service_stats("web").sockets_destroyed, 1u);
    close(c1);
    close(c2);
    close(sync[0]);
    close(sync[1]);
}

TEST_F(Terminate, ConnectedUdpSocketInATaskNamespaceIsTerminated) {
    // The task has a network namespace of its own (as a container does): the
    // terminator must visit it. Backend and client both live inside it.
    hl::Config cfg;
    cfg.pin_dir = dp->pin_dir();
    auto s = service("dns", "127.255.0.53", 53, {5353});
    s.protocol = hl::Protocol::Udp;
    cfg.services = {s};
    cfg.attach = {{cg->path(), "default"}};
    dp->apply(cfg);
    int ready[2], go[2];
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(go), 0);
    Child child(cg->path(), [&] {
        if (unshare(CLONE_NEWNET) != 0) return std::string("unshare failed");
        if (system("ip link set lo up") != 0) return std::string("lo");
        int be = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(5353);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(be, reinterpret_cast<sockaddr*>(&a), sizeof a);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in v{};
        v.sin_family = AF_INET;
        v.sin_port = htons(53);
        inet_pton(AF_INET, "127.255.0.53", &v.sin_addr);
        if (connect(fd, reinterpret_cast<sockaddr*>(&v), sizeof v) != 0) return std::string("connect failed");
        (void)!write(ready[1], "r", 1);
        char g;
        if (read(go[0], &g, 1) != 1) return std::string("no sync");
        return outcome(fd);
    });
    char r;
    ASSERT_EQ(read(ready[0], &r, 1), 1);
    cfg.services[0].backends.clear();
    auto rep = dp->try_apply(cfg);
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(dp->terminate(*rep, {cg->path()}), 1u);
    ASSERT_EQ(write(go[1], "g", 1), 1);
    EXPECT_EQ(child.join(), "error " + std::string(strerror(ECONNABORTED)));
    for (int f : {ready[0], ready[1], go[0], go[1]}) close(f);
}
