// Desired state -> BPF maps, in an order that keeps the datapath's
// invariants while connects race the update:
//
//  1. new backends are written before any slot names them;
//  2. a changed selection table is written whole under a new generation and
//     published by ONE update of the service entry (invariant 1);
//  3. the previous generation stays for racing readers and goes at the next
//     change; removed backends go after the publish;
//  4. a removed service is unpublished (its key deleted) before its parts;
//  5. cgroups are attached after the services they will see exist;
//  6. a TCP backend's entry in hl_peer_v1 (how a redirected socket connected
//     to it finds its VIP, service and backend) is written before the
//     backend, and outlives it until the next apply, so that the sockets the
//     daemon terminates after this one are still found and counted.
//
// Everything that can fail for a reason other than the kernel (VIP pool
// exhausted, cgroup missing) is checked before the first write, so a bad
// input never reaches the kernel (invariant 5).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "datapath/cgroup_attacher.h"
#include "datapath/id_allocator.h"
#include "datapath/map_store.h"
#include "datapath/vip_refs.h"
#include "model/compact_name.h"
#include "model/config.h"

namespace hl {

struct ApplyReport {
    size_t added = 0, removed = 0, changed = 0, unchanged = 0;
    size_t map_writes = 0;  // updates + deletes issued to the maps
    // Backends that left their service in this apply: their redirected
    // sockets are to be terminated.
    struct RemovedBackend {
        uint32_t backend_id, service_id;
    };
    std::vector<RemovedBackend> removed_backends;
};

// A service key as bytes, for sets of keys (the struct has no operator<).
// Fixed size: gcc 12 at -O3 warns falsely on memcmp of vector<uint8_t>.
using ServiceKeyBytes = std::array<uint8_t, sizeof(hl_service_key)>;
// A sorted vector: a 65,536-key std::set costs four times the memory.
using ServiceKeySet = std::vector<ServiceKeyBytes>;

class Reconciler {
public:
    using ServiceName = std::pair<std::string, std::string>;  // namespace, name
    using Endpoint = std::pair<IpAddress, uint16_t>;           // a backend's address, port
    // The key of its records (model/compact_name.h).
    using CompactName = hl::CompactName;
    // One service's desired state: nullptr removes it. A service whose vip
    // is unset keeps the VIP it has, else gets a free one of the pool.
    struct ServiceChange {
        ServiceName name;
        const Service* desired = nullptr;
    };

    Reconciler(MapStore& store, CgroupAttacher& cgroups, MapLimits limits);

    // Rebuilds the shadow state from what the maps hold (a restarted daemon
    // keeps ids, VIPs and tables; nothing is written).
    void adopt();
    // The whole desired state at once: services not in `desired` are
    // removed, and so are the config's attachments it no longer lists.
    Result<ApplyReport> apply(const Config& desired);
    // Only the services named: work and map writes in proportion to them,
    // none for the others (a registration among 65,536 services). Planned
    // whole (VIPs) before the first write.
    Result<ApplyReport> apply_services(const std::vector<ServiceChange>& changes, const IpPrefix& vip_pool);
    // The config file's attach: list (cgroups it no longer names are
    // detached unless also attached through the API).
    Status apply_attachments(const std::vector<Attachment>& attach);
    // Attachments made through the control API (HL_CG_FROM_CLI), which stay
    // until detached the same way. Returns the resolved path.
    Result<std::string> attach_cgroup(const std::string& path, const std::string& ns);
    Result<std::string> detach_cgroup(const std::string& path);

    // A backend of a service: its id and what the kernel's hl_be_v1 holds.
    struct BackendRec {
        uint32_t id = 0;
        Backend spec;
        bool operator==(const BackendRec&) const = default;
    };
    // What the kernel holds for one service. One of these per service is most
    // of the daemon's memory at scale, so nothing the kernel's maps already
    // say is kept twice: not the VIP, port, protocol, namespace, algorithm
    // or timeouts (the key and value are the map's own entry), nor what each
    // backend is (backends_of() reads that from hl_be_v1 by id: 4 bytes a
    // backend here instead of 28, 262,144 backends at scale).
    struct ServiceRec {
        hl_service_key key{};
        hl_service value{};  // value.id: the service's id (0 until it has one)
        std::vector<uint32_t> backends;  // backend ids, sorted by their endpoint (address, port)
        std::vector<uint32_t> slots;  // backend ids of the generation in force
        // The previous table, kept for racing readers: slots 0..count-1 of
        // that generation (a table is always written whole, from slot 0).
        uint32_t retired_generation = 0, retired_count = 0;

