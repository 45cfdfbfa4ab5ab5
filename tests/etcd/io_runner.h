// Drives an io_context on the test's thread: the thread that owns the
// EtcdClient, as the daemon's does. Waits are bounded.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "common/error.h"

namespace hlt {

class IoRunner {
public:
    boost::asio::io_context io;

    // Runs handlers until pred() holds; false after `timeout`.
    template <class Pred>
    bool until(Pred pred, std::chrono::milliseconds timeout) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            auto now = std::chrono::steady_clock::now();
            if (now >= end) return false;
            io.run_one_for(std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::milliseconds(20)));
        }
        return true;
    }

    // Runs handlers for `d` (time passing, with the client at work).
    void run_for(std::chrono::milliseconds d) {
        until([] { return false; }, d);
    }

    // Starts an asynchronous call (start(callback)) and waits for its result.
    template <class T, class Start>
    hl::Result<T> call(Start start, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
        // Shared: an answer that comes after the timeout must not write to a gone frame.
        auto out = std::make_shared<std::optional<hl::Result<T>>>();
        start([out](hl::Result<T> r) { out->emplace(std::move(r)); });
        if (!until([&] { return out->has_value(); }, timeout)) return hl::Error{"test: no answer in time"};
        return std::move(**out);
    }

private:
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{io.get_executor()};
};

}  // namespace hlt
