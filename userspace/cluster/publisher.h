// This host's registrations, published in etcd under one lease
// (docs/ETCD.md "Writes" and "Leases"):
//
//   <prefix>/v1/hosts/<host>                        {"instance", "pid", "started"}
//   <prefix>/v1/endpoints/<ns>/<name>/<host>/<id>   {"address", "port", "weight"}
//
// both under the host's lease (lease_ttl, kept alive every ttl/3), so that
// a host that dies takes its endpoints with it once the lease runs out.
//
// - At start the host claims its record: absent -> a new lease and the
//   record created (create-if-absent); present with this daemon's instance
//   (a restart, kill -9 included) -> its lease is adopted, so the endpoints
//   never leave the other hosts, and the lease's keys that are no longer
//   registered here are deleted (the own-key sweep); present with another
//   instance -> another live daemon has this host name: nothing is
//   published (logged) until that record's lease ends.
// - Then every registration is put, and each change after (register,
//   weight, deregister, TTL expiry) is a put or delete of its key.
// - The registry is the truth: a write that fails (etcd away) stays
//   pending and is retried with a backoff; registrations go on locally
//   meanwhile. Pending changes are names, not values: what is written is
//   what the registry holds when the write goes out.
// - Lease lost (etcd says so: expired while unreachable, or restored from
//   a snapshot) -> a new lease, the record again, every registration again.
//
// Runs on the io thread; reads the registry, never writes it.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "cluster/etcd_counters.h"
#include "etcd/client.h"
#include "registry/registry.h"

namespace hl::cluster {

class Publisher {
public:
    struct Options {
        std::string prefix = "/hopless";
        std::string host;
        std::string instance;  // this daemon's, kept in state_dir: a restart is recognised by it
        int64_t lease_ttl = 10;
        size_t batch = 64;          // writes per transaction (etcd allows 128 by default)
        size_t max_inflight = 8;    // transactions at once
        size_t max_pending = 100000;  // beyond: every registration again, and a sweep
        std::chrono::milliseconds retry_min{250}, retry_max{2000};
    };
    Publisher(boost::asio::io_context& io, etcd::EtcdClient& client, const Registry& reg, Options o,
              EtcdCounters& counters);
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    void start();
    // A registration of this host changed: registered, registered again
    // with another weight, deregistered, expired.
    void changed(const Registry::Name& name, const std::string& id);

    int64_t lease() const { return lease_; }
    // Writes not yet acknowledged by etcd (changes, and the walk when one runs).
    size_t backlog() const { return pending_.size() + inflight_items_ + (walking_ ? 1 : 0); }
    // Another live daemon holds this host name.
    bool name_taken() const { return name_taken_; }

private:
    using Item = std::pair<Registry::Name, std::string>;
    void claim();
    void grant();
    void adopt(int64_t lease);
    void hold(int64_t lease, const char* how);
    void lost(const std::string& why);
    void pump();
    void send(std::vector<Item> items);
    void sweep();
    void unstall() {
        stalled_ = false;
        pump();
    }
    void after(std::chrono::milliseconds d, void (Publisher::*f)());
    void retry_claim(const std::string& why);
    std::string record() const;

    boost::asio::io_context& io_;
    etcd::EtcdClient& client_;
    const Registry& reg_;
    Options opts_;
    std::string host_key_;
    EtcdCounters& counters_;
    std::string started_;  // RFC 3339, for the record
    int64_t lease_ = 0;    // 0: none held (claiming)
    uint64_t epoch_ = 0;   // bumped at each lease change: older answers are stale
    etcd::KeepAliveHandle keep_alive_;
    std::set<Item> pending_;
    // Keys of the transactions in flight. A key is in at most one: two
    // transactions in flight at once may commit in either order, so a
    // deregistration sent before a registration of the same id could land
    // after it and leave etcd without an endpoint that is live here.
    std::set<Item> inflight_keys_;
    bool walking_ = false;  // publishing every registration, from the cursor on
    Registry::Name walk_name_;
    std::string walk_id_;
    bool sweep_needed_ = false;
    size_t inflight_ = 0, inflight_items_ = 0;
    bool stalled_ = false;  // a write failed: wait for the retry timer
    bool failing_ = false;  // logged once per outage
    bool name_taken_ = false;
    std::chrono::milliseconds backoff_;
    boost::asio::steady_timer timer_;
};

}  // namespace hl::cluster
