#include "metrics/metrics_server.h"

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <algorithm>
#include <chrono>
#include <set>
#include <spdlog/spdlog.h>

#include "common/phase_deadline.h"
#include "dns/asio_address.h"

namespace hl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kHeaderLimit = 8 * 1024;
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";
}  // namespace

class MetricsConnection;

struct MetricsServer::State {
    State(asio::io_context& io, ScrapeInputs in, Limits l) : inputs(in), limits(l), acceptor(io), retry(io) {}
    ScrapeInputs inputs;
    Limits limits;
    tcp::acceptor acceptor;
    asio::steady_timer retry;  // after an accept error (EMFILE...), try again later, not in a loop
    std::set<MetricsConnection*> live;
    bool stopped = false;
    std::string url;
};

// One client connection: requests one after another (keep-alive), each
// answered before the next is read. Every pending operation holds the
// connection (shared_ptr); closing the socket ends them all.
class MetricsConnection : public std::enable_shared_from_this<MetricsConnection> {
public:
    MetricsConnection(std::shared_ptr<MetricsServer::State> st, tcp::socket sock)
        : st_(std::move(st)), sock_(std::move(sock)), deadline_(sock_.get_executor()) {
        st_->live.insert(this);
    }
    ~MetricsConnection() { st_->live.erase(this); }

    void start() { read_request(); }
    void stop() {
        boost::system::error_code ec;
        deadline_.cancel();
        sock_.close(ec);
    }

private:
    // Each phase (reading a request, writing a piece) has its own deadline.
    void deadline(std::chrono::milliseconds d) {
        deadline_.arm(d, [self = shared_from_this()] { self->stop(); });
    }

    void read_request() {
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(0);
        deadline(st_->limits.read_timeout);
        http::async_read(sock_, buf_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
            self->on_request(ec);
        });
    }

    void on_request(beast::error_code ec) {
        if (st_->stopped) return;
        if (ec) {
            // A stream that ended, or broke, has no one to answer; HTTP we
            // do not take is told why.
            const bool http_error = ec.category() == http::make_error_code(http::error::bad_target).category();
            if (!http_error || ec == http::error::end_of_stream || ec == http::error::partial_message) return stop();
            return reply(ec == http::error::header_limit ? 431 : 400, "bad request: " + ec.message() + "\n", false);
        }
        const auto& req = parser_->get();
        keep_alive_ = req.keep_alive();
        http11_ = req.version() >= 11;
        std::string_view target(req.target().data(), req.target().size());
        if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        if (target != "/metrics") return reply(404, "not found: the metrics are at /metrics\n", keep_alive_);
        if (req.method() != http::verb::get && req.method() != http::verb::head)
            return reply(405, "method not allowed: GET or HEAD\n", keep_alive_, "Allow: GET, HEAD\r\n");
        head_only_ = req.method() == http::verb::head;
        // HTTP/1.0 knows no chunks: its body ends with the connection.
        if (!http11_) keep_alive_ = false;
        std::string h = "HTTP/1.1 200 OK\r\nServer: hoplessd\r\nContent-Type: ";
        h += kContentType;
        h += "\r\n";
        if (http11_) h += "Transfer-Encoding: chunked\r\n";
        if (!keep_alive_) h += "Connection: close\r\n";
        h += "\r\n";
        out_ = std::move(h);
        if (head_only_) return write_last();
        scrape_.emplace(st_->inputs);
        stats_ = Stats{};
        write(std::move(out_), [](MetricsConnection& c) { c.next_chunk(); });
    }

    // The next piece of the text: written when there is some, else the
    // scrape goes on after whatever else the event loop has to do.
    void next_chunk() {
        std::string text;
        text.reserve(st_->limits.chunk + 4096);
        const auto t0 = std::chrono::steady_clock::now();
        bool more = scrape_->fill(text, st_->limits.chunk);
        const auto took = std::chrono::steady_clock::now() - t0;
        stats_.longest = std::max(stats_.longest, took);
        stats_.bytes += text.size();
        ++stats_.steps;
        if (text.empty() && more) {
            asio::post(sock_.get_executor(), [self = shared_from_this()] {
                if (!self->st_->stopped) self->next_chunk();
            });
            return;
        }
        if (http11_ && !text.empty()) {
            char size[24];
            int n = std::snprintf(size, sizeof size, "%zx\r\n", text.size());
            text.insert(0, size, static_cast<size_t>(n));
            text += "\r\n";
        }
        if (more) return write(std::move(text), [](MetricsConnection& c) { c.next_chunk(); });
        using ms = std::chrono::duration<double, std::milli>;
        spdlog::debug("metrics: a scrape of {} services and {} backends: {} bytes in {} steps, {:.1f} ms; the longest "
                      "step {:.2f} ms",
                      scrape_->services(), scrape_->backends(), stats_.bytes, stats_.steps,
                      ms(std::chrono::steady_clock::now() - stats_.start).count(), ms(stats_.longest).count());
        scrape_.reset();
        if (http11_) text += "0\r\n\r\n";
        write(std::move(text), [](MetricsConnection& c) { c.done(); });
    }

    void write_last() {
        write(std::move(out_), [](MetricsConnection& c) { c.done(); });
    }

    void reply(unsigned status, std::string body, bool keep_alive, const std::string& extra = "") {
        const char* reason = status == 404 ? "Not Found" : status == 405 ? "Method Not Allowed"
                             : status == 431 ? "Request Header Fields Too Large"
                             : status == 503 ? "Service Unavailable" : "Bad Request";
        keep_alive_ = keep_alive;
        out_ = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nServer: hoplessd\r\n" + extra +
               "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
               (keep_alive ? "" : "Connection: close\r\n") + "\r\n" + body;
        write_last();
    }

    // After the whole response: the next request, or the end.
    void done() {
        if (!keep_alive_) {
            boost::system::error_code ignored;
            sock_.shutdown(tcp::socket::shutdown_send, ignored);
            return stop();
        }
        read_request();
    }

    template <class Then>
    void write(std::string text, Then then) {
        pending_ = std::move(text);
        deadline(st_->limits.write_timeout);
        asio::async_write(sock_, asio::buffer(pending_), [self = shared_from_this(), then](beast::error_code ec, size_t) {
            self->deadline_.done();
            if (ec || self->st_->stopped) return self->stop();
            then(*self);
        });
    }

    std::shared_ptr<MetricsServer::State> st_;
    tcp::socket sock_;
    PhaseDeadline deadline_;
    beast::flat_buffer buf_;
    std::optional<http::request_parser<http::empty_body>> parser_;
    std::optional<Scrape> scrape_;
    std::string out_, pending_;
    bool keep_alive_ = false, http11_ = true, head_only_ = false;
    struct Stats {  // of the scrape in progress, for the debug log
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        std::chrono::steady_clock::duration longest{};
        size_t bytes = 0, steps = 0;
    } stats_;
};

