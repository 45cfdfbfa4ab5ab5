#include "datapath/kernel_map_store.h"

namespace hl {

Status KernelMapStore::reset_service_counters(uint32_t id) {
    if (auto st = m_.service_stats.reset(id); !st) return st;
    if (auto st = m_.service_lc.reset(id); !st) return st;
    if (auto st = m_.service_hist.reset(id); !st) return st;
    return m_.rr.update(id, hl_rr{});
}

Status KernelMapStore::reset_backend_counters(uint32_t id) {
    if (auto st = m_.backend_stats.reset(id); !st) return st;
    if (auto st = m_.backend_lc.zero(id); !st) return st;
    // Only the failure streak: `active` is the kernel's to take back. Most
    // ids come with no streak (read with one lookup): only a streak left by
    // the id's last backend costs the mapping of its page.
    if (m_.backend_live.get(id).consecutive_failures == 0) return ok_status();
    return m_.backend_live.modify_in_place(
        id, [](hl_backend_live& v) { __atomic_store_n(&v.consecutive_failures, 0u, __ATOMIC_RELAXED); });
}

KernelState KernelMapStore::read() const {
    KernelState s;
    m_.services.for_each([&](const hl_service_key& k, const hl_service& v) { s.services.emplace_back(k, v); });
    m_.service_meta.for_each([&](uint32_t k, const hl_service_meta& v) { s.service_meta[k] = v; });
    m_.slots.for_each([&](const hl_slot_key& k, uint32_t v) { s.slots.emplace_back(k, v); });
    m_.backends.for_each([&](uint32_t k, const hl_backend& v) { s.backends[k] = v; });
    m_.cgroup_ns.for_each([&](uint64_t k, const hl_cgroup_ns& v) { s.cgroups[k] = v; });
    m_.ns_meta.for_each([&](uint32_t k, const hl_ns_meta& v) { s.namespaces[k] = v; });
    m_.endpoints.for_each([&](const hl_endpoint_key& k, uint32_t v) { s.endpoints.emplace_back(k, v); });
    m_.peers.for_each([&](const hl_endpoint_key& k, const hl_peer& v) { s.peers.emplace_back(k, v); });
    return s;
}

}  // namespace hl
