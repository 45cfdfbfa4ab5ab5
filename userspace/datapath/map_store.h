// What the reconciler writes through. The kernel implementation writes the
// BPF maps; unit tests give the reconciler a fake that records every write,
// so the order of writes (invariant 1) is testable without root.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/error.h"
#include "hopless/abi.h"

namespace hl {

// Everything the datapath maps hold that the reconciler owns, as read back
// from the kernel (adoption after a restart, the CLI, metrics).
struct KernelState {
    std::vector<std::pair<hl_service_key, hl_service>> services;
    std::map<uint32_t, hl_service_meta> service_meta;
    std::vector<std::pair<hl_slot_key, uint32_t>> slots;
    std::map<uint32_t, hl_backend> backends;
    std::map<uint64_t, hl_cgroup_ns> cgroups;
    std::map<uint32_t, hl_ns_meta> namespaces;
    std::vector<std::pair<hl_endpoint_key, uint32_t>> endpoints;
    std::vector<std::pair<hl_endpoint_key, hl_peer>> peers;
};

class MapStore {
public:
    virtual ~MapStore() = default;

    virtual Status put_namespace(uint32_t id, const hl_ns_meta& meta) = 0;
    virtual Status delete_namespace(uint32_t id) = 0;
    virtual Status put_backend(uint32_t id, const hl_backend& be) = 0;
    virtual Status delete_backend(uint32_t id) = 0;
    virtual Status put_slot(const hl_slot_key& key, uint32_t backend_id) = 0;
    virtual Status delete_slot(const hl_slot_key& key) = 0;
    virtual Status put_service(const hl_service_key& key, const hl_service& svc) = 0;
    virtual Status delete_service(const hl_service_key& key) = 0;
    virtual Status put_service_meta(uint32_t id, const hl_service_meta& meta) = 0;
    virtual Status delete_service_meta(uint32_t id) = 0;
    virtual Status put_cgroup(uint64_t cgroup_id, const hl_cgroup_ns& v) = 0;
    virtual Status delete_cgroup(uint64_t cgroup_id) = 0;
    // Backend address:port -> the TCP service it serves (the server side).
    virtual Status put_endpoint(const hl_endpoint_key& key, uint32_t service_id) = 0;
    virtual Status delete_endpoint(const hl_endpoint_key& key) = 0;
    // Backend TCP address:port -> what a redirected socket connected there
    // was dialed as (the client side; issue 12).
    virtual Status put_peer(const hl_endpoint_key& key, const hl_peer& peer) = 0;
    virtual Status delete_peer(const hl_endpoint_key& key) = 0;
    // What the two maps above hold for one address:port (nullopt: nothing).
    // The reconciler keeps no copy of an endpoint only one service names:
    // these answer for it (userspace memory at 262,144 endpoints).
    virtual std::optional<uint32_t> get_endpoint(const hl_endpoint_key& key) const = 0;
    virtual std::optional<hl_peer> get_peer(const hl_endpoint_key& key) const = 0;
    // A backend as the kernel holds it (nullopt: no such id). The reconciler
    // keeps only its backends' ids: what each one is (address, port, weight,
    // state) is read here when a service changes.
    virtual std::optional<hl_backend> get_backend(uint32_t id) const = 0;
    // A reused id starts its counters (and round-robin position) from zero;
    // gauges of open connections stay, so the closes of connections opened
    // before take back exactly what their opens added.
    virtual Status reset_service_counters(uint32_t id) = 0;
    virtual Status reset_backend_counters(uint32_t id) = 0;

    virtual KernelState read() const = 0;
};

}  // namespace hl
