#include "datapath/reconciler.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "datapath/slot_table.h"

namespace hl {

namespace {

ServiceKeyBytes key_bytes(const hl_service_key& k) {
    ServiceKeyBytes b;
    std::memcpy(b.data(), &k, sizeof k);
    return b;
}

template <size_t N>
void copy_name(char (&dst)[N], std::string_view src) {
    std::memset(dst, 0, N);
    std::memcpy(dst, src.data(), std::min(src.size(), N - 1));
}

std::string name_of(const char* s, size_t n) { return std::string(s, strnlen(s, n)); }

bool same_value(const hl_service& a, const hl_service& b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_key(const hl_service_key& a, const hl_service_key& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool contains(const ServiceKeySet& keys, const hl_service_key& k) {
    return std::binary_search(keys.begin(), keys.end(), key_bytes(k));
}

using Endpoint = std::pair<IpAddress, uint16_t>;
Endpoint endpoint(const Reconciler::BackendRec& b) { return {b.spec.address, b.spec.port}; }
bool by_endpoint(const Reconciler::BackendRec& a, const Reconciler::BackendRec& b) {
    return endpoint(a) < endpoint(b);
}

const Reconciler::BackendRec* find_endpoint(const std::vector<Reconciler::BackendRec>& sorted, const Endpoint& ep) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), ep,
                               [](const Reconciler::BackendRec& b, const Endpoint& e) { return endpoint(b) < e; });
    return it != sorted.end() && endpoint(*it) == ep ? &*it : nullptr;
}

// Sorts by endpoint; of two with the same endpoint the later one stays, as
// when they were assigned in turn into a map.
void sort_by_endpoint(std::vector<Reconciler::BackendRec>& recs) {
    std::stable_sort(recs.begin(), recs.end(), by_endpoint);
    auto last_of_each = std::unique(recs.rbegin(), recs.rend(), [](const auto& a, const auto& b) {
        return endpoint(a) == endpoint(b);
    });
    recs.erase(recs.begin(), last_of_each.base());
}

// Copies `from` into `to` in to's own buffer while it fits, else in one
// twice its size (as push_back grows). A service gaining one backend at a
// time (registrations) then reallocates at 1, 2, 4, 8..., not at every one:
// each buffer left behind is a hole in the heap that the next allocations
// of the same size may never fill (RSS at 262,144 registrations). A buffer
// four times too large is given back.
template <class T>
void keep_buffer_assign(std::vector<T>& to, const std::vector<T>& from) {
    if (from.size() > to.capacity()) {
        std::vector<T> grown;
        grown.reserve(std::max(from.size(), 2 * to.capacity()));
        grown.assign(from.begin(), from.end());
        to.swap(grown);
        return;
    }
    if (from.size() * 4 < to.capacity()) {
        std::vector<T>(from).swap(to);  // an exact buffer (operator= would keep the old one)
        return;
    }
    to.assign(from.begin(), from.end());
}

Backend spec_of(const hl_backend& be) {
    Backend spec;
    spec.address = IpAddress::from_bytes(be.addr);
    spec.port = ntohs(be.port);
    spec.weight = be.weight;
    spec.state = static_cast<BackendState>(be.state);
    spec.remote = be.flags & HL_BACKEND_F_REMOTE;
    return spec;
}

std::vector<uint32_t> ids_of(const std::vector<Reconciler::BackendRec>& recs) {
    std::vector<uint32_t> ids;
    ids.reserve(recs.size());
    for (const auto& b : recs) ids.push_back(b.id);
    return ids;
}
}  // namespace

std::vector<Reconciler::BackendRec> Reconciler::backends_of(const ServiceRec& rec) const {
    std::vector<BackendRec> out;
    out.reserve(rec.backends.size());
    bool lost = false;
    for (uint32_t id : rec.backends) {
        auto be = store_.get_backend(id);
        lost |= !be;
        out.push_back({id, be ? spec_of(*be) : Backend{}});
    }
    if (lost) std::stable_sort(out.begin(), out.end(), by_endpoint);
    return out;
}

const Reconciler::ServiceRec* Reconciler::find_by_id(uint32_t id) const {
    for (const auto& [n, rec] : services_)
        if (rec.id() == id) return &rec;
    return nullptr;
}

std::optional<std::pair<uint32_t, uint32_t>> Reconciler::first_namer(const EndpointRec& r) {
    std::optional<std::pair<uint32_t, uint32_t>> best;
    for (const auto& n : r.namers)
        if (!best || n.first < best->first) best = n;
    return best;
}

std::vector<std::pair<uint32_t, uint32_t>>::iterator Reconciler::find_namer(EndpointRec& r, uint32_t service_id) {
    return std::find_if(r.namers.begin(), r.namers.end(), [&](const auto& n) { return n.first == service_id; });
}

hl_service_key make_service_key(const IpAddress& vip, uint16_t port, Protocol proto, uint32_t ns_id) {
    hl_service_key k{};
    std::memcpy(k.addr, vip.bytes().data(), 16);
    k.port = htons(port);
    k.proto = static_cast<uint8_t>(proto);
    k.ns_id = ns_id;
    return k;
}

