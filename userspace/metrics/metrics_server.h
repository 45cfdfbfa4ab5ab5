// The Prometheus endpoint: GET /metrics over HTTP/1.1 (Boost.Beast's
// parser), on the daemon's io_context: no thread of its own, and no lock
// around what it reads (the maps, the health monitor, the daemon's
// counters). A scrape is written in chunks (Transfer-Encoding: chunked;
// HTTP/1.0 gets the body up to the close) as Scrape (scrape.h) produces
// them, each chunk a bounded amount of work, so a scrape of 65,536
// services, which takes a while, never holds the event loop for more than
// one chunk: the control API, DNS and health probes go on between chunks.
//
// Robustness: a request line and headers up to 8 KiB, no body; a
// connection that has not sent its request within read_timeout, or has not
// taken a chunk within write_timeout, is closed; at most max_connections
// at once (each scrape in progress holds its index, ~3 MB at 65,536
// services), more are answered 503 and closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/error.h"
#include "metrics/scrape.h"

namespace boost::asio {
class io_context;
}

namespace hl {

class MetricsServer {
public:
    struct Limits {
        size_t max_connections = 8;
        std::chrono::milliseconds read_timeout{10'000};
        std::chrono::milliseconds write_timeout{30'000};
        size_t chunk = 64 * 1024;  // bytes of text per chunk written
    };

    // listen: "ADDR:PORT" or "[V6]:PORT"; port 0 picks a free port. The
    // inputs must outlive the server.
    static Result<std::unique_ptr<MetricsServer>> start(boost::asio::io_context& io, const std::string& listen,
                                                        ScrapeInputs inputs, Limits limits);
    static Result<std::unique_ptr<MetricsServer>> start(boost::asio::io_context& io, const std::string& listen,
                                                        ScrapeInputs inputs) {
        return start(io, listen, inputs, Limits{});
    }
    // Closes the listener and every connection (a scrape in progress ends
    // there). Destroy on the io_context's thread, before the io_context.
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // "http://ADDR:PORT/metrics" with the port actually bound.
    std::string url() const;
    size_t connections() const;

    struct State;  // shared with the connections (metrics_server.cpp)

private:
    explicit MetricsServer(std::shared_ptr<State> st) : st_(std::move(st)) {}
    std::shared_ptr<State> st_;
};

}  // namespace hl
