// What the kernel holds, in human terms: services with their names, VIPs,
// backends and summed per-CPU counters. Read from the maps alone, so the CLI
// works while the daemon is down and metrics show the kernel's own truth.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
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
    hl_backend_live live{};  // active connections, consecutive connect failures
    hl_backend_lc lc{};      // errors by reason, bytes
};

struct ServiceView {
    uint32_t id = 0;
    std::string name, ns;
    IpAddress vip;
    uint16_t port = 0;
    Protocol protocol = Protocol::Tcp;
    Algorithm algorithm = Algorithm::RoundRobin;
    uint32_t generation = 0, slot_count = 0, affinity_timeout_s = 0, drain_timeout_s = 0;
    uint32_t connect_timeout_ms = 0;
    Prefer prefer = Prefer::Any;
    bool local_table = false;  // prefer: local, and the table holds only this host's backends
    std::vector<BackendView> backends;
    hl_service_stats stats{};
    // The connection lifecycle, summed over CPUs.
    hl_service_lc lc{};
    hl_service_gauge gauge{};
    hl_service_hist hist{};
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

// Sums of per-CPU values (every field is a u64 or s64 count).
template <class V>
V sum_per_cpu(const V* vals, size_t n) {
    static_assert(sizeof(V) % 8 == 0);
    V out{};
    uint64_t acc[sizeof(V) / 8] = {};
    for (size_t c = 0; c < n; ++c) {
        uint64_t words[sizeof(V) / 8];
        std::memcpy(words, &vals[c], sizeof(V));
        for (size_t i = 0; i < sizeof(V) / 8; ++i) acc[i] += words[i];
    }
    std::memcpy(&out, acc, sizeof(V));
    return out;
}

}  // namespace hl