        uint32_t id() const { return value.id; }
        IpAddress vip() const { return IpAddress::from_bytes(key.addr); }
    };
    // 104 bytes, a 176-byte map node with its key: one per service.
    static_assert(sizeof(ServiceRec) <= 104, "ServiceRec: one per service (65,536 at scale); keep it small");
    // The service's backends as hl_be_v1 holds them, sorted by endpoint: one
    // map lookup each. An id the map lacks (a map edited behind the daemon's
    // back) comes with an empty spec (port 0), which no desired backend has,
    // so the next write of the service drops it.
    std::vector<BackendRec> backends_of(const ServiceRec& rec) const;
    // Backends adopt() found quarantined (health's verdict of the last
    // daemon), by service: they stay so until they pass a check.
    const std::vector<std::pair<ServiceName, Endpoint>>& adopted_quarantined() const { return adopted_quarantined_; }
    const std::map<CompactName, ServiceRec>& services() const { return services_; }
    const ServiceRec* find(const ServiceName& name) const {
        auto it = services_.find(name);
        return it == services_.end() ? nullptr : &it->second;
    }
    const std::map<std::string, uint32_t>& namespaces() const { return ns_ids_; }
    // Attached cgroups: id -> namespace id and who attached them.
    std::map<uint64_t, hl_cgroup_ns> cgroups() const {
        std::map<uint64_t, hl_cgroup_ns> out;
        for (const auto& [id, rec] : cgroup_recs_) out[id] = rec.value;
        return out;
    }

private:
    struct CgroupRec {
        hl_cgroup_ns value{};
    };
    Result<std::vector<IpAddress>> plan_vips(const std::vector<ServiceChange>& changes, const IpPrefix& pool) const;
    struct WantCgroup {
        std::string path;
        uint64_t id;
        std::string ns;
    };
    Result<std::vector<WantCgroup>> resolve_attachments(const std::vector<Attachment>& attach);
    Status write_attachments(const std::vector<WantCgroup>& want);
    Status gc_namespaces();
    void vip_ref(const IpAddress& a, int delta);
    Status remove_service(const ServiceRec& rec, const ServiceKeySet& keep_keys, ApplyReport& report);
    Result<bool> write_service(const Service& s, const IpAddress& vip, ServiceRec* rec,
                               const ServiceKeySet& desired_keys, ApplyReport& report);
    Result<uint32_t> namespace_id(const std::string& name);
    Status counted(Status st);
    // The server side's map of backend address:port -> TCP service.
    struct EndpointKey {
        std::array<uint8_t, 16> addr{};
        uint16_t port = 0;  // host order
        bool operator==(const EndpointKey&) const = default;
    };
    struct EndpointKeyHash {
        size_t operator()(const EndpointKey& k) const;
    };
    struct EndpointRec {
        // The TCP services that name it, each with its backend there
        // (service id, backend id), in the order they claimed it.
        std::vector<std::pair<uint32_t, uint32_t>> namers;
        uint32_t owner = 0;     // the one the kernel map says (the lowest id)
        // The client side (hl_peer_v1): the first TCP service to name it
        // answers for it while it does; the others' backends are SECONDARY.
        uint32_t peer_service = 0, peer_backend = 0;
        bool peer_left = false;  // its backend left: the entry goes at the next apply
    };
    using EndpointMap = std::unordered_map<EndpointKey, EndpointRec, EndpointKeyHash>;
    // An endpoint only one TCP service names, which also answers for it
    // (hl_peer_v1) with nothing departed, is "plain": the kernel's two maps
    // say all of its record, so none is kept (the common case; 56 bytes and
    // a bucket each at 262,144 endpoints). Every other record is kept, and
    // every change to a kept record is written to the maps at once, so a
    // record dropped when plain is found again as it was.
    static bool plain(const EndpointRec& r) {
        return r.namers.size() == 1 && r.owner && r.namers[0].first == r.owner && r.peer_service == r.owner &&
               r.peer_backend == r.namers[0].second && !r.peer_left;
    }
    // A record that says nothing: no service names it, no peer entry.
    static bool idle(const EndpointRec& r) { return r.namers.empty() && !r.peer_service && !r.peer_left; }
    // The lowest service id of those naming it, with its backend there.
    static std::optional<std::pair<uint32_t, uint32_t>> first_namer(const EndpointRec& r);
    static std::vector<std::pair<uint32_t, uint32_t>>::iterator find_namer(EndpointRec& r, uint32_t service_id);
    const ServiceRec* find_by_id(uint32_t id) const;
    // The endpoint's record, made from the kernel's maps when none is kept.
    EndpointMap::iterator materialize(const EndpointKey& k);
    // Drops the record when the maps say all of it (plain) or it says nothing.
    void settle(EndpointMap::iterator it);
    static EndpointKey endpoint_key(const Backend& b);
    Status claim_endpoint(const EndpointKey& k, uint32_t service_id, uint32_t backend_id);
    Status release_endpoint(const EndpointKey& k, uint32_t service_id);
    Status update_endpoints(const std::vector<BackendRec>& before, bool tcp_before, const std::vector<BackendRec>& after,
                            bool tcp_after, uint32_t service_id);
    // hl_peer_v1 (reconciler_peers.cpp). A TCP backend names its endpoint
    // (returns whether another service answers for it: the backend is then
    // SECONDARY); leaves it; the service's VIP or timeout changed.
    Result<bool> claim_peer(const EndpointKey& k, const hl_peer& value);
    void release_peer(const EndpointKey& k, uint32_t service_id);
    Status rewrite_peers(uint32_t service_id, const std::vector<BackendRec>& backends, const hl_peer& tmpl);
    Status flush_departed_peers();
    bool secondary(const Backend& b, uint32_t service_id, bool tcp) const;
    void adopt_peers(const KernelState& k, const std::map<uint32_t, std::vector<BackendRec>>& backends);

