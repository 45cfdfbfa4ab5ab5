#include "dns/forwarder.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "dns/asio_address.h"

namespace hl::dns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

// One query on its way through the upstreams. Each try has a generation:
// handlers of an earlier try (its socket closed, its timer cancelled) see a
// newer one and do nothing.
class Forwarder::Attempt : public std::enable_shared_from_this<Attempt> {
public:
    Attempt(Forwarder& f, std::vector<uint8_t> query, Transport t, Done done)
        : f_(f),
          query_(std::move(query)),
          client_id_(static_cast<uint16_t>(query_[0] << 8 | query_[1])),
          transport_(t),
          done_(std::move(done)),
          timer_(f.io_) {}

    void start() {
        if (!over_) try_upstream(0);  // stopped before it started: f_ may be gone
    }

    // Stop() or the end: nothing more happens, f_ is not touched again.
    void cancel() {
        over_ = true;
        close();
        timer_.cancel();
    }

private:
    bool current(unsigned gen) const { return !over_ && gen == gen_; }

    void close() {
        error_code ignored;
        if (udp_) udp_->close(ignored);
        if (tcp_) tcp_->close(ignored);
    }

    void next() {
        close();
        try_upstream(index_ + 1);
    }

    void try_upstream(size_t i) {
        index_ = i;
        unsigned gen = ++gen_;
        if (i >= f_.upstreams_.size()) return finish(std::nullopt);
        id_ = f_.random_id();
        query_[0] = static_cast<uint8_t>(id_ >> 8);
        query_[1] = static_cast<uint8_t>(id_);
        const SocketAddress& up = f_.upstreams_[i];
        auto self = shared_from_this();
        timer_.expires_after(f_.timeout_);
        timer_.async_wait([self, gen](const error_code& ec) {
            if (!ec && self->current(gen)) self->next();
        });
        if (transport_ == Transport::Udp) try_udp(udp::endpoint(to_asio(up.address), up.port), gen);
        else try_tcp(tcp::endpoint(to_asio(up.address), up.port), gen);
    }

    void try_udp(const udp::endpoint& ep, unsigned gen) {
        udp_.emplace(f_.io_);
        error_code ec;
        udp_->open(ep.protocol(), ec);
        if (!ec) set_cloexec(udp_->native_handle());
        // connect(): the kernel then takes datagrams from the upstream only.
        if (!ec) udp_->connect(ep, ec);
        if (ec) return next();
        auto self = shared_from_this();
        udp_->async_send(asio::buffer(query_), [self, gen](const error_code& ec, size_t) {
            if (!self->current(gen)) return;
            if (ec) return self->next();
            self->receive_udp(gen);
        });
    }

    void receive_udp(unsigned gen) {
        buf_.resize(65535);
        auto self = shared_from_this();
        udp_->async_receive(asio::buffer(buf_), [self, gen](const error_code& ec, size_t n) {
            if (!self->current(gen)) return;
            if (ec) return self->next();  // e.g. refused: the upstream's port is closed
            self->buf_.resize(n);
            if (!self->is_reply(self->buf_)) return self->receive_udp(gen);  // a stray datagram: keep waiting
            self->finish(std::move(self->buf_));
        });
    }

    void try_tcp(const tcp::endpoint& ep, unsigned gen) {
        tcp_.emplace(f_.io_);
        error_code ec;
        tcp_->open(ep.protocol(), ec);
        if (ec) return next();
        set_cloexec(tcp_->native_handle());
        auto self = shared_from_this();
        tcp_->async_connect(ep, [self, gen](const error_code& ec) {
            if (!self->current(gen)) return;
            if (ec) return self->next();
            self->out_.clear();
            self->out_.push_back(static_cast<uint8_t>(self->query_.size() >> 8));
            self->out_.push_back(static_cast<uint8_t>(self->query_.size()));
            self->out_.insert(self->out_.end(), self->query_.begin(), self->query_.end());
            asio::async_write(*self->tcp_, asio::buffer(self->out_), [self, gen](const error_code& ec, size_t) {
                if (!self->current(gen)) return;
                if (ec) return self->next();
                self->read_tcp_length(gen);
            });
        });
    }

    void read_tcp_length(unsigned gen) {
        auto self = shared_from_this();
        asio::async_read(*tcp_, asio::buffer(len_), [self, gen](const error_code& ec, size_t) {
            if (!self->current(gen)) return;
            size_t len = static_cast<size_t>(self->len_[0] << 8 | self->len_[1]);
            if (ec || len < 12) return self->next();
            self->buf_.resize(len);
            asio::async_read(*self->tcp_, asio::buffer(self->buf_), [self, gen](const error_code& ec, size_t) {
                if (!self->current(gen)) return;
                if (ec || !self->is_reply(self->buf_)) return self->next();
                self->finish(std::move(self->buf_));
            });
        });
    }

    // A response carrying this try's id.
    bool is_reply(const std::vector<uint8_t>& r) const {
        return r.size() >= 12 && (r[0] << 8 | r[1]) == id_ && (r[2] & 0x80);
    }

    void finish(std::optional<std::vector<uint8_t>> reply) {
        if (over_) return;
        auto self = shared_from_this();
        cancel();
        if (reply) {
            (*reply)[0] = static_cast<uint8_t>(client_id_ >> 8);
            (*reply)[1] = static_cast<uint8_t>(client_id_);
        }
        f_.pending_.erase(self);
        Done done = std::move(done_);
        done(std::move(reply));
    }

    Forwarder& f_;
    std::vector<uint8_t> query_;
    uint16_t client_id_;
    uint16_t id_ = 0;
    Transport transport_;
    Done done_;
    size_t index_ = 0;
    unsigned gen_ = 0;
    bool over_ = false;
    std::optional<udp::socket> udp_;
    std::optional<tcp::socket> tcp_;
    asio::steady_timer timer_;
    std::vector<uint8_t> buf_, out_;
    uint8_t len_[2] = {};
};

Forwarder::Forwarder(asio::io_context& io, std::vector<SocketAddress> upstreams, std::chrono::milliseconds timeout,
                     size_t max_pending)
    : io_(io), upstreams_(std::move(upstreams)), timeout_(timeout), max_pending_(max_pending) {}

Forwarder::~Forwarder() { stop(); }

uint16_t Forwarder::random_id() { return static_cast<uint16_t>(random_()); }

bool Forwarder::forward(std::vector<uint8_t> query, Transport transport, Done done) {
    if (upstreams_.empty() || query.size() < 12 || pending_.size() >= max_pending_) return false;
    auto a = std::make_shared<Attempt>(*this, std::move(query), transport, std::move(done));
    pending_.insert(a);
    // Started from the io_context, so `done` never runs inside forward().
    asio::post(io_, [a] { a->start(); });
    return true;
}

void Forwarder::stop() {
    for (const auto& a : pending_) a->cancel();
    pending_.clear();
}

}  // namespace hl::dns
