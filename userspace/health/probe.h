// One active health probe of one backend: a TCP connect, or an HTTP/1.1 GET
// of the check's path whose status is 2xx or 3xx (only the response head is
// read), all within the check's timeout. Runs on the daemon's io_context and
// never blocks it; a socket for another network namespace is handed in.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "common/unique_fd.h"
#include "health/tracker.h"

namespace hl::health {

class NetnsSockets;

class Probe {
public:
    using Done = std::function<void(ProbeResult)>;
    // Starts the probe; `done` runs once, on `io`, unless cancel() came first.
    // `netns`: make the socket there (nullptr: in the daemon's namespace).
    static std::shared_ptr<Probe> start(boost::asio::io_context& io, const Endpoint& target, const HealthCheck& check,
                                        NetnsSockets* netns, Done done);
    virtual ~Probe() = default;
    // Ends it now; `done` is not called.
    virtual void cancel() = 0;
};

}  // namespace hl::health
