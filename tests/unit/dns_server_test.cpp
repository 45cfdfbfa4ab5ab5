// hl::dns::DnsServer on 127.0.0.1 (ports the kernel picks), its io_context
// in a thread, asked by the real clients: dig (UDP and TCP) and drill; names
// outside the zone forwarded to a dnsmasq the test starts. No root needed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <sstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "common/unique_fd.h"
#include "dns/dns_server.h"
#include "dns_test_util.h"

extern char** environ;

namespace {

using hl::UniqueFd;
using hl::dns::DnsServer;
using hl::dns::DnsServerLimits;
using hl::dns::QueryCounters;
using hl::dns::test::FakeDirectory;
using hl::dns::test::make_query;
using hl::dns::test::parse_reply;
using ::testing::HasSubstr;
using ::testing::Not;

// The path of `tool` in PATH or the sbin directories, else "".
std::string find_tool(const std::string& tool) {
    std::string path = std::string(getenv("PATH") ? getenv("PATH") : "") + ":/usr/sbin:/sbin:/usr/bin";
    std::istringstream dirs(path);
    for (std::string d; std::getline(dirs, d, ':');)
        if (!d.empty() && access((d + "/" + tool).c_str(), X_OK) == 0) return d + "/" + tool;
    return "";
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
    std::vector<char*> v;
    for (auto& a : args) v.push_back(a.data());
    v.push_back(nullptr);
    return v;
}

// Runs a client to completion (its own +time/+tries bound it) and returns
// what it printed on stdout.
std::string run(std::vector<std::string> args) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
    UniqueFd rd(p[0]), wr(p[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    pid_t pid = 0;
    auto argv = c_argv(args);
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    wr.reset();
    if (rc != 0) return "spawn failed";
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(rd.get(), buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    int status = 0;
    waitpid(pid, &status, 0);
    return out;
}

uint16_t free_udp_port() {
    UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// One datagram to 127.0.0.1:port and the reply, or "" after `timeout`.
std::vector<uint8_t> udp_exchange(uint16_t port, const std::vector<uint8_t>& q,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto a = loopback(port);
    connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (send(s.get(), q.data(), q.size(), 0) < 0) return {};
    pollfd pfd{s.get(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return {};
    std::vector<uint8_t> buf(65535);
    ssize_t n = recv(s.get(), buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
}

UniqueFd tcp_connect(uint16_t port) {
    UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto a = loopback(port);
    if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
    return s;
}

void tcp_send(const UniqueFd& s, const std::vector<uint8_t>& q) {
    std::vector<uint8_t> m{static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size())};
    m.insert(m.end(), q.begin(), q.end());
    ASSERT_EQ(send(s.get(), m.data(), m.size(), MSG_NOSIGNAL), static_cast<ssize_t>(m.size()));
}

// Reads exactly n bytes within the timeout; fewer when the peer closed or time ran out.
std::vector<uint8_t> read_n(const UniqueFd& s, size_t n, int timeout_ms = 2000) {
    std::vector<uint8_t> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd pfd{s.get(), POLLIN, 0};
        if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) != 1) break;
        uint8_t buf[4096];
        ssize_t r = recv(s.get(), buf, std::min(sizeof buf, n - out.size()), 0);
        if (r <= 0) break;
        out.insert(out.end(), buf, buf + r);
    }
    return out;
}

std::vector<uint8_t> tcp_reply(const UniqueFd& s) {
    auto len = read_n(s, 2);
    if (len.size() != 2) return {};
    return read_n(s, static_cast<size_t>(len[0] << 8 | len[1]));
}

// True when the peer closes the connection within timeout_ms.
bool closed_by_peer(const UniqueFd& s, int timeout_ms) {
    pollfd pfd{s.get(), POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) != 1) return false;
    uint8_t b;
    return recv(s.get(), &b, 1, MSG_DONTWAIT) <= 0;
}

// dnsmasq on 127.0.0.1:port answering *.ext.test with 192.0.2.7 and
// refusing the rest (no upstream of its own); killed at the end.
class Dnsmasq {
public:
    explicit Dnsmasq(uint16_t port) : port_(port) {
        std::string bin = find_tool("dnsmasq");
        if (bin.empty()) return;
        std::vector<std::string> args{bin,
                                      "--no-daemon",
                                      "--port=" + std::to_string(port),
                                      "--listen-address=127.0.0.1",
                                      "--bind-interfaces",
                                      "--no-resolv",
                                      "--no-hosts",
                                      "--conf-file=/dev/null",
                                      "--pid-file",
                                      "--address=/ext.test/192.0.2.7"};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        auto argv = c_argv(args);
        if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = 0;
        posix_spawn_file_actions_destroy(&fa);
    }
    ~Dnsmasq() {
        if (pid_ <= 0) return;
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
    // Waits (bounded: 5 s) until it answers.
    bool ready() const {
        if (pid_ <= 0) return false;
        for (int i = 0; i < 50; ++i) {
            if (!udp_exchange(port_, make_query("x.ext.test.", LDNS_RR_TYPE_A), std::chrono::milliseconds(100)).empty())
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // refused at once until it listens
        }
        return false;
    }

private:
    uint16_t port_;
    pid_t pid_ = 0;
};

class DnsServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dig_ = find_tool("dig");
        drill_ = find_tool("drill");
        cfg.listen = {*hl::SocketAddress::parse("127.0.0.1:1")};
        cfg.listen[0].port = 0;  // the kernel picks (the config itself takes 1-65535)
        cfg.vip = *hl::IpAddress::parse("127.255.255.254");
        dir.add("default", "web", "127.255.0.1", 80);
        dir.add("default", "web6", "fd00::80", 80);
        for (int i = 1; i <= 40; ++i) dir.add("default", "big", ("127.255.1." + std::to_string(i)).c_str(), 80);
    }
    void TearDown() override { stop(); }

    void start() {
        auto s = DnsServer::start(io, cfg, dir, limits);
        ASSERT_TRUE(s.ok()) << s.error().what();
        server = std::move(*s);
        port = server->endpoints().at(0).port;
        io_thread = std::thread([this] {
            auto guard = boost::asio::make_work_guard(io);
            io.run();
        });
    }
    void stop() {
        io.stop();
        if (io_thread.joinable()) io_thread.join();
        server.reset();  // with the io_context stopped: nothing runs beside it
    }

    std::string dig(std::vector<std::string> extra) {
        std::vector<std::string> args{dig_, "@127.0.0.1", "-p", std::to_string(port), "+time=2", "+tries=1"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run(args);
    }
    uint64_t count(const char* rcode) const {
        for (size_t i = 0; i < QueryCounters::kRcodes.size(); ++i)
            if (std::string(QueryCounters::kRcodes[i]) == rcode) return server->counters().get(i);
        return ~0ull;
    }

    hl::DnsConfig cfg;
    DnsServerLimits limits;
    FakeDirectory dir;
    boost::asio::io_context io;
    std::unique_ptr<DnsServer> server;
    std::thread io_thread;
    uint16_t port = 0;
    std::string dig_, drill_;
};

#define NEED(tool)                                                           \
    if (tool##_.empty()) GTEST_SKIP() << #tool " not installed (tools/install-deps.sh)"

TEST_F(DnsServerTest, DigOverUdpAndTcp) {
    NEED(dig);
    start();
    EXPECT_EQ(dig({"+short", "web.default.hopless.internal", "A"}), "127.255.0.1\n");
    EXPECT_EQ(dig({"+tcp", "+short", "web.default.hopless.internal", "A"}), "127.255.0.1\n");
    EXPECT_EQ(dig({"+short", "web6.default.hopless.internal", "AAAA"}), "fd00::80\n");
    EXPECT_EQ(dig({"+short", "_web._tcp.default.hopless.internal", "SRV"}), "0 0 80 web.default.hopless.internal.\n");
    std::string srv = dig({"_web._tcp.default.hopless.internal", "SRV"});
    EXPECT_THAT(srv, HasSubstr("status: NOERROR"));
    EXPECT_THAT(srv, HasSubstr("flags: qr aa rd;"));
    EXPECT_THAT(srv, HasSubstr("web.default.hopless.internal. 5\tIN\tA\t127.255.0.1")) << "the additional section";
    std::string nx = dig({"nope.default.hopless.internal", "A"});
    EXPECT_THAT(nx, HasSubstr("status: NXDOMAIN"));
    EXPECT_THAT(nx, HasSubstr("hopless.internal.\t1\tIN\tSOA\tns.hopless.internal. hostmaster.hopless.internal."));
    EXPECT_THAT(dig({"+tcp", "nope.default.hopless.internal", "A"}), HasSubstr("status: NXDOMAIN"));
    EXPECT_THAT(dig({"example.com", "A"}), HasSubstr("status: REFUSED")) << "no upstreams";
    EXPECT_THAT(dig({"+short", "WEB.Default.HOPLESS.internal"}), HasSubstr("127.255.0.1"));
}

TEST_F(DnsServerTest, Drill) {
    NEED(drill);
    start();
    std::string p = std::to_string(port);
    std::string udp = run({drill_, "-p", p, "web.default.hopless.internal", "@127.0.0.1", "A"});
    EXPECT_THAT(udp, HasSubstr("rcode: NOERROR"));
    EXPECT_THAT(udp, HasSubstr("web.default.hopless.internal.\t5\tIN\tA\t127.255.0.1"));
    std::string tcp = run({drill_, "-t", "-p", p, "_web._tcp.default.hopless.internal", "@127.0.0.1", "SRV"});
    EXPECT_THAT(tcp, HasSubstr("0 0 80 web.default.hopless.internal."));
    EXPECT_THAT(run({drill_, "-p", p, "nope.default.hopless.internal", "@127.0.0.1"}), HasSubstr("rcode: NXDOMAIN"));
}

TEST_F(DnsServerTest, TruncatedOverUdpThenWholeOverTcp) {
    NEED(dig);
    start();
    // dig +noedns (512 bytes) sees TC, says so, and asks again over TCP.
    std::string out = dig({"+noedns", "big.default.hopless.internal", "A"});
    EXPECT_THAT(out, HasSubstr("Truncated, retrying in TCP mode"));
    EXPECT_THAT(out, HasSubstr("ANSWER: 40"));
    std::string ignored = dig({"+noedns", "+ignore", "big.default.hopless.internal", "A"});
    EXPECT_THAT(ignored, HasSubstr("flags: qr aa tc rd;"));
    EXPECT_THAT(ignored, HasSubstr("ANSWER: 0"));
    // With EDNS at 1232 it fits in one datagram.
    std::string edns = dig({"+bufsize=1232", "+ignore", "big.default.hopless.internal", "A"});
    EXPECT_THAT(edns, Not(HasSubstr(" tc ")));
    EXPECT_THAT(edns, HasSubstr("ANSWER: 40"));
}

TEST_F(DnsServerTest, AServiceCreatedLaterResolvesAtOnce) {
    NEED(dig);
    start();
    EXPECT_THAT(dig({"late.default.hopless.internal"}), HasSubstr("status: NXDOMAIN"));
    dir.add("default", "late", "127.255.0.77", 8080);
    EXPECT_EQ(dig({"+short", "late.default.hopless.internal"}), "127.255.0.77\n");
}

TEST_F(DnsServerTest, ForwardsOutsideTheZoneToDnsmasq) {
    NEED(dig);
    if (find_tool("dnsmasq").empty()) GTEST_SKIP() << "dnsmasq not installed (tools/install-deps.sh)";
    uint16_t up = free_udp_port();
    Dnsmasq dnsmasq(up);
    ASSERT_TRUE(dnsmasq.ready()) << "dnsmasq on 127.0.0.1:" << up << " does not answer";
    // A dead upstream first: refused at once (nothing on its port), then dnsmasq.
    cfg.upstreams = {hl::SocketAddress{*hl::IpAddress::parse("127.0.0.1"), free_udp_port()},
                     hl::SocketAddress{*hl::IpAddress::parse("127.0.0.1"), up}};
    start();
    EXPECT_EQ(dig({"+short", "www.ext.test", "A"}), "192.0.2.7\n");
    EXPECT_EQ(dig({"+tcp", "+short", "www.ext.test", "A"}), "192.0.2.7\n");
    std::string refused = dig({"other.test", "A"});
    EXPECT_THAT(refused, HasSubstr("status: REFUSED")) << "dnsmasq's own answer, passed through";
    EXPECT_THAT(refused, Not(HasSubstr("ID mismatch")));
    EXPECT_EQ(dig({"+short", "web.default.hopless.internal"}), "127.255.0.1\n") << "the zone is still ours";
    EXPECT_THAT(dig({"web.default.hopless.internal"}), HasSubstr("flags: qr aa rd ra;")) << "RA with upstreams";
    EXPECT_EQ(server->counters().forwarded.load(), 3u);
}

TEST_F(DnsServerTest, ServfailWhenNoUpstreamAnswers) {
    // One upstream silent (a socket that never reads), one refused.
    UniqueFd silent(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto a = loopback(0);
    ASSERT_EQ(bind(silent.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(silent.get(), reinterpret_cast<sockaddr*>(&a), &len);
    cfg.upstreams = {hl::SocketAddress{*hl::IpAddress::parse("127.0.0.1"), ntohs(a.sin_port)},
                     hl::SocketAddress{*hl::IpAddress::parse("127.0.0.1"), free_udp_port()}};
    limits.upstream_timeout = std::chrono::milliseconds(300);
    start();
    auto t0 = std::chrono::steady_clock::now();
    auto reply = parse_reply(udp_exchange(port, make_query("www.example.", LDNS_RR_TYPE_A)));
    ASSERT_TRUE(reply);
    EXPECT_EQ(ldns_pkt_get_rcode(reply.get()), LDNS_RCODE_SERVFAIL);
    EXPECT_EQ(ldns_pkt_id(reply.get()), 0x1234);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    // TCP: nothing listens on either port's TCP side.
    UniqueFd c = tcp_connect(port);
    tcp_send(c, make_query("www.example.", LDNS_RR_TYPE_A));
    auto tr = parse_reply(tcp_reply(c));
    ASSERT_TRUE(tr);
    EXPECT_EQ(ldns_pkt_get_rcode(tr.get()), LDNS_RCODE_SERVFAIL);
    EXPECT_EQ(count("SERVFAIL"), 2u);
}

TEST_F(DnsServerTest, SeveralQueriesOnOneTcpConnection) {
    start();
    UniqueFd c = tcp_connect(port);
    ASSERT_TRUE(c);
    // Two queries written back to back, then a third after the replies.
    tcp_send(c, make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    tcp_send(c, make_query("nope.default.hopless.internal.", LDNS_RR_TYPE_A));
    auto r1 = parse_reply(tcp_reply(c));
    auto r2 = parse_reply(tcp_reply(c));
    ASSERT_TRUE(r1 && r2);
    EXPECT_EQ(ldns_pkt_get_rcode(r1.get()), LDNS_RCODE_NOERROR);
    EXPECT_EQ(ldns_pkt_get_rcode(r2.get()), LDNS_RCODE_NXDOMAIN);
    tcp_send(c, make_query("big.default.hopless.internal.", LDNS_RR_TYPE_A));
    auto r3 = parse_reply(tcp_reply(c));
    ASSERT_TRUE(r3);
    EXPECT_EQ(ldns_pkt_ancount(r3.get()), 40) << "TCP carries the whole answer";
}

TEST_F(DnsServerTest, IdleTcpConnectionsCloseAndTheirNumberIsCapped) {
    limits.tcp_idle_timeout = std::chrono::milliseconds(300);
    limits.max_tcp_connections = 2;
    start();
    UniqueFd a = tcp_connect(port), b = tcp_connect(port);
    ASSERT_TRUE(a && b);
    tcp_send(a, make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(parse_reply(tcp_reply(a)));  // both accepted before the third arrives
    UniqueFd c = tcp_connect(port);
    EXPECT_TRUE(closed_by_peer(c, 1000)) << "a third connection beyond the cap is closed at once";
    EXPECT_TRUE(closed_by_peer(a, 2000)) << "idle after its reply";
    EXPECT_TRUE(closed_by_peer(b, 2000)) << "idle from the start";
    UniqueFd d = tcp_connect(port);  // room again
    tcp_send(d, make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    EXPECT_TRUE(parse_reply(tcp_reply(d)));
}

TEST_F(DnsServerTest, GarbageAndResponsesOverUdp) {
    start();
    std::vector<uint8_t> garbage{0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 'x'};
    auto r = parse_reply(udp_exchange(port, garbage));
    ASSERT_TRUE(r);
    EXPECT_EQ(ldns_pkt_id(r.get()), 0xabcd);
    EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_FORMERR);
    auto resp = make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A, [](ldns_pkt* p) { ldns_pkt_set_qr(p, true); });
    EXPECT_TRUE(udp_exchange(port, resp, std::chrono::milliseconds(300)).empty()) << "a response gets no reply";
    EXPECT_TRUE(udp_exchange(port, {1, 2, 3}, std::chrono::milliseconds(300)).empty());
    // The server still answers.
    EXPECT_TRUE(parse_reply(udp_exchange(port, make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A))));
    EXPECT_EQ(count("FORMERR"), 1u);
    EXPECT_EQ(count("NOERROR"), 1u);
    EXPECT_EQ(server->counters().dropped.load(), 2u);
}

TEST_F(DnsServerTest, CountsRepliesByRcode) {
    start();
    udp_exchange(port, make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    udp_exchange(port, make_query("nope.default.hopless.internal.", LDNS_RR_TYPE_A));
    udp_exchange(port, make_query("nope2.default.hopless.internal.", LDNS_RR_TYPE_A));
    udp_exchange(port, make_query("example.com.", LDNS_RR_TYPE_A));
    EXPECT_EQ(count("NOERROR"), 1u);
    EXPECT_EQ(count("NXDOMAIN"), 2u);
    EXPECT_EQ(count("REFUSED"), 1u);
    EXPECT_EQ(count("SERVFAIL"), 0u);
}

TEST_F(DnsServerTest, BindFailureNamesTheAddress) {
    UniqueFd taken(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto a = loopback(0);
    ASSERT_EQ(bind(taken.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(taken.get(), reinterpret_cast<sockaddr*>(&a), &len);
    std::string at = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    cfg.listen = {*hl::SocketAddress::parse(at)};
    auto s = DnsServer::start(io, cfg, dir);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().what(), "dns.listen: cannot bind UDP " + at + ": Address already in use");

    cfg.listen = {*hl::SocketAddress::parse("192.0.2.1:53")};  // TEST-NET: not an address of this host
    auto t = DnsServer::start(io, cfg, dir);
    ASSERT_FALSE(t.ok());
    EXPECT_THAT(t.error().what(), HasSubstr("dns.listen: cannot bind UDP 192.0.2.1:53: "));
}

TEST_F(DnsServerTest, StopsWithQueriesUnderWay) {
    // An upstream that takes queries over UDP and TCP and never answers.
    UniqueFd silent(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto a = loopback(0);
    ASSERT_EQ(bind(silent.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(silent.get(), reinterpret_cast<sockaddr*>(&a), &len);
    UniqueFd silent_tcp(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(bind(silent_tcp.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(silent_tcp.get(), 8), 0);
    cfg.upstreams = {hl::SocketAddress{*hl::IpAddress::parse("127.0.0.1"), ntohs(a.sin_port)}};
    start();
    UniqueFd c = tcp_connect(port);
    tcp_send(c, make_query("www.example.", LDNS_RR_TYPE_A));
    udp_exchange(port, make_query("www.example.", LDNS_RR_TYPE_A), std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Stopped on its own thread while both queries wait on the silent upstream.
    std::promise<void> done;
    boost::asio::post(io, [&] {
        server.reset();
        done.set_value();
    });
    done.get_future().wait();
    EXPECT_TRUE(closed_by_peer(c, 1000)) << "closed without a reply";
}

}  // namespace
