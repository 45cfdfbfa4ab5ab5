// hoplessd under systemd (Type=notify): READY=1 once the first config is
// applied, STATUS= with a one-line summary after each apply, WATCHDOG=1 from
// the daemon's io_context while it turns (when the unit sets WatchdogSec=).
// Not started by systemd (no NOTIFY_SOCKET): every call does nothing.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

namespace hl {

class SystemdNotifier {
public:
    explicit SystemdNotifier(boost::asio::io_context& io) : watchdog_(io) {}

    // READY=1 and STATUS=; starts the watchdog pings. systemd arms the
    // watchdog once the service is ready, so the first apply, however long,
    // is not raced against it.
    void ready(const std::string& status);
    void status(const std::string& status);
    void stopping();

private:
    void ping();

    boost::asio::steady_timer watchdog_;
    std::chrono::microseconds interval_{0};
};

}  // namespace hl
