// The daemon's whole desired configuration (DESIGN.md "Config").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/address.h"
#include "model/service.h"

namespace hl {

struct Attachment {
    std::string cgroup;  // absolute, or relative to the cgroup v2 mount
    std::string ns = "default";
    bool operator==(const Attachment&) const = default;
};

struct MapLimits {
    uint32_t max_services = 65536;
    uint32_t max_backends = 262144;
    bool operator==(const MapLimits&) const = default;
};

// The name responder (DESIGN.md "Names (DNS)").
struct DnsConfig {
    std::vector<SocketAddress> listen;      // UDP and TCP, at least one
    IpAddress vip;                          // tasks' nameserver: vip:53 reaches `listen` through the datapath
    std::string zone = "hopless.internal";  // lowercase, no trailing dot
    std::vector<SocketAddress> upstreams;   // names outside the zone; none: REFUSED
    bool operator==(const DnsConfig&) const = default;
};

// etcd: the registry a cluster's hosts share (DESIGN.md "Config", docs/ETCD.md).
struct EtcdConfig {
    std::vector<std::string> endpoints;  // "http://HOST:PORT", at least one
    std::string prefix = "/hopless";     // keys live under <prefix>/v1/
    std::string host;                    // this host's name; empty: the hostname
    uint32_t lease_ttl_s = 10;           // a dead host's endpoints leave after this
    bool operator==(const EtcdConfig&) const = default;
};

struct Config {
    std::string pin_dir = "/sys/fs/bpf/hopless";
    IpPrefix vip_pool = *IpPrefix::parse("127.255.0.0/16");
    std::string metrics_listen = "127.0.0.1:9464";
    std::string control_socket = "/run/hopless/hopless.sock";
    std::string state_dir = "/var/lib/hopless";  // the API's registrations and services (journal)
    MapLimits maps;
    std::vector<Attachment> attach;
    std::optional<DnsConfig> dns;
    std::optional<EtcdConfig> etcd;
    std::vector<Service> services;
};

}  // namespace hl
