// The control API's semantics over the registry: each request is checked
// whole by the registry, applied to the kernel through the reconciler
// (only the service it touches), then journaled. A request the kernel
// refuses is undone in the registry, so nothing is half-applied.
#pragma once

#include "control/handler.h"

namespace hl {

class Daemon;

class ApiHandler : public control::Handler {
public:
    explicit ApiHandler(Daemon& d) : d_(d) {}
    control::Reply health() override;
    control::Reply list_services() override;
    control::Reply put_service(const Service& service) override;
    control::Reply delete_service(const std::string& ns, const std::string& name) override;
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
    Daemon& d_;
};

}  // namespace hl
