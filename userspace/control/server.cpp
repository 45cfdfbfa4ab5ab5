#include "control/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <filesystem>
#include <optional>
#include <set>
#include <spdlog/spdlog.h>
#include <sstream>

#include "common/phase_deadline.h"
#include "common/unique_fd.h"
#include "control/http_exchange.h"

namespace hl::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
using local = asio::local::stream_protocol;

class Connection;

struct ControlServer::State {
    State(asio::io_context& io, Handler& h, Limits l) : handler(h), limits(l), acceptor(io), retry(io) {}
    Handler& handler;
    Limits limits;
    local::acceptor acceptor;
    asio::steady_timer retry;  // after an accept error (EMFILE...), try again later, not in a loop
    std::set<Connection*> live;
    bool stopped = false;
    dev_t dev = 0;
    ino_t ino = 0;
};

namespace {

const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::optional<uid_t> peer_uid(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
    return cred.uid;
}

}  // namespace

// One client connection: requests read one after another (keep-alive), each
// answered before the next is read. Every pending operation holds the
// connection (shared_ptr); closing the socket ends them all.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(std::shared_ptr<ControlServer::State> st, local::socket sock)
        : st_(std::move(st)), sock_(std::move(sock)), deadline_(sock_.get_executor()),
          uid_(peer_uid(sock_.native_handle())) {
        st_->live.insert(this);
    }
    ~Connection() { st_->live.erase(this); }

    void start() { read_request(); }
    void stop() {
        boost::system::error_code ec;
        deadline_.cancel();
        sock_.close(ec);
    }

private:
    // Each phase (reading a request, writing a response) has its own deadline.
    void deadline(std::chrono::milliseconds d) {
        deadline_.arm(d, [self = shared_from_this()] { self->stop(); });
    }
    void phase_done() { deadline_.done(); }

    void read_request() {
        parser_.emplace();
        set_limits(*parser_);
        deadline(st_->limits.read_timeout);
        http::async_read_header(sock_, buf_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
            self->on_header(ec);
        });
    }

    void on_header(beast::error_code ec) {
        if (ec) return on_error(ec);
        if (parser_->is_done()) return on_request({});
        // curl asks before sending a body over 1 KiB; say yes (a body over the
        // limit was already refused with the header).
        if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
            asio::async_write(sock_, asio::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
                if (ec) return self->on_error(ec);
                self->read_body();
            });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(sock_, buf_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
    }

    void on_request(beast::error_code ec) {
        if (ec) return on_error(ec);
        phase_done();
        if (st_->stopped) return;  // the server (and maybe its Handler) is gone
        // The answer may come later (a service definition goes to etcd);
        // the connection waits for it, reading nothing meanwhile.
        respond(parser_->get(), uid_, st_->handler, [self = shared_from_this()](HttpResponse res) {
            if (self->st_->stopped) return;
            self->res_ = std::move(res);
            self->write();
        });
    }

    void on_error(beast::error_code ec) {
        phase_done();
        if (st_->stopped) return;
        auto res = refuse(ec);
        if (!res) return stop();
        res_ = std::move(*res);
        write();
    }

    void write() {
        deadline(st_->limits.write_timeout);
        http::async_write(sock_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
            self->phase_done();
            if (ec || !self->res_.keep_alive() || self->st_->stopped) {
                boost::system::error_code ignored;
                self->sock_.shutdown(local::socket::shutdown_send, ignored);
                return self->stop();
            }
            self->read_request();
        });
    }

    std::shared_ptr<ControlServer::State> st_;
    local::socket sock_;
    PhaseDeadline deadline_;
    std::optional<uid_t> uid_;
    beast::flat_buffer buf_;
    std::optional<RequestParser> parser_;
    HttpResponse res_;
};

