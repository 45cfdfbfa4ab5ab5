// ControlServer and Client over a real Unix socket, the server on an
// io_context thread as in the daemon: what a client sees (statuses, bodies,
// keep-alive, limits, deadlines, the connection cap), and that the socket
// file is made and removed as promised.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "common/unique_fd.h"
#include "control/client.h"
#include "control/path.h"
#include "control/server.h"
#include "fake_control_handler.h"

namespace {

namespace http = boost::beast::http;
using hl::control::Client;
using hl::control::ControlServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

// A client that speaks raw bytes, to send what Client never would. Every
// read waits at most 5 s (SO_RCVTIMEO), so a broken server fails the test
// instead of hanging it.
class RawConn {
public:
    explicit RawConn(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        path.copy(sa.sun_path, sizeof sa.sun_path - 1);
        connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        timeval tv{5, 0};
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    bool connected() const { return connected_; }
    bool send(std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            s.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }
    // The next whole response, or nullopt at end of stream, error or timeout.
    std::optional<http::response<http::string_body>> response() {
        http::response_parser<http::string_body> p;
        p.eager(true);
        while (true) {
            if (!pending_.empty()) {
                boost::beast::error_code ec;
                size_t used = p.put(boost::asio::buffer(pending_), ec);
                pending_.erase(0, used);
                if (p.is_done()) return p.release();
                if (ec && ec != http::error::need_more) return std::nullopt;
                if (used > 0 && !pending_.empty()) continue;
            }
            char buf[4096];
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
            if (n <= 0) return std::nullopt;
            pending_.append(buf, static_cast<size_t>(n));
        }
    }
    // True when the server closed the connection (EOF or reset) within 5 s.
    bool closed() {
        char c;
        ssize_t n = ::recv(fd_.get(), &c, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

private:
    hl::UniqueFd fd_;
    bool connected_ = false;
    std::string pending_;
};

std::string body_of(const http::response<http::string_body>& r) { return r.body(); }

class ControlServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/hl-control-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/run/ctl.sock";  // run/ does not exist yet: start() makes it
    }
    void TearDown() override {
        stop();
        std::filesystem::remove_all(dir_);
    }

    void start(ControlServer::Limits limits = {}) {
        auto s = ControlServer::start(io_, path_, handler_, limits);
        ASSERT_TRUE(s.ok()) << s.error().what();
        server_ = std::move(*s);
        runner_ = std::thread([this] { io_.run(); });
    }
    // Runs f on the io thread (where the Handler and the server live) and waits.
    template <class F>
    auto on_io(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto fut = task.get_future();
        boost::asio::post(io_, [&] { task(); });
        return fut.get();
    }
    void stop() {
        if (!runner_.joinable()) return;
        on_io([&] { server_.reset(); });
        work_.reset();
        io_.stop();
        runner_.join();
    }
    std::vector<std::string> calls() {
        return on_io([&] { return handler_.calls; });
    }
    size_t connections() {
        return on_io([&] { return server_ ? server_->connections() : 0; });
    }
    // Waits (bounded) until the server counts n connections.
    bool wait_connections(size_t n) {
        for (int i = 0; i < 200; ++i) {
            if (connections() == n) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

    std::string dir_, path_;
    boost::asio::io_context io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
    hlt::FakeControlHandler handler_;
    std::unique_ptr<ControlServer> server_;
    std::thread runner_;
};

const std::string kHealth = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_F(ControlServerTest, ClientCallsReachTheHandler) {
    start();
    Client c(path_);
    auto r = c.call("GET", "/v1/health");
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, (nlohmann::json{{"ok", true}}));
    std::string id = "[fd00::1]:80";
    auto put = c.call("PUT", "/v1/services/default/web/endpoints/" + hl::control::encode_segment(id),
                      nlohmann::json{{"address", "fd00::1"}, {"port", 80}, {"ttl", 30}});
    ASSERT_TRUE(put.ok()) << put.error().what();
    EXPECT_EQ(put->status, 200u);
    EXPECT_THAT(calls(), ElementsAre("health", "put_endpoint default/web [fd00::1]:80 [fd00::1]:80 weight=1 ttl=30"));
}

TEST_F(ControlServerTest, ErrorsComeBackAsReplies) {
    start();
    Client c(path_);
    auto r = c.call("PUT", "/v1/services/default/web/endpoints/x", nlohmann::json{{"address", "1.2.3.4"}, {"port", 0}});
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->status, 400u);
    EXPECT_EQ(hl::control::error_text(*r), "port: 0 is not a port (1-65535)");
    EXPECT_THAT(calls(), IsEmpty());
}

TEST_F(ControlServerTest, SocketFileIsRootsAndGoesAway) {
    start();
    struct stat sb{};
    ASSERT_EQ(::stat(path_.c_str(), &sb), 0);
    EXPECT_TRUE(S_ISSOCK(sb.st_mode));
    EXPECT_EQ(sb.st_mode & 07777, 0600u);
    if (::geteuid() == 0) {
        EXPECT_EQ(sb.st_uid, 0u);
    }
    ASSERT_EQ(::stat((dir_ + "/run").c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0755u);
    stop();
    EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(ControlServerTest, KeepAliveServesManyRequestsOnOneConnection) {
    start();
    RawConn c(path_);
    ASSERT_TRUE(c.connected());
    // Two pipelined, then a third after the answers.
    ASSERT_TRUE(c.send(kHealth + "GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto a = c.response(), b = c.response();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->result_int(), 200u);
    EXPECT_TRUE(a->keep_alive());
    EXPECT_EQ((*a)[http::field::content_type], "application/json");
    ASSERT_TRUE(c.send(kHealth));
    auto d = c.response();
    ASSERT_TRUE(d);
    EXPECT_EQ(connections(), 1u);
    EXPECT_THAT(calls(), ElementsAre("health", "list_services", "health"));
    // Connection: close is honoured.
    ASSERT_TRUE(c.send("GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto e = c.response();
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->keep_alive());
    EXPECT_TRUE(c.closed());
}

TEST_F(ControlServerTest, WrongMethodGetsAllow) {
    start();
    RawConn c(path_);
    ASSERT_TRUE(c.send("PATCH /v1/services/a/b HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 405u);
    EXPECT_EQ((*r)[http::field::allow], "PUT, DELETE");
}

TEST_F(ControlServerTest, BodyOverOneMiBIs413AndChangesNothing) {
    start();
    Client c(path_);
    std::string big(1024 * 1024 + 1, 'x');
    auto r = c.call("PUT", "/v1/services/default/web/endpoints/x",
                    nlohmann::json{{"address", "10.0.0.1"}, {"port", 80}, {"pad", big}});
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->status, 413u);
    EXPECT_THAT(hl::control::error_text(*r), HasSubstr("larger than 1048576 bytes"));

    // Chunked, so the size is known only while reading.
    RawConn raw(path_);
    ASSERT_TRUE(raw.send("PUT /v1/cgroups HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    for (int i = 0; i < 17 && raw.send(chunk); ++i) {
    }
    auto rr = raw.response();
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->result_int(), 413u);
    EXPECT_THAT(calls(), IsEmpty());
}

TEST_F(ControlServerTest, ExpectContinueIsAnsweredAndTooLargeRefusedUpFront) {
    start();
    RawConn c(path_);
    std::string body = R"({"pid": 42})";
    ASSERT_TRUE(c.send("PUT /v1/cgroups HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    auto cont = c.response();
    ASSERT_TRUE(cont);
    EXPECT_EQ(cont->result_int(), 100u);
    ASSERT_TRUE(c.send(body));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);

    RawConn big(path_);
    ASSERT_TRUE(big.send("PUT /v1/cgroups HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n"));
    auto refused = big.response();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->result_int(), 413u);
    EXPECT_TRUE(big.closed());
    EXPECT_THAT(calls(), ElementsAre("attach_cgroup pid=42 ns=default"));
}

TEST_F(ControlServerTest, MalformedHttpIs400AndClose) {
    start();
    for (std::string bad : {std::string("GARBAGE\r\n\r\n"), std::string("GET /v1/health HTTP/7.0\r\n\r\n"),
                            std::string("GET /v1/health HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
                            std::string("GET /v1/health HTTP/1.1\r\nBad Header\r\n\r\n")}) {
        RawConn c(path_);
        ASSERT_TRUE(c.send(bad));
        auto r = c.response();
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->result_int(), 400u) << bad;
        EXPECT_THAT(body_of(*r), HasSubstr("malformed HTTP request")) << bad;
        EXPECT_TRUE(c.closed()) << bad;
    }
    RawConn huge(path_);
    ASSERT_TRUE(huge.send("GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n"));
    auto r = huge.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 431u);
    EXPECT_TRUE(huge.closed());
    EXPECT_THAT(calls(), IsEmpty());
    // The server still serves.
    auto ok = Client(path_).call("GET", "/v1/health");
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->status, 200u);
}

TEST_F(ControlServerTest, SlowAndIdleClientsAreClosedByTheDeadline) {
    start({.max_connections = 64, .read_timeout = 300ms, .write_timeout = 1000ms});
    RawConn slow(path_), idle(path_), after(path_);
    ASSERT_TRUE(slow.send("PUT /v1/cgroups HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"pid\":"));
    ASSERT_TRUE(after.send(kHealth));
    ASSERT_TRUE(after.response());  // one answer, then idle on a kept-alive connection
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(slow.closed());
    EXPECT_TRUE(idle.closed());
    EXPECT_TRUE(after.closed());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);  // not the 5 s recv bound: the server closed them
    EXPECT_TRUE(wait_connections(0));
    EXPECT_THAT(calls(), ElementsAre("health"));
}

TEST_F(ControlServerTest, ConnectionsOverTheCapAreRefusedAtOnce) {
    start({.max_connections = 3, .read_timeout = 10s, .write_timeout = 10s});
    std::vector<std::unique_ptr<RawConn>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<RawConn>(path_));
        ASSERT_TRUE(held.back()->send(kHealth));
        ASSERT_TRUE(held.back()->response());
    }
    EXPECT_EQ(connections(), 3u);
    RawConn extra(path_);
    ASSERT_TRUE(extra.connected());
    auto r = extra.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 503u);
    EXPECT_THAT(body_of(*r), HasSubstr("too many connections"));
    EXPECT_TRUE(extra.closed());
    auto busy = Client(path_).call("GET", "/v1/health");
    ASSERT_TRUE(busy.ok()) << busy.error().what();
    EXPECT_EQ(busy->status, 503u);
    // One leaves: a new one is served.
    held.pop_back();
    ASSERT_TRUE(wait_connections(2));
    auto ok = Client(path_).call("GET", "/v1/health");
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->status, 200u);
}

TEST_F(ControlServerTest, StaleSocketIsReplacedLiveOneIsNot) {
    // A socket file nobody listens on: what a killed daemon leaves.
    std::filesystem::create_directories(dir_ + "/run");
    {
        hl::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        path_.copy(sa.sun_path, sizeof sa.sun_path - 1);
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    }
    ASSERT_TRUE(std::filesystem::exists(path_));
    start();
    auto second = ControlServer::start(io_, path_, handler_);
    ASSERT_FALSE(second.ok());
    EXPECT_THAT(second.error().what(), HasSubstr("another process listens on it"));
    EXPECT_TRUE(Client(path_).call("GET", "/v1/health").ok());  // the first still owns it

    std::string file = dir_ + "/plain";
    std::ofstream(file) << "x";
    auto not_sock = ControlServer::start(io_, file, handler_);
    ASSERT_FALSE(not_sock.ok());
    EXPECT_THAT(not_sock.error().what(), HasSubstr("exists and is not a socket"));
    EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(ControlServerTest, ClientSaysWhenNoDaemonOrNoAnswer) {
    auto r = Client(dir_ + "/none.sock").call("GET", "/v1/health");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what(), "cannot reach hoplessd at " + dir_ +
                                    "/none.sock: No such file or directory (is hoplessd running?)");
    // Something listens but never answers.
    std::string mute = dir_ + "/mute.sock";
    hl::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    mute.copy(sa.sun_path, sizeof sa.sun_path - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(fd.get(), 4), 0);
    auto t = Client(mute, 300ms).call("GET", "/v1/health");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().what(), "hoplessd at " + mute + " did not answer within 300 ms");
}

TEST(ControlPath, EncodeSegmentRoundTrips) {
    EXPECT_EQ(hl::control::encode_segment("[fd00::1]:80"), "%5Bfd00%3A%3A1%5D%3A80");
    EXPECT_EQ(hl::control::encode_segment("a-b_c.d~e"), "a-b_c.d~e");
    EXPECT_EQ(hl::control::encode_segment("a/b c"), "a%2Fb%20c");
    auto segs = hl::control::split_path("/" + hl::control::encode_segment("x/%y") + "/z");
    ASSERT_TRUE(segs);
    EXPECT_THAT(*segs, ElementsAre("x/%y", "z"));
}

}  // namespace
