// EtcdClient: etcd's v3 gRPC API (KV, Watch, Lease) for the daemon.
//
// Threading: every method is called on the io_context's thread, and every
// callback runs there (gRPC's own threads only post results to it), so the
// state behind the callbacks needs no locks. No callback runs after the
// client is destroyed. Destroy the client on the io thread (or after the
// io_context stopped running), before the io_context.
//
// Endpoints: one gRPC channel per endpoint. Calls go to the current one; a
// call that finds it unreachable (UNAVAILABLE) or silent (DEADLINE_EXCEEDED)
// moves the client on to the next. Reads are retried on the other endpoints
// within their deadline; writes are not (a write that timed out may have been
// applied): their error goes to the caller. Streams (watches, keep-alives)
// reconnect by themselves, to the next endpoint, with a backoff.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "etcd/types.h"

namespace hl::etcd {

struct ClientOptions {
    std::vector<std::string> endpoints;  // "http://HOST:PORT"; see parse_endpoint
    std::chrono::milliseconds request_timeout{5000};  // deadline of each unary call
    // Streams: reconnect delay, doubling up to the max.
    std::chrono::milliseconds reconnect_min{250};
    std::chrono::milliseconds reconnect_max{2000};
    // A watch stream that has said nothing for this long is asked for its
    // progress; one that answers nothing for another interval is replaced
    // (a stopped or partitioned member keeps its TCP connection open).
    std::chrono::milliseconds watch_check_interval{5000};
    // gRPC's connection attempt timeout (a SIGSTOPped member accepts TCP but
    // never speaks HTTP/2) and HTTP/2 keepalive pings (etcd refuses pings
    // more often than every 5 s by default).
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds keepalive_time{10000};
};

template <class T>
using Callback = std::function<void(Result<T>)>;

namespace detail {
class Core;
// A running watch or keep-alive, stopped through its handle.
class Stoppable {
public:
    virtual ~Stoppable() = default;
    virtual void stop() = 0;
};
}  // namespace detail

// Owns a watch or a keep-alive loop: destroying (or reset()) stops it, and
// its callbacks stop with it. Movable, not copyable. Outliving the client is
// allowed (it then does nothing).
class StreamHandle {
public:
    StreamHandle() = default;
    explicit StreamHandle(std::weak_ptr<detail::Stoppable> s) : s_(std::move(s)) {}
    StreamHandle(StreamHandle&&) noexcept = default;
    StreamHandle& operator=(StreamHandle&& o) noexcept {
        if (this != &o) {
            reset();
            s_ = std::move(o.s_);
        }
        return *this;
    }
    StreamHandle(const StreamHandle&) = delete;
    StreamHandle& operator=(const StreamHandle&) = delete;
    ~StreamHandle() { reset(); }
    void reset() {
        if (auto s = s_.lock()) s->stop();
        s_.reset();
    }
    explicit operator bool() const { return !s_.expired(); }

private:
    std::weak_ptr<detail::Stoppable> s_;
};
using WatchHandle = StreamHandle;
using KeepAliveHandle = StreamHandle;

class EtcdClient {
public:
    // Fails only on a bad option (an endpoint that does not parse, none at
    // all); connecting happens on the first call.
    static Result<std::unique_ptr<EtcdClient>> create(boost::asio::io_context& io, ClientOptions opts);
    ~EtcdClient();  // cancels every call and stream and waits until gRPC lets go of them
    EtcdClient(const EtcdClient&) = delete;
    EtcdClient& operator=(const EtcdClient&) = delete;

    // ---- KV
    void range(std::string key, RangeOptions opts, Callback<RangeResult> cb);
    void put(std::string key, std::string value, int64_t lease, Callback<PutResult> cb);
    void del(std::string key, bool prefix, Callback<DeleteResult> cb);
    void txn(Txn t, Callback<TxnResult> cb);
    // Compare-and-swap helpers (one Txn each; the failure branch reads the key):
    // put only if the key does not exist (create_revision == 0),
    void create_if_absent(std::string key, std::string value, int64_t lease, Callback<CasResult> cb);
    // put only if the key's mod_revision is still `mod_revision`,
    void update_if_unchanged(std::string key, std::string value, int64_t mod_revision, int64_t lease,
                             Callback<CasResult> cb);
    // delete only if the key's mod_revision is still `mod_revision`.
    void delete_if_unchanged(std::string key, int64_t mod_revision, Callback<CasResult> cb);
    // Drops history before `revision` (watches from older revisions see Compacted).
    void compact(int64_t revision, bool physical, Callback<int64_t> cb);

    // ---- Lease
    void lease_grant(int64_t ttl_seconds, Callback<LeaseGrant> cb);
    void lease_revoke(int64_t id, Callback<Ok> cb);
    void lease_time_to_live(int64_t id, bool keys, Callback<LeaseInfo> cb);
    // Renews the lease every ttl/3 until the handle goes. on_lost runs (once,
    // and the loop ends) when etcd says the lease is gone: a keep-alive
    // answered with TTL <= 0, or NOT_FOUND. Unreachable etcd is not "lost":
    // the loop keeps trying the endpoints, and the answer once one is back
    // decides. on_renewed (optional) gets each renewal's TTL.
    KeepAliveHandle keep_alive(int64_t id, int64_t ttl_seconds, std::function<void(const Error&)> on_lost,
                               std::function<void(int64_t ttl)> on_renewed = {});

    // ---- Watch
    // Events of `opts.key` (a prefix by default) from opts.start_revision on,
    // in order, each exactly once, across reconnects (WatchStatus explains).
    WatchHandle watch(WatchOptions opts, std::function<void(WatchBatch)> on_events,
                      std::function<void(const WatchStatus&)> on_status);

    // The endpoint calls go to now ("http://..."), for logs.
    const std::string& current_endpoint() const;

private:
    explicit EtcdClient(std::shared_ptr<detail::Core> core);
    std::shared_ptr<detail::Core> core_;
};

}  // namespace hl::etcd
