// Sends queries for names outside the zone to the upstreams, on the
// io_context: each upstream in turn until one answers, UDP queries over UDP
// and TCP queries over TCP. Every try goes out with a fresh random id from a
// fresh socket (a random source port), so replies cannot be confused or
// easily spoofed; the reply comes back with the client's id.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "dns/responder.h"
#include "model/address.h"

namespace hl::dns {

class Forwarder {
public:
    // The upstream's reply with the client's id, or nullopt when every
    // upstream failed (timed out, refused, or answered garbage).
    using Done = std::function<void(std::optional<std::vector<uint8_t>> reply)>;

    Forwarder(boost::asio::io_context& io, std::vector<SocketAddress> upstreams, std::chrono::milliseconds timeout,
              size_t max_pending);
    ~Forwarder();
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    // Starts forwarding `query` (at least a 12-byte header); `done` runs on
    // the io_context once. False, and no call of `done`, when max_pending
    // queries are already under way.
    bool forward(std::vector<uint8_t> query, Transport transport, Done done);
    // Cancels every query under way; their `done` is never called.
    void stop();
    size_t pending() const { return pending_.size(); }

private:
    class Attempt;
    friend class Attempt;
    uint16_t random_id();

    boost::asio::io_context& io_;
    std::vector<SocketAddress> upstreams_;
    std::chrono::milliseconds timeout_;
    size_t max_pending_;
    std::random_device random_;
    std::set<std::shared_ptr<Attempt>> pending_;
};

}  // namespace hl::dns