    MapStore& store_;
    CgroupAttacher& cgroups_;
    MapLimits limits_;
    IdAllocator service_ids_, backend_ids_, ns_alloc_;
    std::map<CompactName, ServiceRec> services_;
    std::map<std::string, uint32_t> ns_ids_;
    std::map<uint64_t, CgroupRec> cgroup_recs_;
    // How many services use each VIP of the pool: a pool address is free at
    // 0. Kept as services come and go, so allocating one VIP walks no service.
    VipRefs vip_refs_;
    // Paths of cgroups attached through the API, as given and resolved, so
    // that one removed before its detach (a container's, by runc) can still
    // be detached by the id it had. Not kept across restarts: there the
    // cgroup must still exist, or the attachment is dropped by the sweep.
    std::map<std::string, uint64_t> api_paths_;
    std::vector<hl_slot_key> orphan_slots_;
    std::vector<uint32_t> orphan_backends_;
    // The records of endpoints that are not plain (above). Most endpoints
    // are named by one service; one naming several keeps who names it, so
    // the next owner is known when the owner lets it go.
    EndpointMap endpoints_;
    std::vector<std::pair<ServiceName, Endpoint>> adopted_quarantined_;
    // adopt() keeps every record until the first apply has written its fixes.
    bool prune_plain_ = false;
    // What adopt() found the kernel's endpoint map to disagree on: written
    // at the next apply (owner 0: delete).
    std::vector<std::pair<EndpointKey, uint32_t>> endpoint_fixes_;
    // Endpoints whose hl_peer_v1 entry answers for a backend that left.
    std::vector<EndpointKey> departed_peers_;
    // What adopt() found to put right in hl_peer_v1 (nullopt: delete) and in
    // backends' SECONDARY flag (a datapath before issue 12 had neither).
    std::vector<std::pair<EndpointKey, std::optional<hl_peer>>> peer_fixes_;
    std::vector<std::pair<uint32_t, hl_backend>> backend_fixes_;
    size_t writes_ = 0;
};

hl_service_key make_service_key(const IpAddress& vip, uint16_t port, Protocol proto, uint32_t ns_id);
hl_backend make_backend(const Backend& b, uint32_t service_id, bool secondary = false);
// A TCP service's hl_peer_v1 value for its backend bid.
hl_peer make_peer(const hl_service_key& key, uint16_t connect_timeout_cs, uint32_t service_id, uint32_t backend_id);

// A service's slot table (indexes into s.backends) and whether it holds only
// this host's own backends (prefer: local with one of them usable).
struct LocalTable {
    std::vector<uint32_t> slots;
    bool local_only = false;
};
LocalTable slot_table_for(const Service& s, uint32_t max_slots);

}  // namespace hl