namespace {

// Over the cap: say why, without waiting on the peer, and close.
void refuse_busy(local::socket& sock) {
    std::ostringstream out;
    out << make_response(Reply::error(503, "too many connections to the control socket"), 11, false);
    std::string text = out.str();
    [[maybe_unused]] ssize_t n = ::send(sock.native_handle(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    boost::system::error_code ec;
    sock.close(ec);
}

void accept_next(const std::shared_ptr<ControlServer::State>& st) {
    st->acceptor.async_accept([st](const boost::system::error_code& ec, local::socket sock) {
        if (st->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
            spdlog::warn("control socket: accept: {}", ec.message());
            st->retry.expires_after(std::chrono::milliseconds(100));
            st->retry.async_wait([st](const boost::system::error_code& e) {
                if (!e && !st->stopped) accept_next(st);
            });
            return;
        }
        if (st->live.size() >= st->limits.max_connections) refuse_busy(sock);
        else std::make_shared<Connection>(st, std::move(sock))->start();
        accept_next(st);
    });
}

Status make_parent_dirs(const std::filesystem::path& dir) {
    if (dir.empty() || std::filesystem::exists(dir)) return ok_status();
    if (auto st = make_parent_dirs(dir.parent_path()); !st) return st;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("cannot create " + dir.string());
    ::chmod(dir.c_str(), 0755);  // whatever the umask said
    return ok_status();
}

// A socket file left by a daemon that died is removed; one that somebody
// still listens on, or a file that is not a socket, is not ours to take.
Status clear_stale(const std::string& path) {
    struct stat sb{};
    if (::lstat(path.c_str(), &sb) != 0) {
        if (errno == ENOENT) return ok_status();
        return sys_error("control socket " + path);
    }
    if (!S_ISSOCK(sb.st_mode)) return Error{"control socket " + path + " exists and is not a socket", 0};
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket");
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, sizeof sa.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0)
        return Error{"control socket " + path + ": another process listens on it (is hoplessd already running?)", 0};
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove stale socket " + path);
    return ok_status();
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::start(asio::io_context& io, std::string path, Handler& handler,
                                                            Limits limits) {
    if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path))
        return Error{"control socket '" + path + "': a Unix socket path is 1-" +
                         std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes",
                     0};
    if (auto st = make_parent_dirs(std::filesystem::path(path).parent_path()); !st) return st.error();
    if (auto st = clear_stale(path); !st) return st.error();

    auto state = std::make_shared<State>(io, handler, limits);
    boost::system::error_code ec;
    local::endpoint ep(path);
    if (state->acceptor.open(ep.protocol(), ec); ec) return Error{"control socket " + path + ": socket", ec.value()};
    if (state->acceptor.bind(ep, ec); ec) return Error{"control socket " + path + ": bind", ec.value()};
    // Root only: the mode keeps others from connecting at all; the peer
    // check in route() covers the moment between bind and chmod.
    auto undo = [&](Error e) {
        ::unlink(path.c_str());
        return e;
    };
    if (::chmod(path.c_str(), 0600) != 0) return undo(sys_error("control socket " + path + ": chmod 0600"));
    if (::geteuid() == 0 && ::chown(path.c_str(), 0, 0) != 0)
        return undo(sys_error("control socket " + path + ": chown root"));
    struct stat sb{};
    if (::stat(path.c_str(), &sb) != 0) return undo(sys_error("control socket " + path));
    state->dev = sb.st_dev;
    state->ino = sb.st_ino;
    if (state->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec)
        return undo(Error{"control socket " + path + ": listen", ec.value()});
    accept_next(state);
    return std::unique_ptr<ControlServer>(new ControlServer(std::move(path), std::move(state)));
}

ControlServer::ControlServer(std::string path, std::shared_ptr<State> state)
    : path_(std::move(path)), state_(std::move(state)) {}

ControlServer::~ControlServer() {
    state_->stopped = true;
    boost::system::error_code ec;
    state_->acceptor.close(ec);
    state_->retry.cancel();
    for (Connection* c : state_->live) c->stop();
    // Only the file this server made: a newer daemon may own the path now.
    struct stat sb{};
    if (::lstat(path_.c_str(), &sb) == 0 && sb.st_dev == state_->dev && sb.st_ino == state_->ino)
        ::unlink(path_.c_str());
}

size_t ControlServer::connections() const { return state_->live.size(); }

}  // namespace hl::control
