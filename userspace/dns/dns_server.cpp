#include "dns/dns_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cerrno>
#include <exception>
#include <optional>
#include <set>
#include <span>

#include "dns/asio_address.h"
#include "dns/forwarder.h"
#include "dns/responder.h"

namespace hl::dns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

namespace {

// The header's rcode of a reply from an upstream: what it is counted as.
int reply_rcode(const std::vector<uint8_t>& r) { return r.size() >= 4 ? (r[3] & 0xf) : 2; }

}  // namespace

class TcpSession;

// Everything the server's handlers share. Handlers hold it by shared_ptr, so
// it lives until the last of them has run; stop() closes every socket, and
// `stopped` keeps late handlers from doing anything.
struct DnsServer::Impl : std::enable_shared_from_this<DnsServer::Impl> {
    struct UdpListener {
        explicit UdpListener(asio::io_context& io) : socket(io) {}
        udp::socket socket;
        udp::endpoint sender;
        std::array<uint8_t, 65535> buf;
    };
    struct TcpListener {
        explicit TcpListener(asio::io_context& io) : acceptor(io), retry(io) {}
        tcp::acceptor acceptor;
        asio::steady_timer retry;  // after an accept error (EMFILE): a pause, not a busy loop
    };

    Impl(asio::io_context& io, const DnsConfig& config, const Directory& directory, const DnsServerLimits& limits)
        : io(io),
          responder(config, directory),
          forwarder(io, config.upstreams, limits.upstream_timeout, limits.max_forwards),
          limits(limits) {}

    Status bind(const SocketAddress& at);
    void receive_udp(UdpListener& l);
    void on_udp(UdpListener& l, std::span<const uint8_t> query, const udp::endpoint& sender);
    void accept(TcpListener& l);
    void stop();

    // The responder's decision, or a drop when building the reply failed
    // (out of memory): one query's failure must not end the io_context.
    Decision decide(std::span<const uint8_t> query, Transport t) {
        try {
            return responder.respond(query, t);
        } catch (const std::exception&) {
            return Decision{};
        }
    }

    asio::io_context& io;
    Responder responder;
    Forwarder forwarder;
    DnsServerLimits limits;
    QueryCounters own_counters;
    QueryCounters* counters = &own_counters;  // the daemon's, which outlive this server, when given
    std::vector<SocketAddress> endpoints;
    std::vector<std::unique_ptr<UdpListener>> udp;
    std::vector<std::unique_ptr<TcpListener>> tcp;
    std::set<std::shared_ptr<TcpSession>> sessions;
    bool stopped = false;
};

// One TCP client: read a length-prefixed query, answer it (or forward it and
// wait), write the reply, read the next. A timer bounds each read and write.
class TcpSession : public std::enable_shared_from_this<TcpSession> {
public:
    TcpSession(std::shared_ptr<DnsServer::Impl> server, tcp::socket socket)
        : server_(std::move(server)), socket_(std::move(socket)), timer_(server_->io) {}

    void start() { read_query(); }

    void close() {
        if (closed_) return;
        closed_ = true;
        error_code ignored;
        socket_.close(ignored);
        timer_.cancel();
        server_->sessions.erase(shared_from_this());
    }

private:
    // Closes the connection when the current read or write takes too long.
    void arm_timer() {
        auto self = shared_from_this();
        timer_.expires_after(server_->limits.tcp_idle_timeout);
        timer_.async_wait([self](const error_code& ec) {
            if (!ec) self->close();
        });
    }

    void read_query() {
        arm_timer();
        auto self = shared_from_this();
        asio::async_read(socket_, asio::buffer(len_), [self](const error_code& ec, size_t) {
            if (self->closed_) return;
            size_t len = static_cast<size_t>(self->len_[0] << 8 | self->len_[1]);
            if (ec || len < 12) return self->close();  // no header in it: nothing to answer
            self->query_.resize(len);
            asio::async_read(self->socket_, asio::buffer(self->query_), [self](const error_code& ec, size_t) {
                if (self->closed_) return;
                if (ec) return self->close();
                self->timer_.cancel();
                self->handle();
            });
        });
    }