hl_backend make_backend(const Backend& b, uint32_t service_id, bool secondary) {
    hl_backend v{};
    std::memcpy(v.addr, b.address.bytes().data(), 16);
    v.port = htons(b.port);
    v.family = b.address.is_v4() ? HL_FAMILY_V4 : HL_FAMILY_V6;
    v.state = static_cast<uint8_t>(b.state);
    v.weight = b.weight;
    v.flags = static_cast<uint8_t>((b.remote ? HL_BACKEND_F_REMOTE : 0) | (secondary ? HL_BACKEND_F_SECONDARY : 0));
    v.service_id = service_id;
    return v;
}

// Usable: takes new connects. State is health's overlay too (a quarantined
// backend is not active), so the last local backend quarantined is a fail-over.
static bool usable(const Backend& b) { return b.state == BackendState::Active && b.weight > 0; }

LocalTable slot_table_for(const Service& s, uint32_t max_slots) {
    // prefer: local. This host's own backends (every source but another
    // host's registration) take the table while any is usable; the others
    // only when none is: a fail-over, not a split. The algorithm is the
    // service's either way; the table is published like any other (one
    // update of the service entry).
    if (s.prefer == Prefer::Local) {
        bool local = false, remote = false;
        for (const auto& b : s.backends) {
            local |= !b.remote && usable(b);
            remote |= b.remote;
        }
        if (local && remote) {
            std::vector<Backend> mine = s.backends;
            for (auto& b : mine)
                if (b.remote) b.weight = 0;  // no slot
            return {build_slot_table(mine, max_slots), true};
        }
    }
    return {build_slot_table(s.backends, max_slots), false};
}

size_t Reconciler::EndpointKeyHash::operator()(const EndpointKey& k) const {
    uint64_t a, b;
    std::memcpy(&a, k.addr.data(), 8);
    std::memcpy(&b, k.addr.data() + 8, 8);
    return std::hash<uint64_t>{}(a * 0x9e3779b97f4a7c15ull ^ b ^ (uint64_t{k.port} << 48));
}

Reconciler::EndpointKey Reconciler::endpoint_key(const Backend& b) {
    EndpointKey k;
    std::memcpy(k.addr.data(), b.address.bytes().data(), 16);
    k.port = b.port;
    return k;
}

namespace {
hl_endpoint_key kernel_endpoint_key(const std::array<uint8_t, 16>& addr, uint16_t port) {
    hl_endpoint_key k{};
    std::memcpy(k.addr, addr.data(), 16);
    k.port = htons(port);
    return k;
}
}  // namespace

Reconciler::EndpointMap::iterator Reconciler::materialize(const EndpointKey& k) {
    if (auto it = endpoints_.find(k); it != endpoints_.end()) return it;
    // Not kept: plain (one service names it and answers for it), or unknown.
    EndpointRec rec;
    const auto key = kernel_endpoint_key(k.addr, k.port);
    if (auto owner = store_.get_endpoint(key)) {
        rec.owner = *owner;
        if (auto peer = store_.get_peer(key)) {
            rec.peer_service = peer->service_id;
            rec.peer_backend = peer->backend_id;
        }
        // Plain: its one namer is the owner, with the backend its peer entry names.
        rec.namers.push_back({*owner, rec.peer_service == *owner ? rec.peer_backend : 0});
    }
    return endpoints_.emplace(k, rec).first;
}

void Reconciler::settle(EndpointMap::iterator it) {
    if (plain(it->second) || idle(it->second)) endpoints_.erase(it);
}

// A TCP service names the endpoint: the lowest id of those naming it is what
// a connection accepted there counts for.
Status Reconciler::claim_endpoint(const EndpointKey& k, uint32_t service_id, uint32_t backend_id) {
    auto it = materialize(k);
    auto& rec = it->second;
    // Named once per service: a backend the map lost (backends_of) comes
    // back under a new id at an endpoint the maps still give to the service.
    auto named = find_namer(rec, service_id);
    if (named != rec.namers.end()) named->second = backend_id;
    else rec.namers.push_back({service_id, backend_id});
    if (rec.owner && rec.owner <= service_id) {
        settle(it);
        return ok_status();
    }
    rec.owner = service_id;
    auto st = counted(store_.put_endpoint(kernel_endpoint_key(k.addr, k.port), service_id));
    settle(it);
    return st;
}

Status Reconciler::release_endpoint(const EndpointKey& k, uint32_t service_id) {
    auto it = materialize(k);
    auto& rec = it->second;
    auto named = find_namer(rec, service_id);
    if (named == rec.namers.end()) {  // not named by it (as before: nothing to do)
        settle(it);
        return ok_status();
    }
    rec.namers.erase(named);
    if (rec.namers.empty()) {
        auto key = kernel_endpoint_key(k.addr, k.port);
        // A departed client-side entry keeps the record until it goes.
        if (rec.peer_left) rec.owner = 0;
        else endpoints_.erase(it);
        return counted(store_.delete_endpoint(key));
    }
    if (rec.owner != service_id) {
        settle(it);
        return ok_status();
    }
    // Shared, and its owner leaves: the next lowest of the others.
    const uint32_t next = first_namer(rec)->first;
    rec.owner = next;
    auto key = kernel_endpoint_key(k.addr, k.port);
    auto st = counted(store_.put_endpoint(key, next));
    settle(it);
    return st;
}

