// The whole datapath (issue 3): UDP both ways, weights, affinity, backend
// states, namespaces, the bind guard.
#include <arpa/inet.h>
#include <poll.h>

#include <map>

#include "harness.h"

using namespace hlt;

namespace {

struct Datapath : AttachedDatapathTest {
    void parked_take_no_new_connects(hl::BackendState parked);
};

hl::Service udp(hl::Service s) {
    s.protocol = hl::Protocol::Udp;
    return s;
}

}  // namespace

TEST_F(Datapath, UnconnectedUdpRepliesComeFromTheVip) {
    UdpServer a("A");
    dp->apply(config({udp(service("dns", "127.255.0.53", 53, {a.port()}))}));
    auto out = in_cgroup(cg->path(), [] {
        auto r = udp_sendto("127.255.0.53", 53);
        return std::to_string(r.err) + "|" + r.reply + "|" + r.peer;
    });
    EXPECT_EQ(out, "0|A|127.255.0.53:53");
    auto st = dp->service_stats("dns");
    EXPECT_EQ(st.udp_translations, 1u);
    EXPECT_EQ(st.connections, 1u);
}

TEST_F(Datapath, ConnectedUdpSeesTheVip) {
    UdpServer a("A");
    dp->apply(config({udp(service("dns", "127.255.0.53", 53, {a.port()}))}));
    auto out = in_cgroup(cg->path(), [] {
        auto r = udp_connected("127.255.0.53", 53);
        return std::to_string(r.err) + "|" + r.reply + "|" + r.peer;
    });
    EXPECT_EQ(out, "0|A|127.255.0.53:53");
}

// A v4-mapped destination on a v6 socket takes the kernel's v4 path
// (sendmsg4), so its backend is a v4 one; the reply still reads as the
// mapped VIP the application sent to.
TEST_F(Datapath, UnconnectedUdpOverV6SocketToMappedVip) {
    UdpServer a("A");
    dp->apply(config({udp(service("dns6", "127.255.0.54", 53, {a.port()}))}));
    auto out = in_cgroup(cg->path(), [] {
        auto r = udp_sendto("::ffff:127.255.0.54", 53);
        return std::to_string(r.err) + "|" + r.reply + "|" + r.peer;
    });
    EXPECT_EQ(out, "0|A|[::ffff:127.255.0.54]:53");
}

TEST_F(Datapath, TcpAndUdpShareVipAndPort) {
    TcpServer t("T");
    UdpServer u("U");
    dp->apply(config({service("mix-tcp", "127.255.0.60", 5000, {t.port()}),
                      udp(service("mix-udp", "127.255.0.60", 5000, {u.port()}))}));
    auto out = in_cgroup(cg->path(), [] {
        return dial_tcp("127.255.0.60", 5000).reply + "|" + udp_sendto("127.255.0.60", 5000).reply;
    });
    EXPECT_EQ(out, "T|U");
}

