// The cluster: this host in the registry its hosts share through etcd
// (DESIGN.md "Many hosts", docs/ETCD.md). One etcd client, the source that
// reads what every host shares into the registry, the publisher that puts
// this host's registrations there under its lease, and service definitions
// written with compare-and-swap.
//
// Everything runs on the daemon's io_context: gRPC's threads only post
// there, and only the source writes the registry's etcd part.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "cluster/etcd_counters.h"
#include "cluster/etcd_source.h"
#include "cluster/publisher.h"
#include "common/error.h"
#include "etcd/client.h"
#include "model/config.h"
#include "registry/registry.h"

namespace hl::cluster {

// etcd.host, else the machine's hostname (which must then be a name).
Result<std::string> host_name(const EtcdConfig& cfg);
// This daemon's instance id, kept in DIR/etcd-instance (made at the first
// start): how a restarted daemon knows its own host record.
std::string instance_id(const std::string& state_dir);

class Cluster {
public:
    static Result<std::unique_ptr<Cluster>> create(boost::asio::io_context& io, const EtcdConfig& cfg,
                                                   const std::string& state_dir, Registry& reg,
                                                   EtcdCounters& counters, EtcdSource::Changed changed);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    void start();
    const std::string& host() const { return host_; }
    const std::string& prefix() const { return prefix_; }
    bool up() const { return source_->up(); }
    std::optional<std::chrono::steady_clock::time_point> away_since() const { return source_->away_since(); }
    int64_t revision() const { return source_->revision(); }
    const EtcdSource& source() const { return *source_; }
    const Publisher& publisher() const { return *publisher_; }

    // A registration of this host changed: it goes to etcd (now, or when
    // etcd answers again).
    void registration_changed(const Registry::Name& n, const std::string& id) { publisher_->changed(n, id); }

    // A definition through this host's API: created when this host has seen
    // none (seen_revision 0), else replaced (deleted) only if etcd still has
    // the one this host saw. Never a silent overwrite: a conflict answers
    // with what etcd holds now.
    void put_service(const Service& s, int64_t seen_revision, etcd::Callback<etcd::CasResult> cb);
    void delete_service(const Registry::Name& n, int64_t seen_revision, etcd::Callback<etcd::CasResult> cb);

private:
    Cluster() = default;
    std::string host_, prefix_;
    // Destroyed first (declared last): no callback of the client runs after
    // it, so the source and the publisher may go after it.
    std::unique_ptr<EtcdSource> source_;
    std::unique_ptr<Publisher> publisher_;
    std::unique_ptr<etcd::EtcdClient> client_;
};

}  // namespace hl::cluster