// The endpoints one service names before and after a change (each sorted by
// endpoint); only the difference touches the map.
Status Reconciler::update_endpoints(const std::vector<BackendRec>& before, bool tcp_before,
                                    const std::vector<BackendRec>& after, bool tcp_after, uint32_t service_id) {
    static const std::vector<BackendRec> none;
    const auto& b = tcp_before ? before : none;
    const auto& a = tcp_after ? after : none;
    size_t i = 0, j = 0;
    while (i < b.size() || j < a.size()) {
        if (j == a.size() || (i < b.size() && endpoint(b[i]) < endpoint(a[j]))) {
            if (auto st = release_endpoint(endpoint_key(b[i].spec), service_id); !st) return st;
            ++i;
        } else if (i == b.size() || endpoint(a[j]) < endpoint(b[i])) {
            if (auto st = claim_endpoint(endpoint_key(a[j].spec), service_id, a[j].id); !st) return st;
            ++j;
        } else {
            ++i;
            ++j;
        }
    }
    return ok_status();
}

Reconciler::Reconciler(MapStore& store, CgroupAttacher& cgroups, MapLimits limits)
    : store_(store),
      cgroups_(cgroups),
      limits_(limits),
      // Id 0 means "none", so max_services ids need max_services + 1 places.
      service_ids_(limits.max_services + 1),
      backend_ids_(limits.max_backends + 1),
      ns_alloc_(HL_DEFAULT_MAX_NAMESPACES) {}

Status Reconciler::counted(Status st) {
    ++writes_;
    return st;
}

void Reconciler::adopt() {
    KernelState k = store_.read();
    services_.clear();
    ns_ids_.clear();
    cgroup_recs_.clear();
    std::map<uint32_t, std::string> ns_names;
    for (const auto& [id, meta] : k.namespaces) {
        std::string name = name_of(meta.name, sizeof meta.name);
        ns_ids_[name] = id;
        ns_names[id] = name;
        ns_alloc_.claim(id);
    }
    std::map<uint32_t, ServiceRec*> by_id;
    std::map<uint32_t, const CompactName*> name_by_id;
    for (const auto& [key, value] : k.services) {
        ServiceRec rec;
        rec.key = key;
        rec.value = value;
        auto meta = k.service_meta.find(value.id);
        ServiceName name{ns_names.count(key.ns_id) ? ns_names[key.ns_id] : "default",
                         meta != k.service_meta.end() ? name_of(meta->second.name, HL_NAME_LEN)
                                                      : "service-" + std::to_string(value.id)};
        service_ids_.claim(value.id);
        auto [it, fresh] = services_.emplace(std::move(name), std::move(rec));
        if (fresh) {
            by_id[value.id] = &it->second;
            name_by_id[value.id] = &it->first;
        }
    }
    std::map<uint32_t, std::vector<BackendRec>> full;  // by service id: what the records keep only ids of
    for (const auto& [id, be] : k.backends) {
        auto owner = by_id.find(be.service_id);
        if (owner == by_id.end()) {
            orphan_backends_.push_back(id);
            continue;
        }
        full[be.service_id].push_back(BackendRec{id, spec_of(be)});
        backend_ids_.claim(id);
    }
    // The table in force, in slot order; any other generation is retired.
    std::vector<std::array<uint32_t, 3>> in_force;  // service id, slot, backend id
    std::vector<std::array<uint32_t, 3>> retired;   // service id, generation, slot
    for (const auto& [sk, bid] : k.slots) {
        auto owner = by_id.find(sk.service_id);
        if (owner != by_id.end() && sk.generation == owner->second->value.generation)
            in_force.push_back({sk.service_id, sk.slot, bid});
        else if (owner != by_id.end())
            retired.push_back({sk.service_id, sk.generation, sk.slot});
        else
            orphan_slots_.push_back(sk);
    }
    // The one table before the one in force is kept as the retired one
    // (slots 0..n-1 of one generation, as a change leaves it); anything
    // else (a change cut short) goes at the next apply.
    std::sort(retired.begin(), retired.end());
    for (size_t a = 0, b; a < retired.size(); a = b) {
        for (b = a; b < retired.size() && retired[b][0] == retired[a][0]; ++b) {}
        bool whole = true;
        for (size_t k = a; k < b && whole; ++k) whole = retired[k][1] == retired[a][1] && retired[k][2] == k - a;
        if (whole) {
            by_id[retired[a][0]]->retired_generation = retired[a][1];
            by_id[retired[a][0]]->retired_count = static_cast<uint32_t>(b - a);
        } else {
            for (size_t k = a; k < b; ++k) orphan_slots_.push_back({retired[k][0], retired[k][1], retired[k][2]});
        }
    }
    std::sort(in_force.begin(), in_force.end());
    for (const auto& [id, slot, bid] : in_force) by_id[id]->slots.push_back(bid);
    adopted_quarantined_.clear();
    for (auto& [id, bs] : full) {
        sort_by_endpoint(bs);
        ServiceRec* rec = by_id[id];
        rec->backends = ids_of(bs);
        for (const auto& b : bs)
            if (b.spec.state == BackendState::Quarantined)
                adopted_quarantined_.push_back({ServiceName(*name_by_id[id]), {b.spec.address, b.spec.port}});
    }
    vip_refs_ = VipRefs{};  // counted for the pool at the first apply
    for (const auto& [id, v] : k.cgroups) cgroup_recs_[id] = CgroupRec{v};
    // The server side's endpoint map as the services say it should be; what
    // the kernel holds otherwise (a datapath older than the map, or a crash
    // between writes) is put right at the next apply.
    endpoints_.clear();
    endpoint_fixes_.clear();
    for (const auto& [n, rec] : services_) {
        if (rec.key.proto != IPPROTO_TCP) continue;
        auto bs = full.find(rec.id());
        if (bs == full.end()) continue;
        for (const auto& b : bs->second) {
            auto& e = endpoints_[endpoint_key(b.spec)];
            e.namers.push_back({rec.id(), b.id});
            if (!e.owner || rec.id() < e.owner) e.owner = rec.id();
        }
    }
    std::unordered_map<EndpointKey, uint32_t, EndpointKeyHash> held;
    for (const auto& [key, sid] : k.endpoints) {
        EndpointKey e;
        std::memcpy(e.addr.data(), key.addr, 16);
        e.port = ntohs(key.port);
        held[e] = sid;
        auto it = endpoints_.find(e);
        if (it == endpoints_.end()) endpoint_fixes_.push_back({e, 0});
    }
    for (const auto& [e, rec] : endpoints_)
        if (auto h = held.find(e); h == held.end() || h->second != rec.owner) endpoint_fixes_.push_back({e, rec.owner});
    adopt_peers(k, full);
    prune_plain_ = true;
}

