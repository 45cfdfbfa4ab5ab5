// Core redirect through the real kernel: a child in an attached cgroup dials
// a VIP and lands on a backend; everything else is left alone.
#include <sched.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <map>

#include "harness.h"

using namespace hlt;

namespace {

using Redirect = AttachedDatapathTest;

}  // namespace

TEST_F(Redirect, ChildInCgroupReachesBackendAndSeesTheVip) {
    TcpServer a("A"), b("B");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port(), b.port()})}));
    auto out = in_cgroup(cg->path(), [] {
        auto r = dial_tcp("127.255.0.1", 80);
        return std::to_string(r.err) + "|" + r.reply + "|" + r.peer;
    });
    EXPECT_TRUE(out == "0|A|127.255.0.1:80" || out == "0|B|127.255.0.1:80") << out;
    EXPECT_EQ(a.accepted() + b.accepted(), 1u);
}

TEST_F(Redirect, ProcessOutsideTheCgroupIsUntouched) {
    TcpServer a("A");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port()})}));
    // Nothing listens on the VIP itself: an untouched connect is refused by
    // the loopback stack, and the backend sees nothing.
    auto out = in_cgroup("", [] { return std::to_string(dial_tcp("127.255.0.1", 80).err); });
    EXPECT_EQ(out, std::to_string(ECONNREFUSED));
    EXPECT_EQ(a.accepted(), 0u);
    EXPECT_EQ(dp->service_stats("web").connections, 0u);
}

TEST_F(Redirect, NonVipDestinationsAreUntouched) {
    TcpServer a("A"), direct("D");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port()})}));
    uint16_t dport = direct.port();
    auto out = in_cgroup(cg->path(), [dport] {
        auto r1 = dial_tcp("127.0.0.1", dport);      // a plain address
        auto r2 = dial_tcp("127.255.0.9", 80);       // not a VIP
        auto r3 = dial_tcp("127.255.0.1", 81);       // a VIP, not its port
        return r1.reply + "|" + r1.peer + "|" + std::to_string(r2.err) + "|" + std::to_string(r3.err);
    });
    EXPECT_EQ(out, "D|127.0.0.1:" + std::to_string(dport) + "|" + std::to_string(ECONNREFUSED) + "|" +
                       std::to_string(ECONNREFUSED));
    EXPECT_EQ(a.accepted(), 0u);
    EXPECT_EQ(dp->service_stats("web").connections, 0u);
}

TEST_F(Redirect, RoundRobinAlternates) {
    TcpServer a("A"), b("B");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port(), b.port()})}));
    auto out = in_cgroup(cg->path(), [] {
        std::string s;
        for (int i = 0; i < 10; ++i) s += dial_tcp("127.255.0.1", 80).reply;
        return s;
    });
    EXPECT_TRUE(out == "ABABABABAB" || out == "BABABABABA") << out;
}

TEST_F(Redirect, RandomSpreads) {
    TcpServer a("A"), b("B");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port(), b.port()}, hl::Algorithm::Random)}));
    auto out = in_cgroup(cg->path(), [] {
        std::string s;
        for (int i = 0; i < 200; ++i) s += dial_tcp("127.255.0.1", 80).reply;
        return s;
    });
    ASSERT_EQ(out.size(), 200u);
    auto na = std::count(out.begin(), out.end(), 'A');
    // Binomial(200, 0.5): 60..140 fails with probability < 1e-8.
    EXPECT_GT(na, 60);
    EXPECT_LT(na, 140);
    EXPECT_NE(out.substr(0, 20), "ABABABABABABABABABAB");
}

TEST_F(Redirect, V4MappedAddressOnDualStackSocket) {
    TcpServer a("A");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port()})}));
    auto out = in_cgroup(cg->path(), [] {
        auto r = dial_tcp("::ffff:127.255.0.1", 80);
        return std::to_string(r.err) + "|" + r.reply + "|" + r.peer;
    });
    EXPECT_EQ(out, "0|A|[::ffff:127.255.0.1]:80");
}

