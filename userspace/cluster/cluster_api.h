// What the daemon sees of the cluster (etcd): an interface, so that hoplessd
// need not link gRPC. The implementation (cluster.h, over etcd/) is built
// into a module, hopless-etcd.so, which the daemon loads only when `etcd:`
// is configured: a host without etcd does not map gRPC, protobuf, OpenSSL
// and abseil at all (~8 MB of resident memory, docs/BENCHMARKS.md §10c).
// Nothing here may include a header that needs gRPC.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cluster/etcd_counters.h"
#include "common/error.h"
#include "etcd/types.h"
#include "model/config.h"
#include "registry/registry.h"

namespace hl::cluster {

class ClusterApi {
public:
    virtual ~ClusterApi() = default;

    virtual void start() = 0;
    virtual const std::string& host() const = 0;
    virtual bool up() const = 0;
    virtual std::optional<std::chrono::steady_clock::time_point> away_since() const = 0;
    virtual int64_t revision() const = 0;
    // The publisher's state, for /v1/health: its lease, the changes not yet
    // in etcd, whether another live host holds this host's name.
    virtual int64_t lease() const = 0;
    virtual size_t backlog() const = 0;
    virtual bool name_taken() const = 0;
    // Hosts whose registrations this host has seen in etcd.
    virtual size_t hosts_seen() const = 0;

    // A registration of this host changed: it goes to etcd (now, or when
    // etcd answers again).
    virtual void registration_changed(const Registry::Name& n, const std::string& id) = 0;
    // A definition through this host's API: created when this host has seen
    // none (seen_revision 0), else replaced (deleted) only if etcd still has
    // the one this host saw. Never a silent overwrite: a conflict answers
    // with what etcd holds now.
    virtual void put_service(const Service& s, int64_t seen_revision, std::function<void(Result<etcd::CasResult>)> cb) = 0;
    virtual void delete_service(const Registry::Name& n, int64_t seen_revision,
                                std::function<void(Result<etcd::CasResult>)> cb) = 0;
};

// Called when what etcd holds changed the registry (why: for the log).
using Changed = std::function<void(const char* why)>;

struct ClusterArgs {
    boost::asio::io_context& io;
    const EtcdConfig& cfg;
    const std::string& state_dir;
    Registry& registry;
    EtcdCounters& counters;
    Changed changed;
};

// The module's one entry point (versioned: a module of another build's
// interface is refused by name, not called).
using CreateCluster = Result<std::unique_ptr<ClusterApi>> (*)(const ClusterArgs& args);
inline constexpr const char* kCreateClusterSymbol = "hl_cluster_create_v1";
inline constexpr const char* kModuleName = "hopless-etcd.so";

}  // namespace hl::cluster