Result<uint32_t> Reconciler::namespace_id(const std::string& name) {
    if (auto it = ns_ids_.find(name); it != ns_ids_.end()) return it->second;
    auto id = ns_alloc_.allocate();
    if (!id) return Error{"no namespace id left for '" + name + "'", 0};
    hl_ns_meta meta{};
    copy_name(meta.name, name);
    if (auto st = counted(store_.put_namespace(*id, meta)); !st) return st.error();
    ns_ids_[name] = *id;
    return *id;
}

Status Reconciler::remove_service(const ServiceRec& rec, const ServiceKeySet& keep_keys, ApplyReport& report) {
    // Unpublish first: from here no new connect can reach the parts below.
    if (!contains(keep_keys, rec.key))
        if (auto st = counted(store_.delete_service(rec.key)); !st) return st;
    for (uint32_t i = 0; i < rec.slots.size(); ++i)
        if (auto st = counted(store_.delete_slot({rec.id(), rec.value.generation, i})); !st) return st;
    for (uint32_t i = 0; i < rec.retired_count; ++i)
        if (auto st = counted(store_.delete_slot({rec.id(), rec.retired_generation, i})); !st) return st;
    const std::vector<BackendRec> backends = backends_of(rec);  // before they leave the map
    for (const auto& b : backends) {
        if (auto st = counted(store_.delete_backend(b.id)); !st) return st;
        backend_ids_.release(b.id);
        report.removed_backends.push_back({b.id, rec.id()});
    }
    if (rec.key.proto == IPPROTO_TCP)
        for (const auto& b : backends) release_peer(endpoint_key(b.spec), rec.id());
    if (auto st = update_endpoints(backends, rec.key.proto == IPPROTO_TCP, {}, false, rec.id()); !st) return st;
    if (auto st = counted(store_.delete_service_meta(rec.id())); !st) return st;
    service_ids_.release(rec.id());
    return ok_status();
}

