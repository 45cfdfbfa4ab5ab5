// Active probes (health/probe.h) against real servers on loopback, and the
// monitor (health/monitor.h) driving the tracker on an io_context: probes
// that fail make a flag change, synthetic connect-failure events (what the
// kernel's ring buffer will carry) eject a backend, reset its kernel count
// and bring it back when the ejection ends.
#include "health/monitor.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "health/probe.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace hl::health;
using std::chrono::milliseconds;

// A loopback server: `answer` is written after the request's head (empty:
// accept and say nothing); `answer` "close" closes at once.
class Server {
public:
    Server(asio::io_context& io, std::string answer) : acc_(io, {asio::ip::make_address("127.0.0.1"), 0}), answer_(std::move(answer)) {
        accept();
    }
    Endpoint endpoint() const { return {*hl::IpAddress::parse("127.0.0.1"), acc_.local_endpoint().port()}; }
    std::string last_request;

private:
    struct Conn {
        explicit Conn(asio::io_context& io) : sock(io) {}
        tcp::socket sock;
        asio::streambuf buf;
    };
    void accept() {
        auto c = std::make_shared<Conn>(static_cast<asio::io_context&>(acc_.get_executor().context()));
        acc_.async_accept(c->sock, [this, c](boost::system::error_code ec) {
            if (ec) return;
            conns_.push_back(c);
            if (answer_ == "close") c->sock.close();
            else
                asio::async_read_until(c->sock, c->buf, "\r\n\r\n", [this, c](boost::system::error_code ec, size_t) {
                    if (ec) return;
                    last_request.assign(asio::buffers_begin(c->buf.data()), asio::buffers_end(c->buf.data()));
                    if (!answer_.empty()) asio::async_write(c->sock, asio::buffer(answer_), [](auto, auto) {});
                });
            accept();
        });
    }
    tcp::acceptor acc_;
    std::string answer_;
    std::vector<std::shared_ptr<Conn>> conns_;
};

// A port nothing listens on (bound, then closed).
Endpoint closed_port(asio::io_context& io) {
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    Endpoint ep{*hl::IpAddress::parse("127.0.0.1"), a.local_endpoint().port()};
    a.close();
    return ep;
}

ProbeResult probe_once(asio::io_context& io, const Endpoint& ep, const hl::HealthCheck& c) {
    std::optional<ProbeResult> got;
    auto p = Probe::start(io, ep, c, nullptr, [&](ProbeResult r) { got = std::move(r); });
    for (int i = 0; i < 400 && !got; ++i) io.run_for(milliseconds(5));
    EXPECT_TRUE(got) << "the probe did not end";
    return got.value_or(ProbeResult{});
}

hl::HealthCheck http_check() {
    hl::HealthCheck c;
    c.protocol = hl::HealthProtocol::Http;
    c.path = "/healthz";
    c.timeout_ms = 300;
    c.interval_ms = 300;
    return c;
}

TEST(HealthProbe, TcpConnectsOrIsRefused) {
    asio::io_context io;
    Server up(io, "");
    hl::HealthCheck c;
    c.timeout_ms = 500;
    auto r = probe_once(io, up.endpoint(), c);
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.detail, "connected");
    r = probe_once(io, closed_port(io), c);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.inconclusive);
    EXPECT_EQ(r.detail, "connection refused");
}