TEST_F(Redirect, V6VipToV6Backend) {
    // The client runs in a network namespace of its own (made by the child),
    // with only loopback: a v6 VIP that were not rewritten goes nowhere.
    dp->apply(config({service("web6", "fd00:ffff::1", 80, {18080}, hl::Algorithm::RoundRobin, "::1")}));
    // The backend is a server on [::1]:18080 inside that fresh namespace.
    auto out = in_cgroup(cg->path(), [] {
        if (unshare(CLONE_NEWNET) != 0) return std::string("unshare failed");
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ);
        ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
        close(s);
        int l = socket(AF_INET6, SOCK_STREAM, 0);
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(18080);
        a.sin6_addr = in6addr_loopback;
        if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 8) != 0)
            return std::string("bind failed");
        std::thread t([l] {
            int c = accept(l, nullptr, nullptr);
            if (c >= 0) {
                (void)!write(c, "six", 3);
                close(c);
            }
        });
        auto r = dial_tcp("fd00:ffff::1", 80);
        t.join();
        close(l);
        return std::to_string(r.err) + "|" + r.reply + "|" + r.peer;
    });
    EXPECT_EQ(out, "0|six|[fd00:ffff::1]:80");
}

TEST_F(Redirect, EmptyServiceRefusesAtOnce) {
    dp->apply(config({service("empty", "127.255.0.7", 80, {})}));
    auto out = in_cgroup(cg->path(), [] {
        auto t0 = std::chrono::steady_clock::now();
        auto r = dial_tcp("127.255.0.7", 80);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        return std::to_string(r.err) + (ms < 1000 ? "|fast" : "|slow");
    });
    EXPECT_EQ(out, std::to_string(ECONNREFUSED) + "|fast");
    EXPECT_EQ(dp->service_stats("empty").no_backend, 1u);
    EXPECT_EQ(dp->service_stats("empty").connections, 0u);
}

TEST_F(Redirect, CountersMoveByExactlyTheConnects) {
    TcpServer a("A"), b("B");
    dp->apply(config({service("web", "127.255.0.1", 80, {a.port(), b.port()})}));
    constexpr int kConnects = 25;
    auto out = in_cgroup(cg->path(), [] {
        int ok = 0;
        for (int i = 0; i < kConnects; ++i) ok += dial_tcp("127.255.0.1", 80).err == 0;
        return std::to_string(ok);
    });
    EXPECT_EQ(out, std::to_string(kConnects));
    EXPECT_EQ(dp->service_stats("web").connections, static_cast<uint64_t>(kConnects));
    EXPECT_EQ(dp->backend_connections("web", a.port()), a.accepted());
    EXPECT_EQ(dp->backend_connections("web", b.port()), b.accepted());
    EXPECT_EQ(a.accepted() + b.accepted(), static_cast<uint64_t>(kConnects));
}

TEST_F(Redirect, AdoptedAfterRestartWithoutAGapAndWithoutWrites) {
    TcpServer a("A"), b("B");
    auto cfg = config({service("web", "127.255.0.1", 80, {a.port(), b.port()})});
    dp->apply(cfg);
    auto before = dp->inventory();
    dp->stop();  // the daemon is gone: the pinned datapath keeps working
    auto out = in_cgroup(cg->path(), [] { return dial_tcp("127.255.0.1", 80).reply; });
    EXPECT_TRUE(out == "A" || out == "B") << out;
    dp->restart();
    auto r = dp->try_apply(cfg);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->map_writes, 0u);
    auto after = dp->inventory();
    ASSERT_EQ(after.services.size(), 1u);
    EXPECT_EQ(after.services[0].id, before.services[0].id);
    EXPECT_EQ(after.services[0].generation, before.services[0].generation);
    out = in_cgroup(cg->path(), [] { return dial_tcp("127.255.0.1", 80).reply; });
    EXPECT_TRUE(out == "A" || out == "B") << out;
}

TEST_F(Redirect, RejectedConfigKeepsTheLastGoodState) {
    TcpServer a("A");
    auto cfg = config({service("web", "127.255.0.1", 80, {a.port()})});
    dp->apply(cfg);
    auto bad = cfg;
    bad.attach.push_back({"/sys/fs/cgroup/does-not-exist-hopless", "default"});
    bad.services[0].backends.clear();
    EXPECT_FALSE(dp->try_apply(bad).ok());
    auto out = in_cgroup(cg->path(), [] { return dial_tcp("127.255.0.1", 80).reply; });
    EXPECT_EQ(out, "A");
}
