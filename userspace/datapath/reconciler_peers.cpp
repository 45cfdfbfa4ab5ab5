// hl_peer_v1: backend TCP address:port -> the VIP, service and backend a
// redirected socket connected there belongs to. The datapath keeps nothing
// per TCP connection (issue 12); getpeername, the lifecycle counters and
// socket termination find a socket's redirect again from its peer here.
//
// Rules that keep what the kernel counts symmetric (an open and its close
// find the same service and backend):
//  - the first TCP service to name an address:port answers for it while it
//    names it; a service that names it after is SECONDARY there, and the
//    connect hook gives its sockets a record of their own;
//  - an entry whose backend left stays until the next apply: the daemon
//    terminates that backend's sockets in between, and their closes are
//    counted against it;
//  - only then does the next service naming it (if any) take it over.
#include <arpa/inet.h>

#include <cstring>

#include "datapath/reconciler.h"

namespace hl {

namespace {
hl_endpoint_key peer_key(const std::array<uint8_t, 16>& addr, uint16_t port) {
    hl_endpoint_key k{};
    std::memcpy(k.addr, addr.data(), 16);
    k.port = htons(port);
    return k;
}

bool same_peer(const hl_peer& a, const hl_peer& b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

hl_peer make_peer(const hl_service_key& key, uint16_t connect_timeout_cs, uint32_t service_id, uint32_t backend_id) {
    hl_peer p{};
    std::memcpy(p.vip, key.addr, 16);
    p.vip_port = key.port;
    p.vip_family = IpAddress::from_bytes(key.addr).is_v4() ? HL_FAMILY_V4 : HL_FAMILY_V6;
    p.service_id = service_id;
    p.backend_id = backend_id;
    p.connect_timeout_cs = connect_timeout_cs;
    return p;
}

// A new endpoint's record is kept until the service's claim_endpoint (it is
// not plain before: no service is counted as naming it yet).
Result<bool> Reconciler::claim_peer(const EndpointKey& k, const hl_peer& value) {
    auto it = materialize(k);
    auto& rec = it->second;
    if (rec.peer_service && rec.peer_service != value.service_id) {
        settle(it);
        return true;
    }
    rec.peer_service = value.service_id;
    rec.peer_backend = value.backend_id;
    rec.peer_left = false;
    if (auto st = counted(store_.put_peer(peer_key(k.addr, k.port), value)); !st) return st.error();
    settle(it);
    return false;
}

void Reconciler::release_peer(const EndpointKey& k, uint32_t service_id) {
    auto it = materialize(k);
    if (it->second.peer_service != service_id || it->second.peer_left) {
        settle(it);
        return;
    }
    it->second.peer_left = true;
    departed_peers_.push_back(k);
}

// No kernel lookup: it is asked of backends the service named TCP before
// (or it is claimed right after), so an endpoint with no record kept is
// plain with this service as the one that names it and answers for it.
bool Reconciler::secondary(const Backend& b, uint32_t service_id, bool tcp) const {
    if (!tcp) return false;
    auto it = endpoints_.find(endpoint_key(b));
    return it != endpoints_.end() && it->second.peer_service && it->second.peer_service != service_id;
}

// The service's VIP, port or connect_timeout changed: the entries it
// answers for say so.
Status Reconciler::rewrite_peers(uint32_t service_id, const std::vector<BackendRec>& backends, const hl_peer& tmpl) {
    for (const auto& b : backends) {
        auto it = materialize(endpoint_key(b.spec));
        const EndpointKey k = it->first;
        const bool answers = it->second.peer_service == service_id && !it->second.peer_left;
        settle(it);
        if (!answers) continue;
        hl_peer v = tmpl;
        v.backend_id = b.id;
        if (auto st = counted(store_.put_peer(peer_key(k.addr, k.port), v)); !st) return st;
    }
    return ok_status();
}

// At the start of an apply: the entries of backends that left at the last
// one (whose sockets the daemon has terminated since) go, or pass to the
// next TCP service that names the address:port. Its backend stops being
// SECONDARY: its sockets' own records and the entry now agree.
Status Reconciler::flush_departed_peers() {
    std::vector<EndpointKey> departed;
    departed.swap(departed_peers_);
    for (const auto& k : departed) {
        auto it = endpoints_.find(k);
        if (it == endpoints_.end() || !it->second.peer_left) continue;
        auto& rec = it->second;
        rec.peer_left = false;
        rec.peer_service = rec.peer_backend = 0;
        const auto key = peer_key(k.addr, k.port);
        const auto namer = first_namer(rec);
        const ServiceRec* next = namer ? find_by_id(namer->first) : nullptr;
        if (!next) {
            if (rec.namers.empty()) endpoints_.erase(it);
            if (auto st = counted(store_.delete_peer(key)); !st) return st;
            continue;
        }
        const uint32_t nb = namer->second;
        rec.peer_service = next->id();
        rec.peer_backend = nb;
        if (auto st = counted(store_.put_peer(key, make_peer(next->key, next->value.connect_timeout_cs, next->id(), nb)));
            !st)
            return st;
        settle(it);
        // No longer SECONDARY: the rest of the backend is as the kernel holds it.
        if (auto be = store_.get_backend(nb)) {
            be->flags &= static_cast<uint8_t>(~HL_BACKEND_F_SECONDARY);
            if (auto st = counted(store_.put_backend(nb, *be)); !st) return st;
        }
    }
    return ok_status();
}

// After a restart: who answers for each TCP endpoint is what the kernel
// says, where that still names a service's backend; anything else (a
// datapath before issue 12 had no hl_peer_v1, or a crash between writes) is
// put right at the next apply, and so are the backends' SECONDARY flags.
void Reconciler::adopt_peers(const KernelState& k, const std::map<uint32_t, std::vector<BackendRec>>& backends) {
    peer_fixes_.clear();
    backend_fixes_.clear();
    departed_peers_.clear();
    std::map<uint32_t, const ServiceRec*> by_id;
    for (const auto& [n, rec] : services_) by_id[rec.id()] = &rec;
    std::unordered_map<EndpointKey, hl_peer, EndpointKeyHash> held;
    for (const auto& [key, v] : k.peers) {
        EndpointKey e;
        std::memcpy(e.addr.data(), key.addr, 16);
        e.port = ntohs(key.port);
        held[e] = v;
        if (!endpoints_.count(e)) peer_fixes_.push_back({e, std::nullopt});
    }
    for (auto& [e, rec] : endpoints_) {
        // The entry held, where a TCP service names the endpoint with the
        // backend it says; else the lowest id of those that name it.
        std::optional<std::pair<uint32_t, uint32_t>> primary;
        if (auto h = held.find(e); h != held.end())
            for (const auto& n : rec.namers)
                if (n.first == h->second.service_id && n.second == h->second.backend_id) primary = n;
        if (!primary) primary = first_namer(rec);
        if (!primary) continue;
        const ServiceRec* ps = by_id.at(primary->first);
        rec.peer_service = primary->first;
        rec.peer_backend = primary->second;
        hl_peer want = make_peer(ps->key, ps->value.connect_timeout_cs, ps->id(), primary->second);
        if (auto h = held.find(e); h == held.end() || !same_peer(h->second, want)) peer_fixes_.push_back({e, want});
    }
    for (const auto& [n, rec] : services_) {
        auto bs = backends.find(rec.id());
        if (bs == backends.end()) continue;
        for (const auto& b : bs->second) {
            hl_backend want = make_backend(b.spec, rec.id(), secondary(b.spec, rec.id(), rec.key.proto == IPPROTO_TCP));
            auto kb = k.backends.find(b.id);
            if (kb != k.backends.end() && std::memcmp(&kb->second, &want, sizeof want) != 0)
                backend_fixes_.push_back({b.id, want});
        }
    }
}

}  // namespace hl