    void handle() {
        auto& s = *server_;
        Decision d = s.decide(query_, Transport::Tcp);
        switch (d.action) {
            case Decision::Action::Reply:
                s.counters->count(d.rcode);
                return write(std::move(d.reply));
            case Decision::Action::Drop:
                s.counters->dropped.fetch_add(1, std::memory_order_relaxed);
                return close();  // not a query: the peer is not a DNS client
            case Decision::Action::Forward: {
                s.counters->forwarded.fetch_add(1, std::memory_order_relaxed);
                auto self = shared_from_this();
                bool started = s.forwarder.forward(query_, Transport::Tcp, [self](std::optional<std::vector<uint8_t>> r) {
                    self->forwarded(std::move(r));
                });
                if (!started) forwarded(std::nullopt);
                return;
            }
        }
    }

    void forwarded(std::optional<std::vector<uint8_t>> reply) {
        if (closed_ || server_->stopped) return;
        if (!reply) {
            reply = server_->responder.servfail(query_);
            if (reply->empty()) return close();
        }
        server_->counters->count(reply_rcode(*reply));
        write(std::move(*reply));
    }

    void write(std::vector<uint8_t> reply) {
        if (reply.size() > 65535) return close();
        out_.clear();
        out_.push_back(static_cast<uint8_t>(reply.size() >> 8));
        out_.push_back(static_cast<uint8_t>(reply.size()));
        out_.insert(out_.end(), reply.begin(), reply.end());
        arm_timer();
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(out_), [self](const error_code& ec, size_t) {
            if (self->closed_) return;
            if (ec) return self->close();
            self->read_query();
        });
    }

    std::shared_ptr<DnsServer::Impl> server_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    uint8_t len_[2] = {};
    std::vector<uint8_t> query_, out_;
    bool closed_ = false;
};

Status DnsServer::Impl::bind(const SocketAddress& at) {
    // Port 0: the kernel picks the UDP port, and TCP needs the same number,
    // which another socket may hold for TCP: then another UDP port is tried.
    for (int attempt = 0;; ++attempt) {
        error_code ec;
        auto u = std::make_unique<UdpListener>(io);
        udp::endpoint uep(to_asio(at.address), at.port);
        u->socket.open(uep.protocol(), ec);
        if (!ec) set_cloexec(u->socket.native_handle());
        // v6 sockets take v6 only, so "0.0.0.0:53" and "[::]:53" can both be listed.
        if (!ec && !at.address.is_v4()) u->socket.set_option(asio::ip::v6_only(true), ec);
        if (!ec) u->socket.bind(uep, ec);
        // Replies go out with a non-blocking send: a full socket buffer drops
        // one reply (the client asks again) instead of stalling the io_context.
        if (!ec) u->socket.non_blocking(true, ec);
        if (ec) {
            // Port 53 is a privileged port: under a unit's bounding set the cause is a capability.
            const char* hint = ec.value() == EACCES && at.port < 1024 ? " (needs CAP_NET_BIND_SERVICE)" : "";
            return Error{"dns.listen: cannot bind UDP " + at.to_string() + hint, ec.value()};
        }
        uint16_t port = u->socket.local_endpoint().port();  // the kernel's choice for port 0

        auto t = std::make_unique<TcpListener>(io);
        tcp::endpoint tep(to_asio(at.address), port);
        t->acceptor.open(tep.protocol(), ec);
        if (!ec) set_cloexec(t->acceptor.native_handle());
        if (!ec) t->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec && !at.address.is_v4()) t->acceptor.set_option(asio::ip::v6_only(true), ec);
        if (!ec) t->acceptor.bind(tep, ec);
        if (ec == asio::error::address_in_use && at.port == 0 && attempt < 16) continue;
        if (!ec) t->acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return Error{"dns.listen: cannot listen on TCP " + at.address.with_port(port), ec.value()};

        endpoints.push_back(SocketAddress{at.address, port});
        udp.push_back(std::move(u));
        tcp.push_back(std::move(t));
        return ok_status();
    }
}

