#include "datapath/inventory.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "datapath/kernel_map_store.h"

namespace hl {

hl_service_stats sum_stats(const std::vector<hl_service_stats>& per_cpu) {
    hl_service_stats t{};
    for (const auto& s : per_cpu) {
        t.connections += s.connections;
        t.no_backend += s.no_backend;
        t.udp_translations += s.udp_translations;
        t.revnat_stale += s.revnat_stale;
        t.affinity_hits += s.affinity_hits;
        t.bind_rejects += s.bind_rejects;
        t.sockets_destroyed += s.sockets_destroyed;
    }
    return t;
}

Inventory read_inventory(const MapSet& maps, bool with_stats) {
    Inventory inv;
    std::map<uint32_t, std::string> ns_names;
    maps.ns_meta.for_each(
        [&](uint32_t id, const hl_ns_meta& m) { ns_names[id] = std::string(m.name, strnlen(m.name, HL_NAME_LEN)); });
    std::map<uint32_t, size_t> index;
    // Names in one batched walk, not a lookup per service.
    std::unordered_map<uint32_t, std::string> names;
    maps.service_meta.for_each([&](uint32_t id, const hl_service_meta& m) {
        names.emplace(id, std::string(m.name, strnlen(m.name, HL_NAME_LEN)));
    });
    maps.services.for_each([&](const hl_service_key& k, const hl_service& v) {
        ServiceView s;
        s.id = v.id;
        if (auto it = names.find(v.id); it != names.end()) s.name = std::move(it->second);
        else s.name = "service-" + std::to_string(v.id);
        s.ns = ns_names.count(k.ns_id) ? ns_names[k.ns_id] : std::to_string(k.ns_id);
        s.vip = IpAddress::from_bytes(k.addr);
        s.port = ntohs(k.port);
        s.protocol = k.proto == IPPROTO_UDP ? Protocol::Udp : Protocol::Tcp;
        s.algorithm = static_cast<Algorithm>(v.algorithm);
        s.generation = v.generation;
        s.slot_count = v.slot_count;
        s.affinity_timeout_s = v.affinity_timeout_s;
        s.drain_timeout_s = v.drain_timeout_s;
        s.connect_timeout_ms = uint32_t{v.connect_timeout_cs} * 10;
        s.prefer = v.flags & HL_SVC_F_PREFER_LOCAL ? Prefer::Local : Prefer::Any;
        s.local_table = v.flags & HL_SVC_F_LOCAL_TABLE;
        index[v.id] = inv.services.size();
        inv.services.push_back(std::move(s));
    });
    if (with_stats && !inv.services.empty()) {
        // In batches over the id range: one syscall per 256 ids, not one per
        // service and map (65,536 services read in milliseconds).
        uint32_t end = index.rbegin()->first + 1;
        auto want = [&](uint32_t id) { return index.count(id) != 0; };
        maps.service_stats.for_each(end, want, [&](uint32_t id, const hl_service_stats* v, size_t n) {
            inv.services[index[id]].stats = sum_per_cpu(v, n);
        });
        maps.service_lc.for_each(end, want, [&](uint32_t id, const hl_service_lc* v, size_t n) {
            inv.services[index[id]].lc = sum_per_cpu(v, n);
        });
        maps.service_gauge.for_each(end, want, [&](uint32_t id, const hl_service_gauge* v, size_t n) {
            inv.services[index[id]].gauge = sum_per_cpu(v, n);
        });
        maps.service_hist.for_each(end, want, [&](uint32_t id, const hl_service_hist* v, size_t n) {
            inv.services[index[id]].hist = sum_per_cpu(v, n);
        });
    }
    std::map<uint32_t, std::map<uint32_t, uint32_t>> slot_counts;  // service -> backend -> slots
    maps.slots.for_each([&](const hl_slot_key& k, uint32_t bid) {
        auto it = index.find(k.service_id);
        if (it != index.end() && inv.services[it->second].generation == k.generation) slot_counts[k.service_id][bid]++;
    });
    maps.backends.for_each([&](uint32_t id, const hl_backend& b) {
        auto it = index.find(b.service_id);
        if (it == index.end()) return;
        BackendView v;
        v.id = id;
        v.spec.address = IpAddress::from_bytes(b.addr);
        v.spec.port = ntohs(b.port);
        v.spec.weight = b.weight;
        v.spec.state = static_cast<BackendState>(b.state);
        v.spec.remote = b.flags & HL_BACKEND_F_REMOTE;
        v.slots = slot_counts[b.service_id][id];
        inv.services[it->second].backends.push_back(v);
    });
    if (with_stats) {
        std::unordered_map<uint32_t, uint64_t> conns;
        uint32_t end = 0;
        for (const auto& s : inv.services)
            for (const auto& b : s.backends) {
                conns[b.id] = 0;
                end = std::max(end, b.id + 1);
            }
        auto want = [&](uint32_t id) { return conns.count(id) != 0; };
        maps.backend_stats.for_each(
            end, want, [&](uint32_t id, const hl_backend_stats* v, size_t n) { conns[id] = sum_per_cpu(v, n).connections; });
        std::unordered_map<uint32_t, std::pair<hl_backend_live, hl_backend_lc>> lc;
        maps.backend_live.for_each(end, want, [&](uint32_t id, const hl_backend_live& v) { lc[id].first = v; });
        maps.backend_lc.for_each(end, want, [&](uint32_t id, const hl_backend_lc& v) { lc[id].second = v; });
        for (auto& s : inv.services)
            for (auto& b : s.backends) {
                b.connections = conns[b.id];
                if (auto it = lc.find(b.id); it != lc.end()) std::tie(b.live, b.lc) = it->second;
            }
    }
    for (auto& s : inv.services)
        std::sort(s.backends.begin(), s.backends.end(), [](auto& a, auto& b) { return a.id < b.id; });
    std::sort(inv.services.begin(), inv.services.end(),
              [](auto& a, auto& b) { return std::tie(a.ns, a.name) < std::tie(b.ns, b.name); });
    maps.cgroup_ns.for_each([&](uint64_t id, const hl_cgroup_ns& v) {
        inv.cgroups.push_back(CgroupView{id, ns_names.count(v.ns_id) ? ns_names[v.ns_id] : std::to_string(v.ns_id),
                                         v.flags});
    });
    return inv;
}

}  // namespace hl
