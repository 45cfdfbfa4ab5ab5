#include "health/netns_sockets.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <future>

namespace hl::health {

std::string netns_path(const std::string& netns) {
    return !netns.empty() && netns[0] == '/' ? netns : "/run/netns/" + netns;
}

Result<std::unique_ptr<NetnsSockets>> NetnsSockets::open(boost::asio::io_context& home, const std::string& netns) {
    std::unique_ptr<NetnsSockets> s(new NetnsSockets(home));
    s->path_ = netns_path(netns);
    UniqueFd fd(::open(s->path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return sys_error("health_check.netns: cannot open " + s->path_);
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return sys_error("health_check.netns: " + s->path_);
    s->dev_ = st.st_dev;
    s->ino_ = st.st_ino;
    // The worker reports whether it got in before it serves anything: a
    // wait of one thread start, once per namespace, when a config names it.
    std::promise<int> entered;
    auto got_in = entered.get_future();
    s->worker_ = std::thread([w = s.get(), nsfd = std::move(fd), &entered]() mutable {
        int err = ::setns(nsfd.get(), CLONE_NEWNET) == 0 ? 0 : errno;
        nsfd.reset();
        entered.set_value(err);
        if (err) return;
        w->worker_io_.run();
    });
    if (int err = got_in.get(); err) {
        s->worker_.join();
        s->work_.reset();
        return Error{"health_check.netns: cannot enter " + s->path_ + " (setns needs CAP_SYS_ADMIN)", err};
    }
    return s;
}

NetnsSockets::~NetnsSockets() {
    work_.reset();
    worker_io_.stop();
    if (worker_.joinable()) worker_.join();
}

void NetnsSockets::make_socket(int family, std::function<void(Result<UniqueFd>)> done) {
    boost::asio::post(worker_io_, [this, family, done = std::move(done)]() mutable {
        UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        Result<UniqueFd> r = fd.valid() ? Result<UniqueFd>(std::move(fd))
                                        : Result<UniqueFd>(sys_error("socket() in network namespace " + path_));
        boost::asio::post(home_, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    });
}

bool NetnsSockets::current() const {
    struct stat st{};
    return ::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
}

}  // namespace hl::health