// Writes one desired service over its current record (or a new one when rec
// is empty). Returns whether anything changed.
Result<bool> Reconciler::write_service(const Service& s, const IpAddress& vip, ServiceRec* rec,
                                       const ServiceKeySet& desired_keys, ApplyReport& report) {
    auto ns = namespace_id(s.ns.str());
    if (!ns) return ns.error();
    bool changed = false;
    const bool fresh = rec->id() == 0;
    if (fresh) {
        auto id = service_ids_.allocate();
        if (!id) return Error{"no service id left (maps.max_services=" + std::to_string(limits_.max_services) + ")", 0};
        rec->value.id = *id;
        if (auto st = counted(store_.reset_service_counters(rec->id())); !st) return st.error();
        hl_service_meta meta{};
        copy_name(meta.name, s.name);
        copy_name(meta.ns, s.ns);
        if (auto st = counted(store_.put_service_meta(rec->id(), meta)); !st) return st.error();
        changed = true;
    }

    const hl_service_key key = make_service_key(vip, s.port, s.protocol, *ns);
    // 10 ms units, rounded up; the config bounds connect_timeout at 600 s.
    const auto connect_timeout_cs =
        static_cast<uint16_t>(std::min<uint32_t>((s.connect_timeout_ms + 9) / 10, 0xffff));
    const bool tcp_before = !fresh && rec->key.proto == IPPROTO_TCP;
    const bool tcp_after = s.protocol == Protocol::Tcp;

    // 1. Backends: new ones and changed weights/states, before any slot
    // names them; a TCP one's hl_peer_v1 entry before the backend.
    const std::vector<BackendRec> before = fresh ? std::vector<BackendRec>{} : backends_of(*rec);
    std::vector<BackendRec> next;  // in the order of s.backends until the table is built
    next.reserve(s.backends.size());
    for (const auto& b : s.backends) {
        const BackendRec* known = find_endpoint(before, {b.address, b.port});
        BackendRec br;
        if (known) {
            br = *known;
            bool sec = secondary(b, rec->id(), tcp_after);
            if (tcp_after && !tcp_before) {
                auto r = claim_peer(endpoint_key(b), make_peer(key, connect_timeout_cs, rec->id(), br.id));
                if (!r) return r.error();
                sec = *r;
            }
            if (!(br.spec == b) || tcp_before != tcp_after) {
                br.spec = b;
                if (auto st = counted(store_.put_backend(br.id, make_backend(b, rec->id(), sec))); !st)
                    return st.error();
                changed = true;
            }
        } else {
            auto id = backend_ids_.allocate();
            if (!id)
                return Error{"no backend id left (maps.max_backends=" + std::to_string(limits_.max_backends) + ")", 0};
            br = BackendRec{*id, b};
            bool sec = false;
            if (tcp_after) {
                auto r = claim_peer(endpoint_key(b), make_peer(key, connect_timeout_cs, rec->id(), br.id));
                if (!r) return r.error();
                sec = *r;
            }
            if (auto st = counted(store_.reset_backend_counters(br.id)); !st) return st.error();
            if (auto st = counted(store_.put_backend(br.id, make_backend(b, rec->id(), sec))); !st) return st.error();
            changed = true;
        }
        next.push_back(br);
    }

    // 2. The table, written whole under a new generation when it differs.
    std::vector<uint32_t> table;
    const LocalTable picked = slot_table_for(s, HL_MAX_SLOTS_PER_SERVICE);
    for (uint32_t idx : picked.slots) table.push_back(next[idx].id);
    sort_by_endpoint(next);
    hl_service value = rec->value;  // its id too (set above for a fresh one)
    value.algorithm = static_cast<uint8_t>(s.algorithm);
    value.flags = static_cast<uint8_t>((s.prefer == Prefer::Local ? HL_SVC_F_PREFER_LOCAL : 0) |
                                       (picked.local_only ? HL_SVC_F_LOCAL_TABLE : 0));
    value.affinity_timeout_s = s.affinity_timeout_s;
    value.drain_timeout_s = s.drain_timeout_s;
    value.connect_timeout_cs = connect_timeout_cs;
    const bool new_table = fresh || table != rec->slots;
    if (new_table) {
        value.generation = rec->value.generation + 1;
        value.slot_count = static_cast<uint32_t>(table.size());
        for (uint32_t i = 0; i < table.size(); ++i)
            if (auto st = counted(store_.put_slot({rec->id(), value.generation, i}, table[i])); !st) return st.error();
    }

    // 3. Publish: one update of the service entry switches connects over.
    const bool key_moved = !fresh && !same_key(key, rec->key);
    if (fresh || key_moved || !same_value(value, rec->value)) {
        if (auto st = counted(store_.put_service(key, value)); !st) return st.error();
        changed = true;
    }
    if (key_moved && !contains(desired_keys, rec->key))
        if (auto st = counted(store_.delete_service(rec->key)); !st) return st.error();

    // 4. Retire: the table before last goes now; the one just replaced stays
    // for readers that loaded the old service entry a moment ago.
    if (new_table) {
        for (uint32_t i = 0; i < rec->retired_count; ++i)
            if (auto st = counted(store_.delete_slot({rec->id(), rec->retired_generation, i})); !st) return st.error();
        rec->retired_generation = rec->value.generation;
        rec->retired_count = fresh ? 0 : static_cast<uint32_t>(rec->slots.size());
    }
    // 5. Backends that left the set. Their hl_peer_v1 entries stay until
    // the next apply (the daemon terminates their sockets first).
    for (const auto& br : before) {
        const bool stays = find_endpoint(next, endpoint(br)) != nullptr;
        if (tcp_before && (!stays || !tcp_after)) release_peer(endpoint_key(br.spec), rec->id());
        if (stays) continue;
        if (auto st = counted(store_.delete_backend(br.id)); !st) return st.error();
        backend_ids_.release(br.id);
        report.removed_backends.push_back({br.id, rec->id()});
        changed = true;
    }
    // A new VIP, port or connect_timeout: the entries this service answers
    // for say so (those claimed in step 1 have it already).
    if (tcp_before && tcp_after &&
        (!same_key(key, rec->key) || connect_timeout_cs != rec->value.connect_timeout_cs)) {
        if (auto st = rewrite_peers(rec->id(), next, make_peer(key, connect_timeout_cs, rec->id(), 0)); !st)
            return st.error();
    }
    if (auto st = update_endpoints(before, !fresh && rec->key.proto == IPPROTO_TCP, next,
                                   s.protocol == Protocol::Tcp, rec->id());
        !st)
        return st.error();
    rec->key = key;
    rec->value = value;
    // Replaced only when they differ: an unchanged reload then allocates
    // nothing that outlives it, so the heap does not fragment reload by reload.
    if (new_table) keep_buffer_assign(rec->slots, table);
    if (before != next) keep_buffer_assign(rec->backends, ids_of(next));
    return changed;
}

