// glibc keeps what the process frees for its own reuse instead of giving it
// back to the kernel: the peak of a config load (the parsed config next to
// the reconciler's state, validation and apply scratch) or of a /metrics
// scrape would stay resident for good. The daemon hands the free pages back.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace hl {

// malloc_trim(0): every arena, and free pages inside the heap, not only at its top.
void give_back_free_heap();

// Gives the free heap back when the scope ends, on every return path.
class GiveBackFreeHeapOnExit {
public:
    GiveBackFreeHeapOnExit() = default;
    GiveBackFreeHeapOnExit(const GiveBackFreeHeapOnExit&) = delete;
    GiveBackFreeHeapOnExit& operator=(const GiveBackFreeHeapOnExit&) = delete;
    ~GiveBackFreeHeapOnExit() { give_back_free_heap(); }
};

// Gives the free heap back at a steady pace: what an apply, a burst of API
// calls or a /metrics scrape (its index of services and backends) freed
// where the daemon has no hook of its own. A trim costs about 1 ms even
// over hundreds of MB of free heap.
class PeriodicHeapTrim {
public:
    PeriodicHeapTrim(boost::asio::io_context& io, std::chrono::milliseconds every) : timer_(io), every_(every) {}
    void start();

private:
    boost::asio::steady_timer timer_;
    std::chrono::milliseconds every_;
};

}  // namespace hl
