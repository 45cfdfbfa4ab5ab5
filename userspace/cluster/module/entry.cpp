// The entry point of hopless-etcd.so (cluster_api.h): the one symbol the
// module exports; everything else in it, including its copies of
// libhopless's code, stays hidden (-Wl,--exclude-libs,ALL).
#include "cluster/cluster.h"

extern "C" __attribute__((visibility("default"))) hl::Result<std::unique_ptr<hl::cluster::ClusterApi>>
hl_cluster_create_v1(const hl::cluster::ClusterArgs& a) {
    auto c = hl::cluster::Cluster::create(a.io, a.cfg, a.state_dir, a.registry, a.counters, a.changed);
    if (!c) return c.error();
    return std::unique_ptr<hl::cluster::ClusterApi>(std::move(c.value()));
}

// The pointer type the daemon calls it through.
static_assert(std::is_same_v<decltype(&hl_cluster_create_v1), hl::cluster::CreateCluster>);
