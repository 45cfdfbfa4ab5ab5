// One deadline per phase of a connection (reading a request, writing a
// response): arming the next phase replaces the last one's, and a timer that
// fires after its phase ended does nothing. The control API and /metrics
// connections use it, so a slow or half-open client is closed in bounded time.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>

namespace hl {

class PhaseDeadline {
public:
    explicit PhaseDeadline(const boost::asio::any_io_executor& ex) : timer_(ex) {}

    // A new phase that must end within d, else on_expiry runs. on_expiry
    // holds the connection (its shared_ptr), and with it this object.
    template <class F>
    void arm(std::chrono::milliseconds d, F on_expiry) {
        ++phase_;
        timer_.expires_after(d);
        timer_.async_wait([this, phase = phase_, f = std::move(on_expiry)](const boost::system::error_code& ec) {
            if (!ec && phase == phase_) f();
        });
    }
    // The phase ended in time.
    void done() {
        ++phase_;
        timer_.cancel();
    }
    void cancel() { timer_.cancel(); }

private:
    boost::asio::steady_timer timer_;
    uint64_t phase_ = 0;
};

}  // namespace hl
