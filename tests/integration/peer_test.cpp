// What a redirected TCP socket is found by once it keeps no record of its
// own (issue 12): its peer's entry in hl_peer_v1, or a record where the peer
// is ambiguous. getpeername, the lifecycle counters and socket termination
// must stay right for a backend address:port that two services share, for
// attached cgroups nested in each other, for a connection to a backend
// dialed directly, and for a connect whose SYN had to be sent twice.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "harness.h"

using namespace hlt;

namespace {

int tcp_to(const std::string& ip, uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

std::string peer_of(int fd) {
    sockaddr_storage ss{};
    socklen_t l = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &l) != 0) return std::string("error ") + strerror(errno);
    return sockaddr_str(ss);
}

// What a reader blocked on the socket sees within `ms`.
std::string outcome(int fd, int ms = 3000) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1) return "alive";
    char b[8];
    ssize_t n = recv(fd, b, sizeof b, 0);
    if (n < 0) return std::string("error ") + strerror(errno);
    return n == 0 ? "eof" : "data";
}

// A listener the test accepts on by hand, so connections stay open.
struct Holder {
    int fd = -1;
    uint16_t port = 0;
    Holder() {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        listen(fd, 16);
        socklen_t l = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        port = ntohs(a.sin_port);
    }
    ~Holder() {
        for (int c : accepted) close(c);
        close(fd);
    }
    void accept_n(int n) {
        for (int i = 0; i < n; ++i) accepted.push_back(accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
    }
    std::vector<int> accepted;
};

using Peer = AttachedDatapathTest;


}  // namespace

// Two services name one backend address:port. Each socket answers with the
// VIP it was dialed as and is counted for its own service; a direct
// connection to the backend is neither translated, counted nor terminated.
// The first service to name the address answers for it in hl_peer_v1 (its
// sockets keep no record); when it drops the backend, its socket is ended,
// the other service's stays, and from the next apply the entry is the other
// service's.
TEST_F(Peer, SharedBackendAnswersWithTheVipItWasDialedAs) {
    Holder s;
    hl::Service one = service("one", "127.255.2.10", 80, {s.port});
    hl::Service two = service("two", "127.255.2.11", 81, {s.port});
    dp->apply(config({one, two}));
    Pipe ready, go, again;
    const uint16_t port = s.port;
    Child client(cg->path(), [&] {
        int a = tcp_to("127.255.2.10", 80), b = tcp_to("127.255.2.11", 81), d = tcp_to("127.0.0.1", port);
        if (a < 0 || b < 0 || d < 0) return std::string("connect failed");
        std::string r = peer_of(a) + " " + peer_of(b) + " " + peer_of(d);
        ready.put();
        go.get();
        r += " | " + outcome(a) + " " + outcome(b, 300) + " " + outcome(d, 300);
        // After the entry passed to `two`: a new connect through it.
        again.get();
        int c = tcp_to("127.255.2.11", 81);
        r += " | " + peer_of(c);
        ready.put();
        go.get();
        for (int fd : {b, c, d}) close(fd);
        close(a);
        return r;
    });
    s.accept_n(3);
    ASSERT_TRUE(ready.get());
    EXPECT_EQ(view("one").gauge.active, 1);
    EXPECT_EQ(view("two").gauge.active, 1);
    EXPECT_EQ(view("one").lc.established, 1u);
    EXPECT_EQ(view("two").lc.established, 1u);
    EXPECT_EQ(view("one").backends[0].live.active, 1);
    EXPECT_EQ(view("two").backends[0].live.active, 1);

    // `one` (which answers for the address) drops the backend.
    Holder other;
    one.backends[0].port = other.port;
    auto r = dp->try_apply(config({one, two}));
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(dp->terminate(*r, {cg->path()}), 1u);
    go.put();
    EXPECT_TRUE(eventually([&] { return view("one").gauge.active == 0; })) << view("one").gauge.active;
    EXPECT_EQ(view("two").gauge.active, 1);

    dp->apply(config({one, two}));  // the entry passes to `two`
    again.put();
    s.accept_n(1);
    ASSERT_TRUE(ready.get());
    EXPECT_EQ(view("two").lc.established, 2u);
    EXPECT_EQ(view("two").gauge.active, 2);
    go.put();
    EXPECT_EQ(client.join(), "127.255.2.10:80 127.255.2.11:81 127.0.0.1:" + std::to_string(port) +
                                 " | error " + strerror(ECONNABORTED) + " alive alive | 127.255.2.11:81");
    EXPECT_TRUE(eventually([&] { return view("two").gauge.active == 0; })) << view("two").gauge.active;
    EXPECT_EQ(view("two").backends[0].live.active, 0);
    EXPECT_EQ(view("one").stats.sockets_destroyed, 1u);
    EXPECT_EQ(view("two").stats.sockets_destroyed, 0u);
    for (const char* n : {"one", "two"})
        for (auto e : view(n).lc.errors) EXPECT_EQ(e, 0u) << n;
}

