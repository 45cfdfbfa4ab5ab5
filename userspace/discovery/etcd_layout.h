// The keys and values hopless keeps in etcd (docs/ETCD.md "Keys"):
//
//   <prefix>/v1/services/<ns>/<name>              a services[] item (JSON)
//   <prefix>/v1/endpoints/<ns>/<name>/<host>/<id> {"address", "port", "weight"}
//   <prefix>/v1/hosts/<host>                      the host's own record
//
// What other hosts wrote is outside input: every key and value is checked
// here, and one that does not parse is named in the error, never applied.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/error.h"
#include "model/address.h"
#include "model/service.h"

namespace hl::etcd_layout {

// The prefix as configured, without trailing '/' ("/hopless"); "/" alone is the root.
std::string normalize_prefix(std::string_view prefix);

std::string root(std::string_view prefix);  // "<prefix>/v1/": one watch sees everything
std::string service_key(std::string_view prefix, std::string_view ns, std::string_view name);
std::string endpoint_key(std::string_view prefix, std::string_view ns, std::string_view name, std::string_view host,
                         std::string_view id);
// "<prefix>/v1/endpoints/": where every host's endpoints are
std::string endpoints_root(std::string_view prefix);
std::string host_key(std::string_view prefix, std::string_view host);

struct ServiceKey {
    std::string ns, name;
    bool operator==(const ServiceKey&) const = default;
};
struct EndpointKey {
    std::string ns, name, host, id;
    bool operator==(const EndpointKey&) const = default;
};
struct HostKey {
    std::string host;
    bool operator==(const HostKey&) const = default;
};
using Key = std::variant<ServiceKey, EndpointKey, HostKey>;

// A key under root(prefix). Names, namespaces and hosts are valid_name()s,
// ids valid_endpoint_id()s; anything else is an error naming the key.
Result<Key> parse_key(std::string_view prefix, std::string_view key);

struct EndpointValue {
    IpAddress address;
    uint16_t port = 0;
    uint16_t weight = 1;
    bool operator==(const EndpointValue&) const = default;
};
std::string endpoint_value(const EndpointValue& v);
// A JSON object with "address" (IPv4/IPv6 literal), "port" (1-65535) and
// optionally "weight" (0-65535, default 1). Keys it does not know are
// ignored: a newer host may add fields within v1.
Result<EndpointValue> parse_endpoint_value(std::string_view json);

// A service definition: one services[] item as JSON, what PUT
// /v1/services/{ns}/{name} takes (service_to_json). Its namespace and name
// must be the key's (a value naming another service is refused); at most
// 1 MiB, checked as the config file checks an item.
std::string service_value(const Service& s);
Result<Service> parse_service_value(std::string_view json, const ServiceKey& key);

}  // namespace hl::etcd_layout