void DnsServer::Impl::receive_udp(UdpListener& l) {
    auto self = shared_from_this();
    l.socket.async_receive_from(asio::buffer(l.buf), l.sender, [self, &l](const error_code& ec, size_t n) {
        if (self->stopped || ec == asio::error::operation_aborted) return;
        if (!ec) self->on_udp(l, std::span<const uint8_t>(l.buf.data(), n), l.sender);
        self->receive_udp(l);  // other errors concern one datagram, not the socket
    });
}

void DnsServer::Impl::on_udp(UdpListener& l, std::span<const uint8_t> query, const udp::endpoint& sender) {
    Decision d = decide(query, Transport::Udp);
    error_code ignored;
    switch (d.action) {
        case Decision::Action::Reply:
            counters->count(d.rcode);
            l.socket.send_to(asio::buffer(d.reply), sender, 0, ignored);
            return;
        case Decision::Action::Drop:
            counters->dropped.fetch_add(1, std::memory_order_relaxed);
            return;
        case Decision::Action::Forward: {
            counters->forwarded.fetch_add(1, std::memory_order_relaxed);
            std::vector<uint8_t> q(query.begin(), query.end());
            auto self = shared_from_this();
            auto done = [self, &l, sender, q](std::optional<std::vector<uint8_t>> reply) {
                if (self->stopped) return;
                if (!reply) reply = self->responder.servfail(q);
                if (reply->empty()) return;
                self->counters->count(reply_rcode(*reply));
                error_code ignored;
                l.socket.send_to(asio::buffer(*reply), sender, 0, ignored);
            };
            if (!forwarder.forward(q, Transport::Udp, done)) done(std::nullopt);
            return;
        }
    }
}

void DnsServer::Impl::accept(TcpListener& l) {
    auto self = shared_from_this();
    l.acceptor.async_accept([self, &l](const error_code& ec, tcp::socket socket) {
        if (self->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
            l.retry.expires_after(std::chrono::milliseconds(100));
            l.retry.async_wait([self, &l](const error_code& ec) {
                if (!ec && !self->stopped) self->accept(l);
            });
            return;
        }
        if (self->sessions.size() >= self->limits.max_tcp_connections) {
            error_code ignored;
            socket.close(ignored);
        } else {
            set_cloexec(socket.native_handle());
            auto s = std::make_shared<TcpSession>(self, std::move(socket));
            self->sessions.insert(s);
            s->start();
        }
        self->accept(l);
    });
}

void DnsServer::Impl::stop() {
    stopped = true;
    error_code ignored;
    for (auto& u : udp) u->socket.close(ignored);
    for (auto& t : tcp) {
        t->acceptor.close(ignored);
        t->retry.cancel();
    }
    // close() erases each from `sessions`: walk a copy.
    auto all = sessions;
    for (const auto& s : all) s->close();
    sessions.clear();
    forwarder.stop();
}

Result<std::unique_ptr<DnsServer>> DnsServer::start(asio::io_context& io, const DnsConfig& config,
                                                    const Directory& directory, const DnsServerLimits& limits,
                                                    QueryCounters* counters) {
    auto impl = std::make_shared<Impl>(io, config, directory, limits);
    if (counters) impl->counters = counters;
    for (const auto& at : config.listen) {
        if (auto st = impl->bind(at); !st) {
            impl->stop();
            return st.error();
        }
    }
    for (auto& u : impl->udp) impl->receive_udp(*u);
    for (auto& t : impl->tcp) impl->accept(*t);
    return std::unique_ptr<DnsServer>(new DnsServer(std::move(impl)));
}

DnsServer::~DnsServer() {
    if (impl_) impl_->stop();
}

const std::vector<SocketAddress>& DnsServer::endpoints() const { return impl_->endpoints; }

const QueryCounters& DnsServer::counters() const { return *impl_->counters; }

}  // namespace hl::dns
