#include "health/probe.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstring>

#include "health/netns_sockets.h"

namespace hl::health {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

tcp::endpoint to_asio(const Endpoint& ep) {
    const IpAddress& a = ep.first;
    if (a.is_v4()) return {asio::ip::address_v4(a.v4_host_order()), ep.second};
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), a.bytes().data(), 16);
    return {asio::ip::address_v6(b), ep.second};
}

// "connection refused" rather than asio's "Connection refused" with a
// category prefix: the text users read in `hopless health`.
std::string describe(const boost::system::error_code& ec) {
    std::string m = ec.category() == boost::system::system_category() ? std::strerror(ec.value()) : ec.message();
    if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
    return m;
}

class ProbeImpl : public Probe, public std::enable_shared_from_this<ProbeImpl> {
public:
    ProbeImpl(asio::io_context& io, const Endpoint& target, const HealthCheck& check, Done done)
        : sock_(io), deadline_(io), target_(to_asio(target)), check_(check), done_(std::move(done)),
          started_(Clock::now()) {}

    void run(NetnsSockets* netns) {
        auto self = shared_from_this();
        deadline_.expires_after(std::chrono::milliseconds(check_.timeout_ms));
        deadline_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
            auto p = w.lock();
            if (ec || !p) return;
            p->finish(false, "timed out after " + std::to_string(p->check_.timeout_ms) + " ms");
        });
        if (!netns) {
            // Opened here, not by async_connect: a socket this process
            // cannot make (EMFILE with thousands of probes in flight) says
            // nothing about the backend.
            boost::system::error_code ec;
            sock_.open(target_.protocol(), ec);
            if (ec) {
                finish(false, "socket: " + describe(ec), true);
                return;
            }
            connect();
            return;
        }
        const int family = target_.address().is_v4() ? AF_INET : AF_INET6;
        netns->make_socket(family, [w = weak_from_this()](Result<UniqueFd> fd) {
            auto p = w.lock();
            if (!p || p->finished_) return;
            if (!fd) {
                p->finish(false, fd.error().what(), true);
                return;
            }
            boost::system::error_code ec;
            p->sock_.assign(p->target_.protocol(), fd->release(), ec);
            if (ec) {
                p->finish(false, "socket: " + describe(ec), true);
                return;
            }
            p->connect();
        });
    }

    void cancel() override {
        finished_ = true;
        close();
    }

private:
    void connect() {
        sock_.async_connect(target_, [self = shared_from_this()](boost::system::error_code ec) {
            if (self->finished_) return;
            if (ec) {
                self->finish(false, describe(ec));
                return;
            }
            if (self->check_.protocol == HealthProtocol::Tcp) {
                self->finish(true, "connected");
                return;
            }
            self->request();
        });
    }

    void request() {
        req_ = {http::verb::get, check_.path, 11};
        req_.set(http::field::host, target_.port() == 80 ? address_text() : address_text() + ":" + std::to_string(target_.port()));
        req_.set(http::field::user_agent, "hopless-health-check");
        req_.set(http::field::connection, "close");
        http::async_write(sock_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (self->finished_) return;
            if (ec) {
                self->finish(false, "sending the request: " + describe(ec));
                return;
            }
            http::async_read_header(self->sock_, self->buf_, self->parser_, [self](beast::error_code ec, size_t) {
                if (self->finished_) return;
                if (ec) {
                    self->finish(false, "reading the answer: " + describe(ec));
                    return;
                }
                unsigned status = self->parser_.get().result_int();
                self->finish(status >= 200 && status < 400, "HTTP " + std::to_string(status));
            });
        });
    }

    std::string address_text() const {
        const auto a = target_.address();
        return a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    }

    void close() {
        boost::system::error_code ignored;
        deadline_.cancel();
        sock_.close(ignored);
    }

    void finish(bool ok, std::string detail, bool inconclusive = false) {
        if (finished_) return;
        finished_ = true;
        close();
        ProbeResult r;
        r.ok = ok;
        r.detail = std::move(detail);
        r.inconclusive = inconclusive;
        r.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
        auto done = std::move(done_);
        done(std::move(r));
    }

    tcp::socket sock_;
    asio::steady_timer deadline_;
    tcp::endpoint target_;
    HealthCheck check_;
    Done done_;
    Clock::time_point started_;
    bool finished_ = false;
    http::request<http::empty_body> req_;
    beast::flat_buffer buf_{8192};
    http::response_parser<http::empty_body> parser_;
};

}  // namespace

std::shared_ptr<Probe> Probe::start(asio::io_context& io, const Endpoint& target, const HealthCheck& check,
                                    NetnsSockets* netns, Done done) {
    auto p = std::make_shared<ProbeImpl>(io, target, check, std::move(done));
    p->run(netns);
    return p;
}

}  // namespace hl::health