TEST(HealthProbe, HttpStatusDecides) {
    asio::io_context io;
    Server ok(io, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    Server moved(io, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
    Server sick(io, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    auto r = probe_once(io, ok.endpoint(), http_check());
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.detail, "HTTP 200");
    EXPECT_NE(ok.last_request.find("GET /healthz HTTP/1.1\r\n"), std::string::npos) << ok.last_request;
    EXPECT_NE(ok.last_request.find("Host: 127.0.0.1:"), std::string::npos) << ok.last_request;
    EXPECT_TRUE(probe_once(io, moved.endpoint(), http_check()).ok);
    r = probe_once(io, sick.endpoint(), http_check());
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.detail, "HTTP 503");
}

TEST(HealthProbe, SilenceTimesOutAndAClosedConnectionFails) {
    asio::io_context io;
    Server silent(io, "");
    Server closer(io, "close");
    auto r = probe_once(io, silent.endpoint(), http_check());
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.detail, "timed out after 300 ms");
    EXPECT_GE(r.took, milliseconds(290));
    r = probe_once(io, closer.endpoint(), http_check());
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.detail.rfind("reading the answer: ", 0), 0u) << r.detail;
}

TEST(HealthProbe, CancelledProbeNeverCallsBack) {
    asio::io_context io;
    Server silent(io, "");
    bool called = false;
    auto p = Probe::start(io, silent.endpoint(), http_check(), nullptr, [&](ProbeResult) { called = true; });
    io.run_for(milliseconds(20));
    p->cancel();
    io.run_for(milliseconds(400));
    EXPECT_FALSE(called);
}

struct FakeSink : Sink {
    std::vector<Change> changes;
    std::vector<BackendEvent> events;  // what `hopless trace` is told
    void backend_health(const Change& c) override { changes.push_back(c); }
    void backend_event(const BackendEvent& e) override { events.push_back(e); }
};

struct FakeCounts : FailureCounts {
    std::vector<uint32_t> resets;
    hl::Status reset(uint32_t id) override {
        resets.push_back(id);
        return hl::ok_status();
    }
};

template <class F>
bool run_until(asio::io_context& io, F done, milliseconds limit = milliseconds(3000)) {
    for (auto t0 = Clock::now(); !done() && Clock::now() - t0 < limit;) io.run_for(milliseconds(5));
    return done();
}

const Name kWeb{"default", "web"};

TEST(HealthMonitor, FailingProbesMakeABackendUnhealthyAndPassingOnesBringItBack) {
    asio::io_context io;
    FakeSink sink;
    Monitor m(io, sink, nullptr);
    Server up(io, "");
    const Endpoint down = closed_port(io);
    hl::HealthCheck c;
    c.interval_ms = 50;
    c.timeout_ms = 40;
    c.unhealthy_threshold = 2;
    TrackedService s{kWeb, 1, &c, nullptr, {{up.endpoint(), 10}, {down, 11}}};
    m.update(s);
    ASSERT_TRUE(run_until(io, [&] { return !sink.changes.empty(); }));
    ASSERT_EQ(sink.changes.size(), 1u);
    EXPECT_EQ(sink.changes[0].endpoint, down);
    EXPECT_FALSE(sink.changes[0].healthy);
    const auto& b = m.tracker().find(kWeb)->backends.at(down);
    EXPECT_EQ(b.last->result.detail, "connection refused");
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(sink.events[0].service_id, 1u);
    EXPECT_EQ(sink.events[0].backend_id, 11u);
    EXPECT_EQ(sink.events[0].endpoint, down);
    EXPECT_TRUE(sink.events[0].ejected);
    EXPECT_EQ(sink.events[0].why, HL_HEALTH_CHECK);
    ASSERT_TRUE(run_until(io, [&] { return m.tracker().find(kWeb)->backends.at(up.endpoint()).passes >= 3; }));
    EXPECT_EQ(sink.changes.size(), 1u) << "the healthy one never changed";
    // The service goes: its unhealthy backend is reported healthy (the
    // registry forgets the flag) and its probes stop.
    m.remove(kWeb);
    ASSERT_EQ(sink.changes.size(), 2u);
    EXPECT_TRUE(sink.changes[1].healthy);
    EXPECT_EQ(sink.events.size(), 1u) << "a removed service is no verdict";
    EXPECT_FALSE(m.tracker().find(kWeb));
    io.run_for(milliseconds(150));
    EXPECT_EQ(sink.changes.size(), 2u);
}