TEST_F(Datapath, StaleReverseEntryIsLeftUntranslatedAndCounted) {
    // A backend socket the test drives by hand, so its reply can be sent
    // after the backend has left the service.
    int be = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(be, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(be, reinterpret_cast<sockaddr*>(&a), &al);
    uint16_t port = ntohs(a.sin_port);
    UdpServer other("B");
    auto cfg = config({udp(service("dns", "127.255.0.53", 53, {port}))});
    dp->apply(cfg);
    Child c(cg->path(), [] {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in v{};
        v.sin_family = AF_INET;
        v.sin_port = htons(53);
        inet_pton(AF_INET, "127.255.0.53", &v.sin_addr);
        sendto(fd, "q", 1, 0, reinterpret_cast<sockaddr*>(&v), sizeof v);
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) return std::string("timeout");
        sockaddr_storage from;
        socklen_t fl = sizeof from;
        char buf[16];
        recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        return sockaddr_str(from);
    });
    char buf[16];
    sockaddr_storage from;
    socklen_t fl = sizeof from;
    pollfd p{be, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    ASSERT_EQ(recvfrom(be, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl), 1);
    cfg.services[0].backends[0].port = other.port();  // the backend leaves the set
    dp->apply(cfg);
    sendto(be, "r", 1, 0, reinterpret_cast<sockaddr*>(&from), fl);
    EXPECT_EQ(c.join(), "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(dp->service_stats("dns").revnat_stale, 1u);
    close(be);
}

TEST_F(Datapath, WeightsNineToOneSplitTenThousandConnects) {
    UdpServer a("A"), b("B");
    auto s = udp(service("canary", "127.255.0.70", 53, {a.port(), b.port()}, hl::Algorithm::Weighted));
    s.backends[0].weight = 9;
    s.backends[1].weight = 1;
    dp->apply(config({s}));
    // connect() on a UDP socket runs the same selection as TCP, without a
    // packet or a TIME_WAIT: 10,000 selections in well under a second.
    auto out = in_cgroup(cg->path(), [] {
        int failed = 0;
        for (int i = 0; i < 10000; ++i) {
            int fd = socket(AF_INET, SOCK_DGRAM, 0);
            sockaddr_in v{};
            v.sin_family = AF_INET;
            v.sin_port = htons(53);
            inet_pton(AF_INET, "127.255.0.70", &v.sin_addr);
            failed += connect(fd, reinterpret_cast<sockaddr*>(&v), sizeof v) != 0;
            close(fd);
        }
        return std::to_string(failed);
    });
    EXPECT_EQ(out, "0");
    uint64_t na = dp->backend_connections("canary", a.port()), nb = dp->backend_connections("canary", b.port());
    EXPECT_EQ(na + nb, 10000u);
    EXPECT_NEAR(static_cast<double>(na) / 10000.0, 0.9, 0.02) << na << " / " << nb;
}

// Weight 0 and `parked` (draining, or quarantined by the daemon) take no new
// connects; a connection established before the change continues.
void Datapath::parked_take_no_new_connects(hl::BackendState parked) {
    // Backend A keeps a connection open across the change.
    int la = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(la, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    listen(la, 16);
    socklen_t al = sizeof a;
    getsockname(la, reinterpret_cast<sockaddr*>(&a), &al);
    TcpServer b("B"), c("C");
    auto s = service("web", "127.255.0.1", 80, {ntohs(a.sin_port), b.port(), c.port()});
    s.backends[1].weight = 0;
    s.backends[2].state = parked;
    s.backends[0].weight = 1;
    auto cfg = config({s});
    dp->apply(cfg);
    // Client: connects (only A can take it), then after the parent drains A,
    // exchanges data on the established socket and tries a new connect.
    int sync[2];
    ASSERT_EQ(pipe(sync), 0);
    Child child(cg->path(), [&] {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in v{};
        v.sin_family = AF_INET;
        v.sin_port = htons(80);
        inet_pton(AF_INET, "127.255.0.1", &v.sin_addr);
        if (connect(fd, reinterpret_cast<sockaddr*>(&v), sizeof v) != 0) return std::string("connect failed");
        char go;
        if (read(sync[0], &go, 1) != 1) return std::string("no sync");
        (void)!write(fd, "ping", 4);
        char buf[8] = {};
        pollfd p{fd, POLLIN, 0};
        poll(&p, 1, 3000);
        ssize_t n = read(fd, buf, sizeof buf);
        auto second = dial_tcp("127.255.0.1", 80);
        return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "|" + std::to_string(second.err);
    });
    int conn = accept4(la, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn, 0);
    cfg.services[0].backends[0].state = parked;  // now nothing takes new connects
    dp->apply(cfg);
    ASSERT_EQ(write(sync[1], "g", 1), 1);
    char buf[8];
    pollfd p{conn, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 3000), 1);
    ASSERT_EQ(read(conn, buf, sizeof buf), 4);
    ASSERT_EQ(write(conn, "pong", 4), 4);
    EXPECT_EQ(child.join(), "pong|" + std::to_string(ECONNREFUSED));
    EXPECT_EQ(b.accepted() + c.accepted(), 0u);
    close(conn);
    close(la);
    close(sync[0]);
    close(sync[1]);
}

TEST_F(Datapath, WeightZeroAndDrainingTakeNoNewConnectsButEstablishedContinue) {
    parked_take_no_new_connects(hl::BackendState::Draining);
}

TEST_F(Datapath, QuarantinedTakesNoNewConnectsButEstablishedContinue) {
    // Quarantined is the daemon's (health checks), never the config's: the
    // reconciler writes it like any state and the hook skips it.
    parked_take_no_new_connects(hl::BackendState::Quarantined);
}

TEST_F(Datapath, AffinityKeepsAClientOnItsBackend) {
    TcpServer a("A"), b("B"), c("C"), d("D");
    auto s = service("sticky", "127.255.0.80", 80, {a.port(), b.port(), c.port(), d.port()}, hl::Algorithm::Random);
    s.affinity_timeout_s = 300;
    dp->apply(config({s}));
    auto out = in_cgroup(cg->path(), [] {
        std::string r;
        for (int i = 0; i < 30; ++i) r += dial_tcp("127.255.0.80", 80).reply;
        return r;
    });
    ASSERT_EQ(out.size(), 30u);
    EXPECT_EQ(std::count(out.begin(), out.end(), out[0]), 30) << out;
    EXPECT_EQ(dp->service_stats("sticky").affinity_hits, 29u);
    // The backend leaves the set: the client moves, and stays on the new one.
    auto cfg = config({s});
    std::erase_if(cfg.services[0].backends, [&](const hl::Backend& be) {
        return (out[0] == 'A' && be.port == a.port()) || (out[0] == 'B' && be.port == b.port()) ||
               (out[0] == 'C' && be.port == c.port()) || (out[0] == 'D' && be.port == d.port());
    });
    dp->apply(cfg);
    auto again = in_cgroup(cg->path(), [] {
        std::string r;
        for (int i = 0; i < 10; ++i) r += dial_tcp("127.255.0.80", 80).reply;
        return r;
    });
    ASSERT_EQ(again.size(), 10u);
    EXPECT_EQ(again.find(out[0]), std::string::npos);
    EXPECT_EQ(std::count(again.begin(), again.end(), again[0]), 10) << again;
}

TEST_F(Datapath, NamespacesIsolateServicesAndNestedCgroupsInherit) {
    TcpServer a("A"), b("B"), only("O");
    TestCgroup other("hl-client-b");
    TestCgroup nested("hl-nested", cg.get());
    hl::Config c;
    c.pin_dir = dp->pin_dir();
    auto web_a = service("web", "127.255.0.1", 80, {a.port()});
    auto web_b = service("web", "127.255.0.1", 80, {b.port()});
    web_b.ns = "team-b";
    auto private_a = service("private", "127.255.0.2", 80, {only.port()});
    c.services = {web_a, web_b, private_a};
    c.attach = {{cg->path(), "default"}, {other.path(), "team-b"}};
    dp->apply(c);
    auto probe = [] {
        return dial_tcp("127.255.0.1", 80).reply + "|" + std::to_string(dial_tcp("127.255.0.2", 80).err);
    };
    EXPECT_EQ(in_cgroup(cg->path(), probe), "A|0");
    EXPECT_EQ(in_cgroup(other.path(), probe), "B|" + std::to_string(ECONNREFUSED));
    EXPECT_EQ(in_cgroup(nested.path(), probe), "A|0");
    EXPECT_EQ(only.accepted(), 2u);
}

TEST_F(Datapath, BindToAServiceAddressIsRefused) {
    TcpServer a("A");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port()})}));
    auto out = in_cgroup(cg->path(), [] {
        auto try_bind = [](const char* ip, uint16_t port) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in v{};
            v.sin_family = AF_INET;
            v.sin_port = htons(port);
            inet_pton(AF_INET, ip, &v.sin_addr);
            int r = bind(fd, reinterpret_cast<sockaddr*>(&v), sizeof v) == 0 ? 0 : errno;
            close(fd);
            return std::to_string(r);
        };
        return try_bind("127.255.0.1", 80) + "|" + try_bind("127.255.0.1", 8080);
    });
    EXPECT_EQ(out, std::to_string(EADDRINUSE) + "|0");
    EXPECT_EQ(dp->service_stats("web").bind_rejects, 1u);
    // Outside the attached cgroup the guard does not apply.
    auto outside = in_cgroup("", [] {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in v{};
        v.sin_family = AF_INET;
        v.sin_port = htons(80);
        inet_pton(AF_INET, "127.255.0.1", &v.sin_addr);
        int r = bind(fd, reinterpret_cast<sockaddr*>(&v), sizeof v) == 0 ? 0 : errno;
        close(fd);
        return std::to_string(r);
    });
    EXPECT_EQ(outside, "0");
}

TEST_F(Datapath, WeightChangeIsOneAtomicStep) {
    UdpServer a("A"), b("B");
    auto s = udp(service("bg", "127.255.0.90", 53, {a.port()}, hl::Algorithm::Weighted));
    auto cfg = config({s});
    dp->apply(cfg);
    auto gen0 = dp->inventory().services[0].generation;
    // blue -> green: the whole set replaced in one apply.
    cfg.services[0].backends[0].port = b.port();
    dp->apply(cfg);
    auto inv = dp->inventory();
    ASSERT_EQ(inv.services.size(), 1u);
    EXPECT_EQ(inv.services[0].generation, gen0 + 1);
    ASSERT_EQ(inv.services[0].backends.size(), 1u);
    EXPECT_EQ(inv.services[0].backends[0].spec.port, b.port());
    EXPECT_EQ(in_cgroup(cg->path(), [] { return udp_sendto("127.255.0.90", 53).reply; }), "B");
}
