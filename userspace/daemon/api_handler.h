// The control API's semantics over the registry: each request is checked
// whole by the registry, applied to the kernel through the reconciler
// (only the service it touches), then journaled. A request the kernel
// refuses is undone in the registry, so nothing is half-applied.
#pragma once

#include "cluster/cluster_api.h"
#include "control/handler.h"
#include "registry/registry.h"

namespace hl {

class Daemon;

class ApiHandler : public control::Handler {
public:
    explicit ApiHandler(Daemon& d) : d_(d) {}
    control::Reply health() override;
    control::Reply list_services() override;
    // With etcd: definitions go to etcd (compare-and-swap), refused with 503
    // while it is away; without: this host's registry and journal.
    void put_service(const Service& service, control::Done done) override;
    void delete_service(const std::string& ns, const std::string& name, control::Done done) override;
    control::Reply list_endpoints(const std::string& ns, const std::string& name) override;
    control::Reply put_endpoint(const std::string& ns, const std::string& name, const std::string& id,
                                const control::EndpointSpec& spec) override;
    control::Reply heartbeat(const std::string& ns, const std::string& name, const std::string& id) override;
    control::Reply delete_endpoint(const std::string& ns, const std::string& name, const std::string& id) override;
    control::Reply attach_cgroup(const control::CgroupSpec& spec) override;
    control::Reply detach_cgroup(const control::CgroupSpec& spec) override;
    control::Reply backend_health() override;
    control::Reply service_health(const std::string& ns, const std::string& name) override;

private:
    control::Reply put_local_service(const Service& service);
    control::Reply delete_local_service(const std::string& ns, const std::string& name);
    void put_shared_service(cluster::ClusterApi& c, const Service& service, control::Done done);
    void delete_shared_service(cluster::ClusterApi& c, const Registry::Name& n, int64_t seen, control::Done done);
    // Drops what this host's API defined before etcd did (journal too).
    void forget_local_definition(const Registry::Name& n);
    Daemon& d_;
};

}  // namespace hl
