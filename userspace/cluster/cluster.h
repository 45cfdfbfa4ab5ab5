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

#include "cluster/cluster_api.h"
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

class Cluster final : public ClusterApi {
public:
    static Result<std::unique_ptr<Cluster>> create(boost::asio::io_context& io, const EtcdConfig& cfg,
                                                   const std::string& state_dir, Registry& reg,
                                                   EtcdCounters& counters, EtcdSource::Changed changed);
    ~Cluster() override;
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    void start() override;
    const std::string& host() const override { return host_; }
    const std::string& prefix() const { return prefix_; }
    bool up() const override { return source_->up(); }
    std::optional<std::chrono::steady_clock::time_point> away_since() const override { return source_->away_since(); }
    int64_t revision() const override { return source_->revision(); }
    int64_t lease() const override { return publisher_->lease(); }
    size_t backlog() const override { return publisher_->backlog(); }
    bool name_taken() const override { return publisher_->name_taken(); }
    size_t hosts_seen() const override { return source_->hosts_seen(); }
    const EtcdSource& source() const { return *source_; }
    const Publisher& publisher() const { return *publisher_; }

    void registration_changed(const Registry::Name& n, const std::string& id) override { publisher_->changed(n, id); }
    void put_service(const Service& s, int64_t seen_revision, etcd::Callback<etcd::CasResult> cb) override;
    void delete_service(const Registry::Name& n, int64_t seen_revision, etcd::Callback<etcd::CasResult> cb) override;

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
