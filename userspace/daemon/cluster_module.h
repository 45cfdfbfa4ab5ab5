// Loads the cluster (etcd) implementation from its module, hopless-etcd.so,
// when the config has `etcd:`: a host without etcd never maps gRPC.
#pragma once

#include <memory>

#include "cluster/cluster_api.h"
#include "common/error.h"

namespace hl {

// The module is looked for in this order: $HOPLESS_ETCD_MODULE (a file), the
// directory of hoplessd's own executable (a build tree), then where the
// package installs it relative to that (sbin/../lib/hopless). It
// stays loaded for the life of the process: the cluster's callbacks and
// gRPC's threads live in it.
Result<std::unique_ptr<cluster::ClusterApi>> load_cluster(const cluster::ClusterArgs& args);

}  // namespace hl
