// Sockets made inside another network namespace, for health probes from
// `health_check.netns`. A socket belongs to the namespace it was made in,
// whatever thread uses it later; so a worker thread enters the namespace
// once (setns() moves only the calling thread: the daemon's event loop
// never leaves its own) and makes sockets on request. The answer comes back
// on the daemon's io_context, where the probe connects the socket as any
// other. One worker per namespace, shared by every service that names it.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"

namespace hl::health {

// "/run/netns/NAME" for a name (as `ip netns add` makes them), a path as given.
std::string netns_path(const std::string& netns);

class NetnsSockets {
public:
    // Opens the namespace and starts the worker inside it; the error names
    // the namespace (missing, or setns refused: CAP_SYS_ADMIN).
    static Result<std::unique_ptr<NetnsSockets>> open(boost::asio::io_context& home, const std::string& netns);
    ~NetnsSockets();
    NetnsSockets(const NetnsSockets&) = delete;
    NetnsSockets& operator=(const NetnsSockets&) = delete;

    // A new SOCK_STREAM socket of `family` (AF_INET, AF_INET6) in the
    // namespace; `done` runs on `home`. If this object goes first, `done`
    // may never run (the probe's own deadline covers that).
    void make_socket(int family, std::function<void(Result<UniqueFd>)> done);
    // Whether the path still names the namespace the worker is in (an
    // `ip netns del` + `add` makes another one under the same name).
    bool current() const;
    const std::string& path() const { return path_; }

private:
    NetnsSockets(boost::asio::io_context& home) : home_(home), work_(worker_io_.get_executor()) {}
    boost::asio::io_context& home_;
    boost::asio::io_context worker_io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread worker_;
    std::string path_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
};

}  // namespace hl::health