void Reconciler::vip_ref(const IpAddress& a, int delta) { vip_refs_.add(a, delta); }

// Each changed service's VIP: its own, else the one it had (a service keeps
// its VIP across reloads), else the first free address of the pool. "Free"
// is judged by the VIPs in use after this batch: the batch's own VIPs count,
// the ones its services held before do not.
Result<std::vector<IpAddress>> Reconciler::plan_vips(const std::vector<ServiceChange>& changes,
                                                     const IpPrefix& pool) const {
    const size_t n = changes.size();
    std::vector<std::optional<IpAddress>> vip(n);
    bool all_set = true;
    for (size_t i = 0; i < n; ++i) {
        if (changes[i].desired) vip[i] = changes[i].desired->vip;
        all_set &= !changes[i].desired || vip[i].has_value();
    }
    auto done = [&] {
        std::vector<IpAddress> out(n);
        for (size_t i = 0; i < n; ++i)
            if (vip[i]) out[i] = *vip[i];
        return out;
    };
    if (all_set) return done();  // the common case: no set of used addresses to build
    // Addresses the batch releases (its services' current VIPs), then the
    // ones it takes.
    std::map<IpAddress, uint32_t> released;
    for (const auto& c : changes)
        if (auto it = services_.find(c.name); it != services_.end()) ++released[it->second.vip()];
    std::set<IpAddress> taken;
    for (size_t i = 0; i < n; ++i)
        if (vip[i]) taken.insert(*vip[i]);
    auto used = [&](const IpAddress& a) {
        if (taken.count(a)) return true;
        auto rel = released.find(a);
        return vip_refs_.count(a) > (rel == released.end() ? 0u : rel->second);
    };
    for (size_t i = 0; i < n; ++i) {
        if (vip[i] || !changes[i].desired) continue;
        auto prev = services_.find(changes[i].name);
        if (prev != services_.end() && pool.contains(prev->second.vip()) && !used(prev->second.vip())) {
            vip[i] = prev->second.vip();
            taken.insert(*vip[i]);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        if (vip[i] || !changes[i].desired) continue;
        const Service& s = *changes[i].desired;
        if (!pool.base.is_v4())
            return Error{"vip_pool: only an IPv4 pool can allocate VIPs (service '" + s.name + "' names none)", 0};
        uint32_t base = pool.base.v4_host_order();
        uint32_t size = pool.length >= 32 ? 1 : (1u << (32 - pool.length));
        uint32_t mask = ~(size - 1);
        for (uint32_t k = 1; !vip[i] && (k + 1 < size || (size <= 2 && k < size)); ++k) {
            auto a = IpAddress::v4((base & mask) + k);
            if (!used(a)) {
                vip[i] = a;
                taken.insert(a);
            }
        }
        if (!vip[i])
            return Error{"vip_pool: " + pool.to_string() + " has no free address for service '" + s.name + "'", 0};
    }
    return done();
}

Result<std::vector<Reconciler::WantCgroup>> Reconciler::resolve_attachments(const std::vector<Attachment>& attach) {
    std::vector<WantCgroup> want;
    std::set<uint64_t> ids;
    for (size_t i = 0; i < attach.size(); ++i) {
        auto r = cgroups_.resolve(attach[i].cgroup);
        if (!r)
            return Error{"attach[" + std::to_string(i) + "].cgroup: '" + attach[i].cgroup + "': " + r.error().what(), 0};
        if (!ids.insert(r->id).second)
            return Error{"attach[" + std::to_string(i) + "].cgroup: '" + attach[i].cgroup +
                             "' is the same cgroup as an earlier entry",
                         0};
        want.push_back({r->path, r->id, attach[i].ns});
    }
    return want;
}

Result<ApplyReport> Reconciler::apply(const Config& cfg) {
    // Everything that can fail without the kernel, before any write.
    auto want = resolve_attachments(cfg.attach);
    if (!want) return want.error();
    std::vector<ServiceChange> changes;
    changes.reserve(cfg.services.size() + services_.size());
    std::set<std::pair<std::string_view, std::string_view>> names;
    for (const auto& s : cfg.services) {
        changes.push_back({{s.ns.str(), s.name.str()}, &s});
        names.emplace(s.ns, s.name);
    }
    for (const auto& [name, rec] : services_)
        if (!names.count({name.first, name.second})) changes.push_back({name, nullptr});
    auto report = apply_services(changes, cfg.vip_pool);
    if (!report) return report;
    writes_ = 0;
    if (auto st = write_attachments(*want); !st) return st.error();
    if (auto st = gc_namespaces(); !st) return st.error();
    report->map_writes += writes_;
    return report;
}

Result<ApplyReport> Reconciler::apply_services(const std::vector<ServiceChange>& changes, const IpPrefix& vip_pool) {
    writes_ = 0;
    ApplyReport report;
    if (!vip_refs_.same_pool(vip_pool)) {  // the first apply, or the pool changed
        vip_refs_.reset(vip_pool);
        for (const auto& [n, rec] : services_) vip_refs_.add(rec.vip(), +1);
    }
    auto vips = plan_vips(changes, vip_pool);
    if (!vips) return vips.error();

    for (const auto& sk : orphan_slots_)
        if (auto st = counted(store_.delete_slot(sk)); !st) return st.error();
    orphan_slots_.clear();
    for (uint32_t id : orphan_backends_)
        if (auto st = counted(store_.delete_backend(id)); !st) return st.error();
    orphan_backends_.clear();
    for (const auto& [e, owner] : endpoint_fixes_) {
        auto k = kernel_endpoint_key(e.addr, e.port);
        if (auto st = counted(owner ? store_.put_endpoint(k, owner) : store_.delete_endpoint(k)); !st)
            return st.error();
    }
    endpoint_fixes_.clear();
    for (const auto& [e, peer] : peer_fixes_) {
        hl_endpoint_key k = kernel_endpoint_key(e.addr, e.port);
        if (auto st = counted(peer ? store_.put_peer(k, *peer) : store_.delete_peer(k)); !st) return st.error();
    }
    peer_fixes_.clear();
    for (const auto& [id, be] : backend_fixes_)
        if (auto st = counted(store_.put_backend(id, be)); !st) return st.error();
    backend_fixes_.clear();
    if (prune_plain_) {  // the maps now say what the plain records say
        std::erase_if(endpoints_, [](const auto& kv) { return plain(kv.second); });
        prune_plain_ = false;
    }
    if (auto st = flush_departed_peers(); !st) return st.error();

    // The keys the batch publishes: a removed service whose key one of them
    // takes over (a rename on the same VIP) goes after that one is published,
    // so until the put of the key switches connects over they still find the
    // old parts (invariant 1).
    ServiceKeySet desired_keys;
    for (size_t i = 0; i < changes.size(); ++i) {
        const Service* s = changes[i].desired;
        if (!s) continue;
        if (auto it = ns_ids_.find(s->ns.str()); it != ns_ids_.end())
            desired_keys.push_back(key_bytes(make_service_key((*vips)[i], s->port, s->protocol, it->second)));
    }
    std::sort(desired_keys.begin(), desired_keys.end());
    std::vector<ServiceName> handed_over;
    // Removed services first, so their ids and keys are free for new ones.
    for (const auto& c : changes) {
        if (c.desired) continue;
        auto it = services_.find(c.name);
        if (it == services_.end()) continue;
        if (contains(desired_keys, it->second.key)) {
            handed_over.push_back(it->first);
            continue;
        }
        if (auto st = remove_service(it->second, desired_keys, report); !st) return st.error();
        vip_ref(it->second.vip(), -1);
        ++report.removed;
        services_.erase(it);
    }
    for (size_t i = 0; i < changes.size(); ++i) {
        const Service* s = changes[i].desired;
        if (!s) continue;
        auto it = services_.find(changes[i].name);
        const bool fresh = it == services_.end();
        ServiceRec scratch;
        ServiceRec* rec = fresh ? &scratch : &it->second;
        const std::optional<IpAddress> old_vip = fresh ? std::nullopt : std::optional(rec->vip());
        auto changed = write_service(*s, (*vips)[i], rec, desired_keys, report);
        if (fresh && rec->id()) {
            services_.emplace(changes[i].name, std::move(scratch));
            vip_ref((*vips)[i], +1);
        } else if (!fresh && *old_vip != rec->vip()) {
            vip_ref(*old_vip, -1);
            vip_ref(rec->vip(), +1);
        }
        if (!changed) return changed.error();
        if (fresh) ++report.added;
        else if (*changed) ++report.changed;
        else ++report.unchanged;
    }
    for (const auto& name : handed_over) {
        auto it = services_.find(name);
        if (auto st = remove_service(it->second, desired_keys, report); !st) return st.error();
        vip_ref(it->second.vip(), -1);
        ++report.removed;
        services_.erase(it);
    }
    if (report.removed)
        if (auto st = gc_namespaces(); !st) return st.error();
    report.map_writes = writes_;
    return report;
}

Status Reconciler::apply_attachments(const std::vector<Attachment>& attach) {
    auto want = resolve_attachments(attach);
    if (!want) return want.error();
    if (auto st = write_attachments(*want); !st) return st;
    return gc_namespaces();
}

// Cgroups: the namespace entry before the link, so the first connect of a
// newly attached task already finds its namespace.
Status Reconciler::write_attachments(const std::vector<WantCgroup>& want) {
    std::set<uint64_t> want_ids;
    for (const auto& w : want) {
        want_ids.insert(w.id);
        auto ns = namespace_id(w.ns);
        if (!ns) return ns.error();
        hl_cgroup_ns v{*ns, HL_CG_FROM_CONFIG};
        auto it = cgroup_recs_.find(w.id);
        // One attached through the API (or `hopless cgroup attach`) keeps
        // that claim, and its namespace, which the API set.
        if (it != cgroup_recs_.end()) v.flags |= it->second.value.flags & HL_CG_FROM_CLI;
        if (it == cgroup_recs_.end() || std::memcmp(&it->second.value, &v, sizeof v) != 0) {
            if (auto st = counted(store_.put_cgroup(w.id, v)); !st) return st;
            cgroup_recs_[w.id] = CgroupRec{v};
        }
        if (auto st = cgroups_.attach(w.id, w.path); !st) return st;
    }
    for (auto it = cgroup_recs_.begin(); it != cgroup_recs_.end();) {
        if (want_ids.count(it->first) || !(it->second.value.flags & HL_CG_FROM_CONFIG)) {
            ++it;
            continue;
        }
        if (it->second.value.flags & HL_CG_FROM_CLI) {
            // Also attached through the API: it stays until detached there;
            // only the config's claim goes.
            it->second.value.flags &= ~static_cast<uint32_t>(HL_CG_FROM_CONFIG);
            if (auto st = counted(store_.put_cgroup(it->first, it->second.value)); !st) return st;
            ++it;
            continue;
        }
        if (auto st = cgroups_.detach(it->first); !st) return st;
        if (auto st = counted(store_.delete_cgroup(it->first)); !st) return st;
        it = cgroup_recs_.erase(it);
    }
    return ok_status();
}

Result<std::string> Reconciler::attach_cgroup(const std::string& path, const std::string& ns_name) {
    auto r = cgroups_.resolve(path);
    if (!r) return r.error();
    auto ns = namespace_id(ns_name);
    if (!ns) return ns.error();
    hl_cgroup_ns v{*ns, HL_CG_FROM_CLI};
    auto it = cgroup_recs_.find(r->id);
    if (it != cgroup_recs_.end()) v.flags |= it->second.value.flags & HL_CG_FROM_CONFIG;
    if (it == cgroup_recs_.end() || std::memcmp(&it->second.value, &v, sizeof v) != 0) {
        if (auto st = counted(store_.put_cgroup(r->id, v)); !st) return st.error();
        cgroup_recs_[r->id] = CgroupRec{v};
    }
    if (auto st = cgroups_.attach(r->id, r->path); !st) return st.error();
    api_paths_[r->path] = r->id;
    if (path != r->path) api_paths_[path] = r->id;
    if (auto st = gc_namespaces(); !st) return st.error();  // a namespace the cgroup left
    return r->path;
}

Result<std::string> Reconciler::detach_cgroup(const std::string& path) {
    uint64_t id = 0;
    std::string abs;
    if (auto r = cgroups_.resolve(path); r) {
        id = r->id;
        abs = r->path;
    } else {
        // The cgroup is gone already: runc removes a container's cgroup
        // before its poststop hook runs. Detach it by the id it had.
        auto known = api_paths_.find(path);
        if (known == api_paths_.end()) return r.error();
        id = known->second;
        abs = path;
    }
    auto it = cgroup_recs_.find(id);
    if (it == cgroup_recs_.end() || !(it->second.value.flags & HL_CG_FROM_CLI))
        return Error{abs + " is not attached through the API" +
                         std::string(it != cgroup_recs_.end() ? " (the config file attaches it: change it there)" : ""),
                     0};
    std::erase_if(api_paths_, [&](const auto& kv) { return kv.second == id; });
    if (it->second.value.flags & HL_CG_FROM_CONFIG) {
        it->second.value.flags &= ~static_cast<uint32_t>(HL_CG_FROM_CLI);
        if (auto st = counted(store_.put_cgroup(id, it->second.value)); !st) return st.error();
        return abs;
    }
    if (auto st = cgroups_.detach(id); !st) return st.error();
    if (auto st = counted(store_.delete_cgroup(id)); !st) return st.error();
    cgroup_recs_.erase(it);
    if (auto st = gc_namespaces(); !st) return st.error();
    return abs;
}

// Namespaces nobody names any more. Walks the services only when some
// namespace may have lost its last user: namespaces are few, services many.
Status Reconciler::gc_namespaces() {
    std::set<uint32_t> live;
    for (const auto& [id, rec] : cgroup_recs_) live.insert(rec.value.ns_id);
    std::vector<uint32_t> maybe_dead;
    for (const auto& [n, id] : ns_ids_)
        if (!live.count(id)) maybe_dead.push_back(id);
    if (maybe_dead.empty()) return ok_status();
    // services_ is ordered by (namespace, name): one lower_bound per namespace.
    for (auto it = ns_ids_.begin(); it != ns_ids_.end();) {
        if (live.count(it->second)) {
            ++it;
            continue;
        }
        auto s = services_.lower_bound({it->first, std::string()});
        if (s != services_.end() && s->first.first == it->first) {
            ++it;
            continue;
        }
        if (auto st = counted(store_.delete_namespace(it->second)); !st) return st;
        ns_alloc_.release(it->second);
        it = ns_ids_.erase(it);
    }
    return ok_status();
}

}  // namespace hl