TEST(HealthMonitor, SyntheticConnectFailuresEjectResetTheCountAndEnd) {
    asio::io_context io;
    FakeSink sink;
    FakeCounts counts;
    Monitor m(io, sink, &counts);
    hl::OutlierDetection o;
    o.consecutive_failures = 3;
    o.base_ejection_time_ms = 100;
    o.max_ejection_percent = 50;
    const Endpoint a{*hl::IpAddress::parse("10.0.0.1"), 80}, b{*hl::IpAddress::parse("10.0.0.2"), 80};
    m.update(TrackedService{kWeb, 4, nullptr, &o, {{a, 20}, {b, 21}}});
    auto event = [&](uint32_t backend, uint32_t n) {
        hl_connect_failure ev{};
        ev.service_id = 4;
        ev.backend_id = backend;
        ev.consecutive_failures = n;
        ev.reason = HL_REASON_REFUSED;
        m.connect_failure(ev);
    };
    event(20, 1);
    event(20, 2);
    EXPECT_TRUE(sink.changes.empty());
    event(20, 3);
    ASSERT_EQ(sink.changes.size(), 1u);
    EXPECT_EQ(sink.changes[0].endpoint, a);
    EXPECT_FALSE(sink.changes[0].healthy);
    EXPECT_EQ(counts.resets, std::vector<uint32_t>{20});
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_EQ(sink.events[0].service_id, 4u);
    EXPECT_EQ(sink.events[0].backend_id, 20u);
    EXPECT_EQ(sink.events[0].endpoint, a);
    EXPECT_TRUE(sink.events[0].ejected);
    EXPECT_EQ(sink.events[0].why, HL_HEALTH_OUTLIER);
    EXPECT_EQ(sink.events[0].ejection, milliseconds(100));
    // Half of two is one: the other is not ejected, whatever it does.
    event(21, 3);
    EXPECT_EQ(sink.changes.size(), 1u);
    EXPECT_EQ(m.tracker().find(kWeb)->backends.at(a).ejections, 1u);
    EXPECT_EQ(m.tracker().find(kWeb)->backends.at(b).ejections, 0u);
    ASSERT_TRUE(run_until(io, [&] { return sink.changes.size() == 2; }));
    EXPECT_TRUE(sink.changes[1].healthy) << "back after base_ejection_time";
    ASSERT_EQ(sink.events.size(), 2u);
    EXPECT_FALSE(sink.events[1].ejected);
    EXPECT_EQ(sink.events[1].backend_id, 20u);
    EXPECT_EQ(sink.events[1].why, HL_HEALTH_OUTLIER);
    // Ejected again: twice as long.
    event(20, 3);
    ASSERT_EQ(sink.events.size(), 3u);
    EXPECT_EQ(sink.events[2].ejection, milliseconds(200));
    auto& bh = m.tracker().find(kWeb)->backends.at(a);
    EXPECT_EQ(bh.ejections, 2u);
    EXPECT_NEAR(std::chrono::duration<double>(bh.ejected_until - Clock::now()).count(), 0.2, 0.05);
    EXPECT_EQ(counts.resets, (std::vector<uint32_t>{20, 20}));
}

TEST(HealthMonitor, FailOpenIsCounted) {
    asio::io_context io;
    FakeSink sink;
    Monitor m(io, sink, nullptr);
    hl::OutlierDetection o;
    m.update(TrackedService{kWeb, 4, nullptr, &o, {}});
    m.set_fail_open(kWeb, true, 2);
    m.set_fail_open(kWeb, true, 2);
    m.set_fail_open(kWeb, false, 2);
    m.set_fail_open(kWeb, true, 2);
    EXPECT_TRUE(m.tracker().find(kWeb)->fail_open);
    EXPECT_EQ(m.tracker().find(kWeb)->fail_opens, 2u);
}

}  // namespace
