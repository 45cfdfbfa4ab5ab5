// The grammar of the CLI's changing commands (those that go through the
// control API), apart from the commands so it can be unit tested and fuzzed:
//   SERVICE := { NAME | NAMESPACE/NAME | VIP:PORT }
//   endpoint register SERVICE address ADDR port PORT [id ID] [weight W] [ttl SECONDS]
//   endpoint { heartbeat | deregister } SERVICE id ID
//   cgroup attach { PATH | pid PID } [namespace NS]
//   cgroup detach { PATH | pid PID }
// Values are checked here as the daemon checks them, so a typo fails before
// anything is sent; the daemon checks again.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "common/error.h"
#include "model/address.h"

namespace hl::cli {

struct ServiceRef {
    std::string ns;    // empty: any namespace (NAME alone)
    std::string name;  // empty for VIP:PORT
    std::optional<IpAddress> vip;
    uint16_t port = 0;
    std::string text;  // as the user wrote it, for messages
};
Result<ServiceRef> parse_service_ref(const std::string& text);

// The {namespace, name} a SERVICE names among GET /v1/services' answer
// ({"services": [{"namespace", "name", "vip", "port", ...}]}). NAMESPACE/NAME
// needs no answer (services may be null); NAME alone is looked up in every
// namespace and, when no namespace has it, taken as default/NAME (the
// daemon then says whether it exists).
Result<std::pair<std::string, std::string>> resolve_service(const ServiceRef& ref, const nlohmann::json* services);

struct RegisterArgs {
    std::string service;
    IpAddress address;
    uint16_t port = 0;
    std::string id;  // defaults to ADDR:PORT ("10.0.0.1:80", "[fd00::1]:80")
    std::optional<uint16_t> weight;
    std::optional<uint32_t> ttl_s;
    nlohmann::json body() const;  // the PUT .../endpoints/{id} body
};
Result<RegisterArgs> parse_register_args(std::span<const std::string> words);

struct EndpointIdArgs {
    std::string service;
    std::string id;
};
// SERVICE id ID, for heartbeat and deregister (`what` names the command).
Result<EndpointIdArgs> parse_endpoint_id_args(std::span<const std::string> words, const std::string& what);

struct CgroupArgs {
    std::optional<std::string> path;
    std::optional<int> pid;
    std::optional<std::string> ns;  // attach only
    nlohmann::json body() const;    // the PUT/DELETE /v1/cgroups body
};
Result<CgroupArgs> parse_cgroup_args(std::span<const std::string> words, bool attach);

}  // namespace hl::cli