namespace {

void accept_next(const std::shared_ptr<MetricsServer::State>& st) {
    st->acceptor.async_accept([st](const boost::system::error_code& ec, tcp::socket sock) {
        if (st->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
            spdlog::warn("metrics: accept: {}", ec.message());
            st->retry.expires_after(std::chrono::milliseconds(100));
            st->retry.async_wait([st](const boost::system::error_code& e) {
                if (!e && !st->stopped) accept_next(st);
            });
            return;
        }
        dns::set_cloexec(sock.native_handle());
        if (st->live.size() >= st->limits.max_connections) {
            // Over the cap: say why, without waiting on the peer, and close.
            static const std::string busy =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n"
                "Connection: close\r\n\r\ntoo many metrics connections\n";
            [[maybe_unused]] ssize_t n =
                ::send(sock.native_handle(), busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            boost::system::error_code ignored;
            sock.close(ignored);
        } else {
            std::make_shared<MetricsConnection>(st, std::move(sock))->start();
        }
        accept_next(st);
    });
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(asio::io_context& io, const std::string& listen,
                                                            ScrapeInputs inputs, Limits limits) {
    auto colon = listen.rfind(':');
    auto addr = colon == std::string::npos ? std::nullopt : IpAddress::parse(listen.substr(0, colon));
    unsigned long port = 65536;
    if (colon != std::string::npos) {
        const std::string p = listen.substr(colon + 1);
        char* end = nullptr;
        if (!p.empty()) port = std::strtoul(p.c_str(), &end, 10);
        if (p.empty() || *end) port = 65536;
    }
    if (!addr || port > 65535) return Error{"metrics.listen '" + listen + "' is not ADDRESS:PORT", 0};
    auto st = std::make_shared<State>(io, inputs, limits);
    tcp::endpoint ep(dns::to_asio(*addr), static_cast<uint16_t>(port));
    boost::system::error_code ec;
    auto fail = [&](const char* what) { return Error{"cannot listen on " + listen + ": " + what + ": " + ec.message(), 0}; };
    if (st->acceptor.open(ep.protocol(), ec); ec) return fail("socket");
    dns::set_cloexec(st->acceptor.native_handle());
    st->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (st->acceptor.bind(ep, ec); ec) return fail("bind");
    if (st->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
    const auto bound = st->acceptor.local_endpoint(ec);
    const std::string host = addr->is_v4() ? addr->to_string() : "[" + addr->to_string() + "]";
    st->url = "http://" + host + ":" + std::to_string(ec ? port : bound.port()) + "/metrics";
    accept_next(st);
    return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(st)));
}

MetricsServer::~MetricsServer() {
    st_->stopped = true;
    boost::system::error_code ec;
    st_->acceptor.close(ec);
    st_->retry.cancel();
    for (MetricsConnection* c : st_->live) c->stop();
}

std::string MetricsServer::url() const { return st_->url; }
size_t MetricsServer::connections() const { return st_->live.size(); }

}  // namespace hl
