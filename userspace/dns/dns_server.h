// The DNS server: for each dns.listen address a UDP socket and a TCP
// listener, on the daemon's io_context (no threads of its own). Queries go
// to the Responder; those it forwards go to the upstreams (Forwarder).
//
// TCP (RFC 7766): length-prefixed messages, several queries one after the
// other on a connection, which closes after an idle timeout; connections
// beyond a cap are closed at once.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "common/error.h"
#include "dns/directory.h"
#include "dns/query_counters.h"
#include "model/config.h"

namespace hl::dns {

struct DnsServerLimits {
    std::chrono::milliseconds upstream_timeout{2000};  // per upstream, then the next; all failed: SERVFAIL
    std::chrono::milliseconds tcp_idle_timeout{10000};  // a TCP connection with nothing to read or write
    size_t max_tcp_connections = 256;
    size_t max_forwards = 1024;  // queries waiting on upstreams; beyond: SERVFAIL at once
};

class DnsServer {
public:
    // Binds every dns.listen address (UDP and TCP) or fails naming the one
    // that cannot be bound. A port 0 (tests) binds UDP to a port the kernel
    // picks and TCP to the same port. `directory` must outlive the server,
    // and so must `counters` when given (the daemon's, read by a scrape on
    // another thread and kept across a restart of the responder).
    static Result<std::unique_ptr<DnsServer>> start(boost::asio::io_context& io, const DnsConfig& config,
                                                    const Directory& directory, const DnsServerLimits& limits = {},
                                                    QueryCounters* counters = nullptr);
    // Closes every socket; queries under way are dropped. Destroy it on the
    // io_context's thread (or with the io_context not running), before the
    // io_context. A changed dns: block (SIGHUP) means a new server: this one
    // destroyed first, as its addresses are bound.
    ~DnsServer();
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;

    // The addresses bound, in dns.listen order, with the ports actually bound.
    const std::vector<SocketAddress>& endpoints() const;
    // The replies sent, by rcode (hopless_dns_queries_total{rcode}).
    const QueryCounters& counters() const;

private:
    struct Impl;
    friend class TcpSession;
    explicit DnsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<Impl> impl_;
};

}  // namespace hl::dns
