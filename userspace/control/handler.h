// The control API's semantics, as the HTTP layer sees them (DESIGN.md
// "Control API"). The HTTP server (control/server.*) parses and checks the
// shape of every request (routes, JSON, addresses, ports, ranges) and calls
// one of these; the daemon implements them over the registry, which decides
// what only it can know (does the service exist, which source owns it, is an
// id taken by another address). Every call runs on the daemon's io_context.
//
// A Reply is the whole HTTP answer: a status and a JSON body; an error is
// 4xx/5xx with {"error": "..."} naming the field and the value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "model/address.h"
#include "model/service.h"

namespace hl::control {

struct Reply {
    unsigned status = 200;
    nlohmann::json body = nlohmann::json::object();

    static Reply ok(nlohmann::json body = nlohmann::json::object()) { return {200, std::move(body)}; }
    static Reply error(unsigned status, std::string message) {
        return {status, nlohmann::json{{"error", std::move(message)}}};
    }
};

// PUT /v1/services/{ns}/{name}/endpoints/{id}: {address, port, weight?, ttl?}
struct EndpointSpec {
    IpAddress address;
    uint16_t port = 0;
    uint16_t weight = 1;
    std::optional<uint32_t> ttl_s;  // none: stays until deregistered
};

// PUT/DELETE /v1/cgroups: {cgroup | pid, namespace}
struct CgroupSpec {
    std::optional<std::string> cgroup;  // a path, absolute or relative to the cgroup v2 mount
    std::optional<pid_t> pid;           // exactly one of cgroup and pid is set
    std::string ns = "default";         // PUT only
};

// Where an answer goes when it may come later: called once, on the io_context.
using Done = std::function<void(Reply)>;

class Handler {
public:
    virtual ~Handler() = default;
    virtual Reply health() = 0;
    virtual Reply list_services() = 0;
    // `service` was parsed by parse_service_item(); its ns/name were checked
    // against the path by the HTTP layer. Defining or deleting a service may
    // take a round trip to etcd (the registry a cluster shares): the answer
    // goes to `done`, at once or later.
    virtual void put_service(const Service& service, Done done) = 0;
    virtual void delete_service(const std::string& ns, const std::string& name, Done done) = 0;
    virtual Reply list_endpoints(const std::string& ns, const std::string& name) = 0;
    virtual Reply put_endpoint(const std::string& ns, const std::string& name, const std::string& id,
                               const EndpointSpec& spec) = 0;
    virtual Reply heartbeat(const std::string& ns, const std::string& name, const std::string& id) = 0;
    virtual Reply delete_endpoint(const std::string& ns, const std::string& name, const std::string& id) = 0;
    virtual Reply attach_cgroup(const CgroupSpec& spec) = 0;
    virtual Reply detach_cgroup(const CgroupSpec& spec) = 0;
    // Backend health: every service's (GET /v1/health/backends) or one's
    // (GET /v1/services/{ns}/{name}/health).
    virtual Reply backend_health() = 0;
    virtual Reply service_health(const std::string& ns, const std::string& name) = 0;
};

}  // namespace hl::control
