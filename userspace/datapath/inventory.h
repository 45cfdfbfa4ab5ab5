// What the kernel holds, in human terms: services with their names, VIPs,
// backends and summed per-CPU counters. Read from the maps alone, so the CLI
// works while the daemon is down and metrics show the kernel's own truth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/maps.h"
#include "model/service.h"

namespace hl {

struct BackendView {
    uint32_t id = 0;
    Backend spec;
    uint32_t slots = 0;  // slots of the table in force that name it
    uint64_t connections = 0;
};

struct ServiceView {
    uint32_t id = 0;
    std::string name, ns;
    IpAddress vip;
    uint16_t port = 0;
    Protocol protocol = Protocol::Tcp;
    Algorithm algorithm = Algorithm::RoundRobin;
    uint32_t generation = 0, slot_count = 0, affinity_timeout_s = 0, drain_timeout_s = 0;
    Prefer prefer = Prefer::Any;
    bool local_table = false;  // prefer: local, and the table holds only this host's backends
    std::vector<BackendView> backends;
    hl_service_stats stats{};
    std::string endpoint() const { return vip.with_port(port); }
};

struct CgroupView {
    uint64_t id = 0;
    std::string ns;
    uint32_t flags = 0;
};

struct Inventory {
    std::vector<ServiceView> services;  // sorted by namespace, name
    std::vector<CgroupView> cgroups;
};

Inventory read_inventory(const MapSet& maps, bool with_stats = true);
hl_service_stats sum_stats(const std::vector<hl_service_stats>& per_cpu);

}  // namespace hl