// An attached cgroup below another runs every program twice: the redirect,
// its getpeername (TCP and connected UDP), the lifecycle counts and socket
// termination must all happen once.
TEST_F(Peer, NestedAttachedCgroupsCountAndAnswerOnce) {
    Holder s;
    UdpServer u("U");
    TestCgroup nested("hl-nested", cg.get());
    hl::Service web = service("web", "127.255.2.20", 80, {s.port});
    hl::Service dns = service("dns", "127.255.2.53", 53, {u.port()});
    dns.protocol = hl::Protocol::Udp;
    hl::Config c = config({web, dns});
    c.attach.push_back({nested.path(), "default"});
    dp->apply(c);
    Pipe ready, go;
    Child client(nested.path(), [&] {
        auto d = udp_connected("127.255.2.53", 53);
        int a = tcp_to("127.255.2.20", 80);
        if (a < 0) return std::string("connect failed");
        std::string r = d.reply + " " + d.peer + " " + peer_of(a);
        ready.put();
        go.get();
        r += " " + outcome(a);
        close(a);
        return r;
    });
    s.accept_n(1);
    ASSERT_TRUE(ready.get());
    auto v = view("web");
    EXPECT_EQ(v.stats.connections, 1u);
    EXPECT_EQ(v.lc.established, 1u);
    EXPECT_EQ(v.gauge.active, 1);
    EXPECT_EQ(v.backends[0].live.active, 1);
    EXPECT_EQ(hist_count(v.hist.connect), 1u);
    Holder other;
    web.backends[0].port = other.port;
    c.services = {web, dns};
    auto r = dp->try_apply(c);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(dp->terminate(*r, {cg->path()}), 1u);
    go.put();
    EXPECT_EQ(client.join(), "U 127.255.2.53:53 127.255.2.20:80 error " + std::string(strerror(ECONNABORTED)));
    EXPECT_TRUE(eventually([&] { return view("web").gauge.active == 0; })) << view("web").gauge.active;
    v = view("web");
    EXPECT_EQ(v.stats.sockets_destroyed, 1u);
    EXPECT_EQ(hist_count(v.hist.rtt), 1u);  // one close, counted once
    for (auto e : v.lc.errors) EXPECT_EQ(e, 0u);
}

// A SYN that goes unanswered once (the backend's namespace drops the first):
// the connect took a retransmission timeout, and its duration says so
// (without a record, the SYN's RTT alone would say microseconds).
TEST_F(Peer, RetransmittedSynCountsTheWholeConnect) {
    TestNetns ns;
    const uint16_t port = 18090;
    ASSERT_TRUE(ns.run("nft add table inet hl"));
    ASSERT_TRUE(ns.run("nft add chain inet hl in '{ type filter hook input priority 0; }'"));
    ASSERT_TRUE(ns.run("nft add rule inet hl in tcp dport " + std::to_string(port) +
                       " tcp flags syn numgen inc mod 2 == 0 drop"));
    dp->apply(config({service("slow", "127.255.2.30", 80, {port})}));
    const auto& netns = ns;
    auto out = in_cgroup(cg->path(), [&netns] {
        if (!netns.enter()) return std::string("setns failed");
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4) != 0) return std::string("bind");
        auto t0 = std::chrono::steady_clock::now();
        int fd = tcp_to("127.255.2.30", 80);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        if (fd < 0) return std::string("connect failed");
        std::string r = peer_of(fd) + " " + (ms >= 900 ? "slow" : "fast:" + std::to_string(ms));
        int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        close(fd);
        close(c);
        close(l);
        usleep(100000);  // the last segments move within the namespace
        return r;
    });
    EXPECT_EQ(out, "127.255.2.30:80 slow");
    auto v = view("slow");
    EXPECT_EQ(v.lc.established, 1u);
    EXPECT_EQ(hist_count(v.hist.connect), 1u);
    EXPECT_GE(v.hist.connect.sum_us, 900000u) << "the first SYN's wait is part of the connect";
    EXPECT_LT(v.hist.connect.sum_us, 5000000u);
    EXPECT_EQ(v.backends[0].live.consecutive_failures, 0u);
}
