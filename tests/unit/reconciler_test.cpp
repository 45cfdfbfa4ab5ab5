// hl::Reconciler against a fake MapStore: what it writes, in which order, and
// what a connect racing the update can see at every step (DESIGN.md
// invariants 1, 4, 5 and 7).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "datapath/reconciler.h"
#include "datapath/slot_table.h"

namespace {

using ::testing::HasSubstr;
using Endpoint = std::pair<hl::IpAddress, uint16_t>;

// ---------------------------------------------------------------------------
// The fake kernel: the maps as std::maps, every operation in one log, and a
// snapshot of the maps after every operation so a reader can be replayed at
// any point of an update.

using SvcKey = std::array<uint8_t, sizeof(hl_service_key)>;
using SlotKey = std::tuple<uint32_t, uint32_t, uint32_t>;  // service id, generation, slot

SvcKey svc_key(const hl_service_key& k) {
    SvcKey out;
    std::memcpy(out.data(), &k, sizeof k);
    return out;
}
hl_service_key from_svc_key(const SvcKey& k) {
    hl_service_key out;
    std::memcpy(&out, k.data(), sizeof out);
    return out;
}
SlotKey slot_key(const hl_slot_key& k) { return {k.service_id, k.generation, k.slot}; }

struct MapsState {
    std::map<uint32_t, hl_ns_meta> namespaces;
    std::map<uint32_t, hl_backend> backends;
    std::map<SlotKey, uint32_t> slots;
    std::map<SvcKey, hl_service> services;
    std::map<uint32_t, hl_service_meta> service_meta;
    std::map<uint64_t, hl_cgroup_ns> cgroups;
    std::map<Endpoint, uint32_t> endpoints;  // backend address:port -> TCP service id
    std::map<Endpoint, hl_peer> peers;       // backend address:port -> what redirected sockets there were dialed as
};

enum class Op {
    PutNamespace, DeleteNamespace, PutBackend, DeleteBackend, PutSlot, DeleteSlot, PutService, DeleteService,
    PutServiceMeta, DeleteServiceMeta, PutCgroup, DeleteCgroup, ResetServiceCounters, ResetBackendCounters,
    PutEndpoint, DeleteEndpoint, PutPeer, DeletePeer,
    Attach, Detach,  // the cgroup attacher, not a map
};

const char* op_name(Op op) {
    static const char* names[] = {"put_namespace", "delete_namespace", "put_backend", "delete_backend",
                                  "put_slot", "delete_slot", "put_service", "delete_service",
                                  "put_service_meta", "delete_service_meta", "put_cgroup", "delete_cgroup",
                                  "reset_service_counters", "reset_backend_counters", "put_endpoint",
                                  "delete_endpoint", "put_peer", "delete_peer", "attach", "detach"};
    return names[static_cast<int>(op)];
}

struct Entry {
    Op op;
    uint64_t id = 0;        // namespace, backend, service (meta/counters) or cgroup id
    hl_slot_key slot{};     // PutSlot/DeleteSlot
    uint32_t slot_value = 0;
    SvcKey key{};           // PutService/DeleteService
    hl_service svc{};       // PutService
    hl_cgroup_ns cg{};      // PutCgroup
    hl_backend be{};        // PutBackend
};

std::ostream& operator<<(std::ostream& os, const Entry& e) {
    os << op_name(e.op);
    if (e.op == Op::PutSlot || e.op == Op::DeleteSlot)
        os << " {" << e.slot.service_id << "," << e.slot.generation << "," << e.slot.slot << "}";
    else if (e.op == Op::PutService || e.op == Op::DeleteService)
        os << " id=" << e.svc.id << " gen=" << e.svc.generation;
    else
        os << " " << e.id;
    return os;
}

struct World {
    MapsState state;
    std::vector<Entry> log;
    std::vector<MapsState> history{MapsState{}};  // history[i]: the maps before log[i]; history[i+1] after it
    size_t map_ops = 0;                           // store operations only (not attach/detach)

    void record(Entry e) {
        if (e.op != Op::Attach && e.op != Op::Detach) ++map_ops;
        log.push_back(e);
        history.push_back(state);
    }
    size_t count(Op op, size_t from = 0) const {
        return static_cast<size_t>(std::count_if(log.begin() + static_cast<long>(from), log.end(),
                                                 [&](const Entry& e) { return e.op == op; }));
    }
    std::string dump(size_t from = 0) const {
        std::string s;
        for (size_t i = from; i < log.size(); ++i) {
            std::ostringstream os;
            os << "  [" << i << "] " << log[i] << "\n";
            s += os.str();
        }
        return s;
    }
};

class FakeStore : public hl::MapStore {
public:
    explicit FakeStore(World& w) : w_(w) {}

    hl::Status put_namespace(uint32_t id, const hl_ns_meta& meta) override {
        w_.state.namespaces[id] = meta;
        return done({Op::PutNamespace, id});
    }
    hl::Status delete_namespace(uint32_t id) override {
        w_.state.namespaces.erase(id);
        return done({Op::DeleteNamespace, id});
    }
    hl::Status put_backend(uint32_t id, const hl_backend& be) override {
        w_.state.backends[id] = be;
        Entry e{Op::PutBackend, id};
        e.be = be;
        return done(e);
    }
    hl::Status delete_backend(uint32_t id) override {
        w_.state.backends.erase(id);
        return done({Op::DeleteBackend, id});
    }
    hl::Status put_slot(const hl_slot_key& key, uint32_t backend_id) override {
        w_.state.slots[slot_key(key)] = backend_id;
        Entry e{Op::PutSlot};
        e.slot = key;
        e.slot_value = backend_id;
        return done(e);
    }
    hl::Status delete_slot(const hl_slot_key& key) override {
        w_.state.slots.erase(slot_key(key));
        Entry e{Op::DeleteSlot};
        e.slot = key;
        return done(e);
    }
    hl::Status put_service(const hl_service_key& key, const hl_service& svc) override {
        w_.state.services[svc_key(key)] = svc;
        Entry e{Op::PutService};
        e.key = svc_key(key);
        e.svc = svc;
        return done(e);
    }
    hl::Status delete_service(const hl_service_key& key) override {
        auto it = w_.state.services.find(svc_key(key));
        Entry e{Op::DeleteService};
        e.key = svc_key(key);
        if (it != w_.state.services.end()) e.svc = it->second;
        w_.state.services.erase(svc_key(key));
        return done(e);
    }
    hl::Status put_service_meta(uint32_t id, const hl_service_meta& meta) override {
        w_.state.service_meta[id] = meta;
        return done({Op::PutServiceMeta, id});
    }
    hl::Status delete_service_meta(uint32_t id) override {
        w_.state.service_meta.erase(id);
        return done({Op::DeleteServiceMeta, id});
    }
    hl::Status put_cgroup(uint64_t cgroup_id, const hl_cgroup_ns& v) override {
        w_.state.cgroups[cgroup_id] = v;
        Entry e{Op::PutCgroup, cgroup_id};
        e.cg = v;
        return done(e);
    }
    hl::Status delete_cgroup(uint64_t cgroup_id) override {
        w_.state.cgroups.erase(cgroup_id);
        return done({Op::DeleteCgroup, cgroup_id});
    }
    hl::Status put_endpoint(const hl_endpoint_key& key, uint32_t service_id) override {
        w_.state.endpoints[endpoint_of(key)] = service_id;
        return done({Op::PutEndpoint, service_id});
    }
    hl::Status delete_endpoint(const hl_endpoint_key& key) override {
        w_.state.endpoints.erase(endpoint_of(key));
        return done({Op::DeleteEndpoint, 0});
    }
    hl::Status put_peer(const hl_endpoint_key& key, const hl_peer& peer) override {
        w_.state.peers[endpoint_of(key)] = peer;
        return done({Op::PutPeer, peer.backend_id});
    }
    hl::Status delete_peer(const hl_endpoint_key& key) override {
        w_.state.peers.erase(endpoint_of(key));
        return done({Op::DeletePeer, 0});
    }
    std::optional<uint32_t> get_endpoint(const hl_endpoint_key& key) const override {
        auto it = w_.state.endpoints.find(endpoint_of(key));
        return it == w_.state.endpoints.end() ? std::nullopt : std::optional(it->second);
    }
    std::optional<hl_peer> get_peer(const hl_endpoint_key& key) const override {
        auto it = w_.state.peers.find(endpoint_of(key));
        return it == w_.state.peers.end() ? std::nullopt : std::optional(it->second);
    }
    std::optional<hl_backend> get_backend(uint32_t id) const override {
        auto it = w_.state.backends.find(id);
        return it == w_.state.backends.end() ? std::nullopt : std::optional(it->second);
    }
    hl::Status reset_service_counters(uint32_t id) override { return done({Op::ResetServiceCounters, id}); }
    hl::Status reset_backend_counters(uint32_t id) override { return done({Op::ResetBackendCounters, id}); }

    hl::KernelState read() const override {
        hl::KernelState k;
        for (const auto& [key, v] : w_.state.services) k.services.emplace_back(from_svc_key(key), v);
        k.service_meta = w_.state.service_meta;
        for (const auto& [sk, bid] : w_.state.slots)
            k.slots.emplace_back(hl_slot_key{std::get<0>(sk), std::get<1>(sk), std::get<2>(sk)}, bid);
        k.backends = w_.state.backends;
        k.cgroups = w_.state.cgroups;
        k.namespaces = w_.state.namespaces;
        for (const auto& [ep, sid] : w_.state.endpoints) {
            hl_endpoint_key key{};
            std::memcpy(key.addr, ep.first.bytes().data(), 16);
            key.port = htons(ep.second);
            k.endpoints.emplace_back(key, sid);
        }
        for (const auto& [ep, peer] : w_.state.peers) {
            hl_endpoint_key key{};
            std::memcpy(key.addr, ep.first.bytes().data(), 16);
            key.port = htons(ep.second);
            k.peers.emplace_back(key, peer);
        }
        return k;
    }

private:
    static Endpoint endpoint_of(const hl_endpoint_key& k) { return {hl::IpAddress::from_bytes(k.addr), ntohs(k.port)}; }
    hl::Status done(Entry e) {
        w_.record(e);
        return hl::ok_status();
    }
    World& w_;
};

class FakeAttacher : public hl::CgroupAttacher {
public:
    explicit FakeAttacher(World& w) : w_(w) {}
    std::map<std::string, uint64_t> known;  // path -> cgroup id; anything else fails to resolve
    std::map<uint64_t, std::string> attached;

    hl::Result<Resolved> resolve(const std::string& path) override {
        auto it = known.find(path);
        if (it == known.end()) return hl::Error{"no such cgroup", ENOENT};
        return Resolved{"/sys/fs/cgroup/" + path, it->second};
    }
    hl::Status attach(uint64_t id, const std::string& path) override {
        attached[id] = path;
        w_.record({Op::Attach, id});
        return hl::ok_status();
    }
    hl::Status detach(uint64_t id) override {
        attached.erase(id);
        w_.record({Op::Detach, id});
        return hl::ok_status();
    }

private:
    World& w_;
};

// ---------------------------------------------------------------------------
// The reader: what the connect hook does (bpf/lib/lb.h), on the fake maps.
// The service entry, a slot and a backend may be read at three different
// moments of an update (states i <= j <= k).

enum class Seen { NotAVip, Refused, Retry, Skip, Backend };

struct SlotRead {
    Seen seen;
    Endpoint ep{};
};

Endpoint endpoint_of(const hl_backend& be) { return {hl::IpAddress::from_bytes(be.addr), ntohs(be.port)}; }

// One slot of the table named by `svc`, read from `slots_at`, its backend from `backends_at`.
SlotRead read_slot(const hl_service& svc, uint32_t slot, const MapsState& slots_at, const MapsState& backends_at) {
    auto s = slots_at.slots.find({svc.id, svc.generation, slot});
    if (s == slots_at.slots.end()) return {Seen::Retry};
    auto b = backends_at.backends.find(s->second);
    if (b == backends_at.backends.end()) return {Seen::Retry};
    if (b->second.service_id != svc.id || b->second.state != HL_BACKEND_ACTIVE) return {Seen::Skip};
    return {Seen::Backend, endpoint_of(b->second)};
}

// A connect that reads everything at one moment: the endpoints its slots name.
struct Resolution {
    Seen seen;                // NotAVip, Refused, Retry (an inconsistent state) or Backend
    std::set<Endpoint> endpoints;
};

Resolution resolve_at(const MapsState& st, const SvcKey& key) {
    auto it = st.services.find(key);
    if (it == st.services.end()) return {Seen::NotAVip, {}};
    Resolution r{Seen::Refused, {}};
    for (uint32_t i = 0; i < it->second.slot_count; ++i) {
        SlotRead sr = read_slot(it->second, i, st, st);
        if (sr.seen == Seen::Retry) return {Seen::Retry, {}};
        if (sr.seen == Seen::Backend) r.endpoints.insert(sr.ep);
    }
    if (!r.endpoints.empty()) r.seen = Seen::Backend;
    return r;
}

std::string show(const std::set<Endpoint>& eps) {
    std::string s = "{";
    for (const auto& [a, p] : eps) s += (s.size() > 1 ? ", " : "") + a.with_port(p);
    return s + "}";
}

// Checks every interleaving of one update (log entries [from, to)) for the
// service `key`: a connect lands on an endpoint of `allowed` (the old set or
// the new), or finds a table gone and, re-reading the service entry as the
// BPF does, then lands on one. `may_vanish`: the key is absent before or
// after the update (a service added or removed), so "not a VIP" is fine.
void expect_race_free(const World& w, size_t from, size_t to, const SvcKey& key, const std::set<Endpoint>& allowed,
                      bool may_vanish, bool may_refuse = false) {
    size_t problems = 0;
    auto report = [&](const std::string& what) {
        if (++problems <= 5) ADD_FAILURE() << what << "\nlog of the update:\n" << w.dump(from);
    };
    auto check_atomic = [&](size_t k, const char* ctx) {
        Resolution r = resolve_at(w.history[k], key);
        switch (r.seen) {
            case Seen::NotAVip:
                if (!may_vanish) report(std::string(ctx) + ": the VIP vanished after op " + std::to_string(k));
                break;
            case Seen::Refused:
                if (!may_refuse) report(std::string(ctx) + ": connect refused after op " + std::to_string(k));
                break;
            case Seen::Retry:
                report(std::string(ctx) + ": the published table names a missing slot or backend after op " +
                       std::to_string(k));
                break;
            default:
                for (const auto& ep : r.endpoints)
                    if (!allowed.count(ep))
                        report(std::string(ctx) + ": " + ep.first.with_port(ep.second) + " after op " +
                               std::to_string(k) + " is not in old or new set " + show(allowed));
        }
    };
    for (size_t i = from; i <= to; ++i) {
        check_atomic(i, "atomic read");
        auto svc = w.history[i].services.find(key);
        if (svc == w.history[i].services.end()) continue;
        for (size_t j = i; j <= to; ++j)
            for (size_t k = j; k <= to; ++k)
                for (uint32_t slot = 0; slot < svc->second.slot_count; ++slot) {
                    SlotRead sr = read_slot(svc->second, slot, w.history[j], w.history[k]);
                    if (sr.seen == Seen::Backend && !allowed.count(sr.ep))
                        report("service read at " + std::to_string(i) + ", slot at " + std::to_string(j) +
                               ", backend at " + std::to_string(k) + ": " + sr.ep.first.with_port(sr.ep.second) +
                               " is not in old or new set " + show(allowed));
                    if (sr.seen == Seen::Retry) check_atomic(k, "retry with a fresh service read");
                }
    }
    EXPECT_EQ(problems, 0u);
}

// ---------------------------------------------------------------------------
// Building configs.

hl::IpAddress ip(const char* s) { return *hl::IpAddress::parse(s); }

hl::Backend be(const char* addr, uint16_t port = 8080, uint16_t weight = 1,
               hl::BackendState state = hl::BackendState::Active) {
    hl::Backend b;
    b.address = ip(addr);
    b.port = port;
    b.weight = weight;
    b.state = state;
    return b;
}

hl::Service service(const std::string& name, std::optional<const char*> vip, uint16_t port,
                    std::vector<hl::Backend> backends, const std::string& ns = "default") {
    hl::Service s;
    s.name = name;
    s.ns = ns;
    if (vip) s.vip = ip(*vip);
    s.port = port;
    s.backends = std::move(backends);
    return s;
}

std::set<Endpoint> usable(const hl::Service& s) {
    std::set<Endpoint> out;
    for (const auto& b : s.backends)
        if (b.state == hl::BackendState::Active && b.weight > 0) out.insert({b.address, b.port});
    return out;
}

std::set<Endpoint> operator+(std::set<Endpoint> a, const std::set<Endpoint>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

class ReconcilerTest : public ::testing::Test {
protected:
    hl::MapLimits limits{64, 256};
    World w;
    FakeStore store{w};
    FakeAttacher cgroups{w};
    hl::Reconciler rec{store, cgroups, limits};

    static hl::Config config(std::vector<hl::Service> services, std::vector<hl::Attachment> attach = {}) {
        hl::Config c;
        c.maps = hl::MapLimits{64, 256};
        c.services = std::move(services);
        c.attach = std::move(attach);
        return c;
    }

    hl::ApplyReport apply(const hl::Config& c, hl::Reconciler* r = nullptr) {
        auto res = (r ? r : &rec)->apply(c);
        EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.error().what());
        return res.ok() ? res.value() : hl::ApplyReport{};
    }

    uint32_t ns_id(const std::string& ns) const { return rec.namespaces().at(ns); }
    // The id of a service's backend at address:port (the record keeps ids;
    // what each is, the maps say).
    uint32_t backend_id(const char* name, const char* address, uint16_t port = 8080) const {
        const auto* r = rec.find({"default", name});
        EXPECT_NE(r, nullptr) << name;
        if (!r) return 0;
        for (const auto& b : rec.backends_of(*r))
            if (b.spec.address == ip(address) && b.spec.port == port) return b.id;
        ADD_FAILURE() << name << " has no backend " << address << ":" << port;
        return 0;
    }
    SvcKey key_of(const hl::Service& s, const hl::Reconciler* r = nullptr) const {
        const auto& recs = (r ? r : &rec)->services();
        const auto& sr = recs.at({s.ns, s.name});
        return svc_key(hl::make_service_key(sr.vip(), s.port, s.protocol, sr.key.ns_id));
    }
    const hl_service& published(const SvcKey& k) const { return w.state.services.at(k); }

    // Indexes of log entries from `from` on that match.
    std::vector<size_t> where(Op op, size_t from = 0, std::function<bool(const Entry&)> pred = {}) const {
        std::vector<size_t> out;
        for (size_t i = from; i < w.log.size(); ++i)
            if (w.log[i].op == op && (!pred || pred(w.log[i]))) out.push_back(i);
        return out;
    }

    // The slot table in force for a key, as endpoints in slot order.
    std::vector<Endpoint> table(const SvcKey& k) const {
        const hl_service& s = published(k);
        std::vector<Endpoint> out;
        for (uint32_t i = 0; i < s.slot_count; ++i)
            out.push_back(endpoint_of(w.state.backends.at(w.state.slots.at({s.id, s.generation, i}))));
        return out;
    }

    // Nothing leaks: every slot belongs to a live service's current or
    // previous generation, every backend and meta to a live service.
    void expect_no_garbage() const {
        std::map<uint32_t, uint32_t> gen_of;
        for (const auto& [k, v] : w.state.services) gen_of[v.id] = v.generation;
        for (const auto& [sk, bid] : w.state.slots) {
            auto [sid, gen, slot] = sk;
            ASSERT_TRUE(gen_of.count(sid)) << "slot of a removed service " << sid;
            EXPECT_TRUE(gen == gen_of[sid] || gen + 1 == gen_of[sid])
                << "slot {" << sid << "," << gen << "," << slot << "} of a generation before last (now "
                << gen_of[sid] << ")";
            if (gen == gen_of[sid]) {
                EXPECT_TRUE(w.state.backends.count(bid)) << "current slot names a missing backend";
            }
        }
        for (const auto& [id, b] : w.state.backends)
            EXPECT_TRUE(gen_of.count(b.service_id)) << "backend " << id << " of a removed service";
        for (const auto& [id, m] : w.state.service_meta) EXPECT_TRUE(gen_of.count(id)) << "meta of removed " << id;
        std::set<uint32_t> live_ns;
        for (const auto& [k, v] : w.state.services) live_ns.insert(from_svc_key(k).ns_id);
        for (const auto& [id, c] : w.state.cgroups) live_ns.insert(c.ns_id);
        for (const auto& [id, m] : w.state.namespaces) EXPECT_TRUE(live_ns.count(id)) << "unused namespace " << id;
    }
};

// ---------------------------------------------------------------------------

TEST_F(ReconcilerTest, NewServiceIsWrittenPartsFirstAndPublishedLast) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2"), be("fd00::3")});
    auto rep = apply(config({web}));
    EXPECT_EQ(rep.added, 1u);
    EXPECT_EQ(rep.map_writes, w.map_ops);

    auto put_ns = where(Op::PutNamespace);
    auto put_be = where(Op::PutBackend);
    auto put_slot = where(Op::PutSlot);
    auto put_svc = where(Op::PutService);
    auto reset_svc = where(Op::ResetServiceCounters);
    ASSERT_EQ(put_ns.size(), 1u);
    ASSERT_EQ(put_be.size(), 3u);
    ASSERT_EQ(put_slot.size(), 3u);
    ASSERT_EQ(put_svc.size(), 1u) << w.dump();
    ASSERT_EQ(reset_svc.size(), 1u);
    EXPECT_LT(put_be.back(), put_slot.front()) << "a slot named a backend not yet written\n" << w.dump();
    EXPECT_LT(put_slot.back(), put_svc[0]) << "the service was published before its table\n" << w.dump();
    EXPECT_LT(put_ns[0], put_svc[0]) << "namespace meta after the service\n" << w.dump();
    EXPECT_LT(reset_svc[0], put_svc[0]) << "counters reset after the service went live";
    for (size_t i : where(Op::ResetBackendCounters))
        EXPECT_LT(i, put_slot.front()) << "backend counters reset after a slot named it";

    // The published entry: in web's namespace, its table names exactly its backends.
    SvcKey k = key_of(web);
    EXPECT_EQ(from_svc_key(k).ns_id, ns_id("default"));
    EXPECT_EQ(from_svc_key(k).port, htons(80));
    EXPECT_EQ(from_svc_key(k).proto, IPPROTO_TCP);
    const hl_service& s = published(k);
    EXPECT_NE(s.id, 0u);
    EXPECT_EQ(s.slot_count, 3u);
    EXPECT_EQ(s.algorithm, HL_ALGO_ROUND_ROBIN);
    auto t = table(k);
    EXPECT_EQ(std::set<Endpoint>(t.begin(), t.end()), usable(web));
    for (const auto& [id, b] : w.state.backends) {
        EXPECT_EQ(b.service_id, s.id);
        EXPECT_EQ(b.family, b.addr[10] == 0xff ? HL_FAMILY_V4 : HL_FAMILY_V6);
    }
    EXPECT_EQ(std::string(w.state.service_meta.at(s.id).name), "web");
    EXPECT_EQ(std::string(w.state.namespaces.at(ns_id("default")).name), "default");
    expect_race_free(w, 0, w.log.size(), k, usable(web), /*may_vanish=*/true);
    expect_no_garbage();
}

// The reconciler keeps only its backends' ids; what each is, hl_be_v1
// says. An entry deleted behind its back (bpftool) is written again at the
// service's next change, under a new id, and nothing is counted twice.
TEST_F(ReconcilerTest, ABackendTheMapLostIsWrittenAgainAtTheNextChange) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    apply(config({web}));
    const uint32_t lost = backend_id("web", "10.0.0.1");
    w.state.backends.erase(lost);
    web.backends.push_back(be("10.0.0.3"));
    apply(config({web}));
    const auto* r = rec.find({"default", "web"});
    ASSERT_NE(r, nullptr);
    const auto bs = rec.backends_of(*r);
    ASSERT_EQ(bs.size(), 3u);
    for (const auto& b : bs) {
        SCOPED_TRACE(b.spec.endpoint());
        EXPECT_NE(b.id, lost);
        ASSERT_TRUE(w.state.backends.count(b.id)) << "every backend of the record is in the map";
        EXPECT_EQ(w.state.endpoints.at({b.spec.address, b.spec.port}), r->id());
        EXPECT_EQ(w.state.peers.at({b.spec.address, b.spec.port}).backend_id, b.id);
    }
    EXPECT_EQ(w.state.backends.size(), 3u);
    // The endpoint is named once: when web lets it go, it leaves the maps.
    web.backends = {be("10.0.0.2"), be("10.0.0.3")};
    apply(config({web}));
    apply(config({web}));  // the peer entry goes at the apply after
    EXPECT_FALSE(w.state.endpoints.count({ip("10.0.0.1"), 8080}));
    EXPECT_FALSE(w.state.peers.count({ip("10.0.0.1"), 8080}));
    // A reconciler that starts afresh over these maps finds them right.
    hl::Reconciler fresh(store, cgroups, limits);
    fresh.adopt();
    const size_t m = w.map_ops;
    apply(config({web}), &fresh);
    EXPECT_EQ(w.map_ops, m) << w.dump(m);
}

TEST_F(ReconcilerTest, ChangedBackendSetIsPublishedByOneServiceWrite) {
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    apply(config({v1}));
    SvcKey k = key_of(v1);
    const hl_service before = published(k);
    const uint32_t removed_id = backend_id("web", "10.0.0.1");

    hl::Service v2 = service("web", "127.255.0.1", 80, {be("10.0.0.2"), be("10.0.0.3")});
    size_t m = w.log.size();
    auto rep = apply(config({v2}));
    EXPECT_EQ(rep.changed, 1u);

    auto put_svc = where(Op::PutService, m);
    ASSERT_EQ(put_svc.size(), 1u) << "one write publishes the new table\n" << w.dump(m);
    const hl_service& after = published(k);
    EXPECT_EQ(after.id, before.id) << "the service keeps its id";
    EXPECT_GT(after.generation, before.generation);
    EXPECT_EQ(w.log[put_svc[0]].svc.generation, after.generation);

    auto new_slots = where(Op::PutSlot, m);
    ASSERT_EQ(new_slots.size(), 2u);
    for (size_t i : new_slots) {
        EXPECT_EQ(w.log[i].slot.generation, after.generation);
        EXPECT_LT(i, put_svc[0]) << "a slot of the new table written after the publish\n" << w.dump(m);
    }
    auto added = where(Op::PutBackend, m);
    ASSERT_EQ(added.size(), 1u);
    EXPECT_LT(added[0], new_slots.front()) << "new backend written after a slot names it";
    EXPECT_NE(w.log[added[0]].id, removed_id) << "a removed backend's id was reused at once";

    auto dels = where(Op::DeleteBackend, m);
    ASSERT_EQ(dels.size(), 1u);
    EXPECT_EQ(w.log[dels[0]].id, removed_id);
    EXPECT_GT(dels[0], put_svc[0]) << "a backend was deleted before the table without it was published\n"
                                   << w.dump(m);

    // The previous generation stays for connects that read the old entry...
    EXPECT_TRUE(where(Op::DeleteSlot, m).empty()) << w.dump(m);
    for (uint32_t i = 0; i < before.slot_count; ++i)
        EXPECT_TRUE(w.state.slots.count({before.id, before.generation, i}));
    auto t2 = table(k);
    EXPECT_EQ(std::set<Endpoint>(t2.begin(), t2.end()), usable(v2));
    expect_race_free(w, m, w.log.size(), k, usable(v1) + usable(v2), false);

    // ...and goes with the next change, after that change is published.
    hl::Service v3 = service("web", "127.255.0.1", 80, {be("10.0.0.3"), be("10.0.0.4")});
    size_t m3 = w.log.size();
    apply(config({v3}));
    auto put3 = where(Op::PutService, m3);
    ASSERT_EQ(put3.size(), 1u);
    auto dels3 = where(Op::DeleteSlot, m3);
    ASSERT_EQ(dels3.size(), before.slot_count) << w.dump(m3);
    for (size_t i : dels3) {
        EXPECT_EQ(w.log[i].slot.generation, before.generation) << "only the generation before last goes";
        EXPECT_GT(i, put3[0]);
    }
    for (uint32_t i = 0; i < after.slot_count; ++i)
        EXPECT_TRUE(w.state.slots.count({after.id, after.generation, i})) << "the replaced table must stay";
    for (uint32_t i = 0; i < before.slot_count; ++i)
        EXPECT_FALSE(w.state.slots.count({before.id, before.generation, i}));
    expect_race_free(w, m3, w.log.size(), k, usable(v2) + usable(v3), false);
    expect_no_garbage();
}

TEST_F(ReconcilerTest, ReaderOfATableTwoChangesOldRetriesAndSucceeds) {
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    apply(config({v1}));
    SvcKey k = key_of(v1);
    const hl_service stale = published(k);  // a connect loads this entry and is preempted
    apply(config({service("web", "127.255.0.1", 80, {be("10.0.0.2")})}));
    // One change later the stale entry still works.
    EXPECT_EQ(read_slot(stale, 0, w.state, w.state).seen, Seen::Retry) << "backend 10.0.0.1 is gone";
    hl::Service v3 = service("web", "127.255.0.1", 80, {be("10.0.0.3")});
    apply(config({v3}));
    ASSERT_FALSE(w.state.slots.count({stale.id, stale.generation, 0})) << "the table before last was kept";
    // The BPF re-reads the service entry and tries again: that succeeds.
    Resolution fresh = resolve_at(w.state, k);
    EXPECT_EQ(fresh.seen, Seen::Backend);
    EXPECT_EQ(fresh.endpoints, usable(v3));
}

TEST_F(ReconcilerTest, RacingReaderSeesOldOrNewSetThroughAnySequenceOfChanges) {
    using S = hl::BackendState;
    std::vector<std::vector<hl::Backend>> steps = {
        {be("10.0.0.1"), be("10.0.0.2")},
        {be("10.0.0.2"), be("10.0.0.3")},                                    // one out, one in
        {be("10.0.0.3", 8080, 3), be("10.0.0.4")},                           // weights
        {be("10.0.0.3", 8080, 3), be("10.0.0.4", 8080, 1, S::Draining), be("fd00::5")},  // drain, v6
        {be("fd00::5"), be("10.0.0.6", 8080, 0)},                            // weight 0 takes no slot
        {be("10.0.0.7"), be("10.0.0.8"), be("10.0.0.9"), be("10.0.0.10")},  // all new
        {be("10.0.0.9", 9090)},                                              // same address, new port
        {be("10.0.0.9", 9090)},                                              // unchanged
        {be("10.0.0.1"), be("10.0.0.2")},                                    // old addresses again
    };
    hl::Service prev = service("web", "127.255.0.1", 80, {});
    for (size_t n = 0; n < steps.size(); ++n) {
        SCOPED_TRACE("step " + std::to_string(n));
        hl::Service next = service("web", "127.255.0.1", 80, steps[n]);
        // A bystander that never changes must never be disturbed.
        hl::Service other = service("api", "127.255.0.2", 80, {be("10.1.0.1"), be("10.1.0.2")});
        size_t m = w.log.size();
        apply(config({other, next}));
        SvcKey k = key_of(next);
        expect_race_free(w, m, w.log.size(), k, usable(prev) + usable(next), /*may_vanish=*/n == 0);
        expect_race_free(w, m, w.log.size(), key_of(other), usable(other), n == 0);
        EXPECT_EQ(resolve_at(w.state, k).endpoints, usable(next));
        expect_no_garbage();
        prev = next;
    }
}

TEST_F(ReconcilerTest, ServiceLosingItsLastBackendRefusesAndRecovers) {
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    apply(config({v1}));
    SvcKey k = key_of(v1);
    hl::Service empty = service("web", "127.255.0.1", 80, {be("10.0.0.1", 8080, 1, hl::BackendState::Draining)});
    size_t m = w.log.size();
    apply(config({empty}));
    EXPECT_EQ(published(k).slot_count, 0u) << "no usable backend: the entry stays and refuses (invariant 2)";
    EXPECT_EQ(resolve_at(w.state, k).seen, Seen::Refused);
    expect_race_free(w, m, w.log.size(), k, usable(v1), false, /*may_refuse=*/true);
    apply(config({v1}));
    EXPECT_EQ(resolve_at(w.state, k).endpoints, usable(v1));
}

TEST_F(ReconcilerTest, RemovedServiceIsUnpublishedBeforeItsParts) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    hl::Service api = service("api", "127.255.0.2", 80, {be("10.1.0.1")});
    apply(config({web, api}));
    SvcKey k = key_of(web);
    const uint32_t web_id = published(k).id;
    size_t m = w.log.size();
    auto rep = apply(config({api}));
    EXPECT_EQ(rep.removed, 1u);
    EXPECT_EQ(rep.unchanged, 1u);

    auto del = where(Op::DeleteService, m);
    ASSERT_EQ(del.size(), 1u) << w.dump(m);
    EXPECT_EQ(w.log[del[0]].key, k);
    for (size_t i = m; i < w.log.size(); ++i) {
        const Entry& e = w.log[i];
        bool part_of_web = (e.op == Op::DeleteSlot && e.slot.service_id == web_id) || e.op == Op::DeleteBackend ||
                           (e.op == Op::DeleteServiceMeta && e.id == web_id);
        if (part_of_web) {
            EXPECT_GT(i, del[0]) << "web's parts went before its key\n" << w.dump(m);
        }
    }
    EXPECT_FALSE(w.state.services.count(k));
    EXPECT_FALSE(w.state.service_meta.count(web_id));
    for (const auto& [sk, bid] : w.state.slots) EXPECT_NE(std::get<0>(sk), web_id);
    for (const auto& [id, b] : w.state.backends) EXPECT_NE(b.service_id, web_id);
    expect_race_free(w, m, w.log.size(), k, usable(web), /*may_vanish=*/true);
    expect_race_free(w, m, w.log.size(), key_of(api), usable(api), false);
    expect_no_garbage();
}

TEST_F(ReconcilerTest, RenamedServiceKeepingItsVipNeverStrandsAConnect) {
    // web becomes www on the same VIP:port: the key is handed over, so it is
    // not deleted; connects to it must still land on the old or new backends.
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    apply(config({web}));
    SvcKey k = key_of(web);
    hl::Service www = service("www", "127.255.0.1", 80, {be("10.0.0.2")});
    size_t m = w.log.size();
    auto rep = apply(config({www}));
    EXPECT_EQ(rep.added, 1u);
    EXPECT_EQ(rep.removed, 1u);
    EXPECT_EQ(key_of(www), k);
    EXPECT_EQ(resolve_at(w.state, k).endpoints, usable(www));
    expect_race_free(w, m, w.log.size(), k, usable(web) + usable(www), false);
    expect_no_garbage();
}

TEST_F(ReconcilerTest, ServiceMovedToAnotherVipIsPublishedThereBeforeTheOldKeyGoes) {
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    apply(config({v1}));
    SvcKey old_key = key_of(v1);
    hl::Service v2 = service("web", "127.255.0.9", 80, {be("10.0.0.1")});
    size_t m = w.log.size();
    apply(config({v2}));
    SvcKey new_key = key_of(v2);
    auto put = where(Op::PutService, m);
    auto del = where(Op::DeleteService, m);
    ASSERT_EQ(put.size(), 1u);
    ASSERT_EQ(del.size(), 1u);
    EXPECT_EQ(w.log[put[0]].key, new_key);
    EXPECT_EQ(w.log[del[0]].key, old_key);
    EXPECT_LT(put[0], del[0]);
    EXPECT_FALSE(w.state.services.count(old_key));
    expect_race_free(w, m, w.log.size(), old_key, usable(v1), true);
    expect_race_free(w, m, w.log.size(), new_key, usable(v2), true);
    expect_no_garbage();
}

TEST_F(ReconcilerTest, WeightChangeWritesANewGeneration) {
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    apply(config({v1}));
    SvcKey k = key_of(v1);
    const hl_service before = published(k);
    hl::Service v2 = service("web", "127.255.0.1", 80, {be("10.0.0.1", 8080, 3), be("10.0.0.2")});
    size_t m = w.log.size();
    auto rep = apply(config({v2}));
    EXPECT_EQ(rep.changed, 1u);
    const hl_service& after = published(k);
    EXPECT_EQ(after.generation, before.generation + 1);
    EXPECT_EQ(after.slot_count, 4u);
    auto t = table(k);
    EXPECT_EQ(std::count(t.begin(), t.end(), Endpoint{ip("10.0.0.1"), 8080}), 3);
    EXPECT_EQ(std::count(t.begin(), t.end(), Endpoint{ip("10.0.0.2"), 8080}), 1);
    // The weight reaches the backend entry before the table that reflects it.
    auto put_be = where(Op::PutBackend, m);
    ASSERT_EQ(put_be.size(), 1u);
    EXPECT_EQ(w.log[put_be[0]].be.weight, 3);
    EXPECT_LT(put_be[0], where(Op::PutSlot, m).front());
    EXPECT_TRUE(where(Op::DeleteBackend, m).empty()) << "a weight change keeps the backend";

    // Draining takes the backend out of the table; it keeps its id and entry.
    hl::Service v3 =
        service("web", "127.255.0.1", 80, {be("10.0.0.1", 8080, 3, hl::BackendState::Draining), be("10.0.0.2")});
    apply(config({v3}));
    EXPECT_EQ(published(k).generation, before.generation + 2);
    EXPECT_EQ(table(k), (std::vector<Endpoint>{{ip("10.0.0.2"), 8080}}));
    EXPECT_EQ(w.state.backends.size(), 2u);
}

// prefer: local: this host's backends take the table while one is usable;
// another host's take it only when none is (the last local one draining,
// quarantined by health, or gone). Each switch is one published table.
TEST_F(ReconcilerTest, PreferLocalTakesThisHostsBackendsAndFailsOverToTheOthers) {
    auto remote = [](hl::Backend b) {
        b.remote = true;
        return b;
    };
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1"), remote(be("10.0.0.2")), remote(be("10.0.0.3"))});
    v1.prefer = hl::Prefer::Local;
    v1.algorithm = hl::Algorithm::RoundRobin;
    apply(config({v1}));
    SvcKey k = key_of(v1);
    EXPECT_EQ(table(k), (std::vector<Endpoint>{{ip("10.0.0.1"), 8080}}));
    EXPECT_EQ(published(k).flags, HL_SVC_F_PREFER_LOCAL | HL_SVC_F_LOCAL_TABLE);
    EXPECT_EQ(published(k).algorithm, HL_ALGO_ROUND_ROBIN) << "the algorithm stays the service's";
    size_t remote_flags = 0;
    for (const auto& [id, b] : w.state.backends) remote_flags += b.flags & HL_BACKEND_F_REMOTE;
    EXPECT_EQ(remote_flags, 2u) << "the kernel says which backends are another host's";
    // The local backend quarantined (health's overlay): fail-over to the others.
    hl::Service v2 = v1;
    v2.backends[0].state = hl::BackendState::Quarantined;
    size_t m = w.log.size();
    apply(config({v2}));
    EXPECT_EQ(table(k), (std::vector<Endpoint>{{ip("10.0.0.2"), 8080}, {ip("10.0.0.3"), 8080}}));
    EXPECT_EQ(published(k).flags, HL_SVC_F_PREFER_LOCAL);
    EXPECT_EQ(where(Op::PutService, m).size(), 1u) << "published by one service update";
    // Back: the local table again.
    apply(config({v1}));
    EXPECT_EQ(table(k), (std::vector<Endpoint>{{ip("10.0.0.1"), 8080}}));
    // Without prefer: local, every backend takes connects.
    hl::Service any = v1;
    any.prefer = hl::Prefer::Any;
    apply(config({any}));
    EXPECT_EQ(table(k).size(), 3u);
    EXPECT_EQ(published(k).flags, 0);
    // Only other hosts' backends, or only this host's: the whole set.
    hl::Service only_remote = service("web", "127.255.0.1", 80, {remote(be("10.0.0.2"))});
    only_remote.prefer = hl::Prefer::Local;
    apply(config({only_remote}));
    EXPECT_EQ(table(k), (std::vector<Endpoint>{{ip("10.0.0.2"), 8080}}));
    expect_no_garbage();
    // A restarted daemon reads the flags back: the same desired state writes nothing.
    apply(config({v1}));
    hl::Reconciler again{store, cgroups, limits};
    again.adopt();
    size_t ops = w.map_ops;
    auto rep = apply(config({v1}), &again);
    EXPECT_EQ(rep.map_writes, 0u) << w.dump(ops);
}

TEST_F(ReconcilerTest, AlgorithmOrAffinityChangeRewritesTheEntryNotTheTable) {
    hl::Service v1 = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    apply(config({v1}));
    SvcKey k = key_of(v1);
    const hl_service before = published(k);
    hl::Service v2 = v1;
    v2.algorithm = hl::Algorithm::Random;
    v2.affinity_timeout_s = 30;
    size_t m = w.log.size();
    auto rep = apply(config({v2}));
    EXPECT_EQ(rep.changed, 1u);
    EXPECT_EQ(w.map_ops - m, 1u) << w.dump(m);
    ASSERT_EQ(where(Op::PutService, m).size(), 1u);
    EXPECT_EQ(published(k).algorithm, HL_ALGO_RANDOM);
    EXPECT_EQ(published(k).affinity_timeout_s, 30u);
    EXPECT_EQ(published(k).generation, before.generation);
}

TEST_F(ReconcilerTest, UnchangedConfigMakesNoWrites) {
    cgroups.known = {{"tasks/a", 1001}};
    hl::Config c = config(
        {service("web", "127.255.0.1", 80, {be("10.0.0.1", 8080, 3), be("fd00::2"), be("10.0.0.3", 8080, 0)}),
         service("dns", std::nullopt, 53, {be("10.0.0.53", 53)}, "prod"),
         service("empty", "127.255.0.3", 80, {})},
        {{"tasks/a", "prod"}});
    c.services[1].protocol = hl::Protocol::Udp;
    apply(c);
    size_t m = w.map_ops;
    auto rep = apply(c);
    EXPECT_EQ(rep.map_writes, 0u);
    EXPECT_EQ(w.map_ops, m) << w.dump(m);
    EXPECT_EQ(rep.unchanged, 3u);
    EXPECT_EQ(rep.added + rep.changed + rep.removed, 0u);
}

TEST_F(ReconcilerTest, AdoptionKeepsIdsAndVipsAndWritesNothing) {
    cgroups.known = {{"tasks/a", 1001}};
    hl::Config c = config({service("web", "127.255.0.1", 80, {be("10.0.0.2"), be("10.0.0.1", 8080, 2)}),
                           service("auto", std::nullopt, 80, {be("10.0.0.5"), be("fd00::6")}, "prod")},
                          {{"tasks/a", "prod"}});
    apply(c);
    // A change, so the maps also hold a retired generation.
    c.services[0].backends.push_back(be("10.0.0.3"));
    apply(c);
    const auto old_services = rec.services();
    const auto old_ns = rec.namespaces();
    std::map<hl::CompactName, std::vector<hl::Reconciler::BackendRec>> old_backends;
    for (const auto& [name, r] : old_services) old_backends[name] = rec.backends_of(r);

    // The daemon restarts: a new Reconciler over the same maps.
    hl::Reconciler again(store, cgroups, limits);
    again.adopt();
    size_t m = w.map_ops;
    auto rep = apply(c, &again);
    EXPECT_EQ(rep.map_writes, 0u);
    EXPECT_EQ(w.map_ops, m) << "adopt + apply of the same config rewrote:\n" << w.dump(m);
    EXPECT_EQ(rep.unchanged, 2u);
    EXPECT_EQ(again.namespaces(), old_ns);
    ASSERT_EQ(again.services().size(), old_services.size());
    for (const auto& [name, old] : old_services) {
        SCOPED_TRACE(name.second);
        const auto& now = again.services().at(name);
        EXPECT_EQ(now.id(), old.id());
        EXPECT_EQ(now.vip(), old.vip()) << "an allocated VIP survives a restart";
        EXPECT_EQ(now.slots, old.slots);
        ASSERT_EQ(now.backends.size(), old.backends.size());
        EXPECT_EQ(now.backends, old.backends);
        EXPECT_EQ(again.backends_of(now), old_backends.at(name));
    }

    // The adopted reconciler carries on: the next change retires the table
    // the old daemon left behind, and new ids do not collide with adopted ones.
    c.services[0].backends.push_back(be("10.0.0.4"));
    m = w.log.size();
    apply(c, &again);
    std::set<uint32_t> ids;
    for (const auto& [id, b] : w.state.backends) EXPECT_TRUE(ids.insert(id).second);
    EXPECT_EQ(w.state.backends.size(), 6u);
    expect_no_garbage();
    SvcKey k = key_of(c.services[0], &again);
    EXPECT_EQ(resolve_at(w.state, k).endpoints, usable(c.services[0]));
}

TEST_F(ReconcilerTest, AdoptionDropsWhatNoServiceOwns) {
    // Leftovers of a crash: a slot and a backend of a service that is gone.
    hl_backend stray{};
    stray.service_id = 42;
    store.put_backend(7, stray).value();
    store.put_slot({42, 1, 0}, 7).value();
    rec.adopt();
    apply(config({service("web", "127.255.0.1", 80, {be("10.0.0.1")})}));
    EXPECT_FALSE(w.state.backends.count(7));
    EXPECT_FALSE(w.state.slots.count({42, 1, 0}));
    expect_no_garbage();
}

TEST_F(ReconcilerTest, VipsComeFromThePoolAndStayAcrossReloads) {
    hl::Config c = config({service("a", std::nullopt, 80, {be("10.0.0.1")}),
                           service("b", "127.255.0.1", 80, {be("10.0.0.2")}),  // taken explicitly
                           service("c", std::nullopt, 80, {be("10.0.0.3")})});
    apply(c);
    auto vip = [&](const char* name) { return rec.services().at({"default", name}).vip(); };
    const hl::IpAddress va = vip("a"), vc = vip("c");
    EXPECT_TRUE(c.vip_pool.contains(va));
    EXPECT_TRUE(c.vip_pool.contains(vc));
    EXPECT_NE(va, vc);
    EXPECT_NE(va, ip("127.255.0.1"));
    EXPECT_NE(vc, ip("127.255.0.1"));
    EXPECT_NE(va, ip("127.255.0.0")) << "the network address of the pool";
    // The VIP is what gets published.
    EXPECT_TRUE(w.state.services.count(svc_key(hl::make_service_key(va, 80, hl::Protocol::Tcp, ns_id("default")))));

    // Reload with a new vip-less service listed first and b gone: a and c keep theirs.
    hl::Config c2 = config({service("new", std::nullopt, 80, {be("10.0.0.9")}),
                            service("c", std::nullopt, 80, {be("10.0.0.3")}),
                            service("a", std::nullopt, 80, {be("10.0.0.1")})});
    size_t m = w.log.size();
    auto rep = apply(c2);
    EXPECT_EQ(vip("a"), va);
    EXPECT_EQ(vip("c"), vc);
    EXPECT_NE(vip("new"), va);
    EXPECT_NE(vip("new"), vc);
    EXPECT_EQ(rep.unchanged, 2u);
    EXPECT_TRUE(where(Op::PutService, m, [&](const Entry& e) { return e.svc.id != published(key_of(c2.services[0])).id; })
                    .empty())
        << "only the new service is published\n" << w.dump(m);
}

TEST_F(ReconcilerTest, ExhaustedVipPoolIsAnErrorWithNoWrites) {
    hl::Config c = config({service("a", std::nullopt, 80, {be("10.0.0.1")})});
    c.vip_pool = *hl::IpPrefix::parse("127.255.9.0/30");  // .1 and .2
    apply(c);
    const MapsState before = w.state;
    size_t m = w.log.size();
    c.services.push_back(service("b", std::nullopt, 80, {be("10.0.0.2")}));
    c.services.push_back(service("c", std::nullopt, 80, {be("10.0.0.3")}));
    c.services[0].backends.push_back(be("10.0.0.4"));  // a change that must not be half-applied
    auto r = rec.apply(c);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().what(), HasSubstr("vip_pool"));
    EXPECT_THAT(r.error().what(), HasSubstr("127.255.9.0/30"));
    EXPECT_THAT(r.error().what(), HasSubstr("'c'"));
    EXPECT_EQ(w.log.size(), m) << "a rejected config reached the maps:\n" << w.dump(m);
    EXPECT_EQ(w.state.services.size(), before.services.size());
    // The last good state stays, and a fitting config still applies.
    c.services.pop_back();
    apply(c);
    EXPECT_EQ(w.state.services.size(), 2u);
}

TEST_F(ReconcilerTest, UnresolvableCgroupIsAnErrorWithNoWrites) {
    cgroups.known = {{"tasks/a", 1001}};
    hl::Config c = config({service("web", "127.255.0.1", 80, {be("10.0.0.1")})},
                          {{"tasks/a", "default"}, {"tasks/missing", "prod"}});
    auto r = rec.apply(c);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().what(), HasSubstr("attach[1].cgroup"));
    EXPECT_THAT(r.error().what(), HasSubstr("tasks/missing"));
    EXPECT_TRUE(w.log.empty()) << w.dump();
    EXPECT_TRUE(cgroups.attached.empty());
}

TEST_F(ReconcilerTest, TwoPathsToOneCgroupIsAnErrorWithNoWrites) {
    cgroups.known = {{"tasks/a", 1001}, {"/sys/fs/cgroup/tasks/a", 1001}};
    auto r = rec.apply(config({}, {{"tasks/a", "default"}, {"/sys/fs/cgroup/tasks/a", "default"}}));
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().what(), HasSubstr("attach[1].cgroup"));
    EXPECT_TRUE(w.log.empty()) << w.dump();
}

TEST_F(ReconcilerTest, AttachWritesTheNamespaceEntryBeforeAttaching) {
    cgroups.known = {{"tasks/a", 1001}};
    apply(config({service("web", "127.255.0.1", 80, {be("10.0.0.1")}, "prod")}, {{"tasks/a", "prod"}}));
    auto put = where(Op::PutCgroup);
    auto att = where(Op::Attach);
    ASSERT_EQ(put.size(), 1u);
    ASSERT_EQ(att.size(), 1u);
    EXPECT_LT(put[0], att[0]) << "a task could connect before its namespace is known\n" << w.dump();
    EXPECT_LT(where(Op::PutService).back(), att[0]) << "attached before the services it sees exist";
    EXPECT_EQ(w.log[att[0]].id, 1001u);
    EXPECT_EQ(cgroups.attached.at(1001), "/sys/fs/cgroup/tasks/a");
    const hl_cgroup_ns& v = w.state.cgroups.at(1001);
    EXPECT_EQ(v.ns_id, ns_id("prod"));
    EXPECT_EQ(v.flags, static_cast<uint32_t>(HL_CG_FROM_CONFIG));
}

TEST_F(ReconcilerTest, AttachToANamespaceWithoutServicesCreatesIt) {
    cgroups.known = {{"tasks/a", 1001}};
    apply(config({}, {{"tasks/a", "lonely"}}));
    auto put_ns = where(Op::PutNamespace);
    ASSERT_EQ(put_ns.size(), 1u);
    EXPECT_LT(put_ns[0], where(Op::PutCgroup)[0]);
    EXPECT_EQ(w.state.cgroups.at(1001).ns_id, ns_id("lonely"));
    EXPECT_EQ(std::string(w.state.namespaces.at(ns_id("lonely")).name), "lonely");
}

TEST_F(ReconcilerTest, RemovedAttachmentIsDetachedAndDeleted) {
    cgroups.known = {{"tasks/a", 1001}, {"tasks/b", 1002}};
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    apply(config({web}, {{"tasks/a", "default"}, {"tasks/b", "side"}}));
    ASSERT_EQ(w.state.cgroups.size(), 2u);
    const uint32_t side = ns_id("side");
    size_t m = w.log.size();
    apply(config({web}, {{"tasks/a", "default"}}));
    auto det = where(Op::Detach, m);
    auto del = where(Op::DeleteCgroup, m);
    ASSERT_EQ(det.size(), 1u) << w.dump(m);
    ASSERT_EQ(del.size(), 1u);
    EXPECT_EQ(w.log[det[0]].id, 1002u);
    EXPECT_EQ(w.log[del[0]].id, 1002u);
    EXPECT_FALSE(cgroups.attached.count(1002));
    EXPECT_TRUE(cgroups.attached.count(1001));
    EXPECT_FALSE(w.state.cgroups.count(1002));
    EXPECT_TRUE(w.state.cgroups.count(1001));
    // Its namespace is used by nothing else any more.
    EXPECT_FALSE(w.state.namespaces.count(side));
    EXPECT_FALSE(rec.namespaces().count("side"));
    expect_no_garbage();
}

TEST_F(ReconcilerTest, CgroupsAttachedByTheCliAreNotTheConfigsToDetach) {
    hl_cgroup_ns cli{};
    hl_ns_meta meta{};
    std::strcpy(meta.name, "default");
    store.put_namespace(1, meta).value();
    cli.ns_id = 1;
    cli.flags = HL_CG_FROM_CLI;
    store.put_cgroup(2002, cli).value();
    rec.adopt();
    size_t m = w.log.size();
    apply(config({service("web", "127.255.0.1", 80, {be("10.0.0.1")})}));
    EXPECT_TRUE(where(Op::Detach, m).empty());
    EXPECT_TRUE(where(Op::DeleteCgroup, m).empty());
    EXPECT_TRUE(w.state.cgroups.count(2002));
    EXPECT_EQ(ns_id("default"), 1u) << "the adopted namespace id is reused";
}

TEST_F(ReconcilerTest, CgroupAttachedByBothKeepsTheCliClaimWhenTheConfigDropsIt) {
    // `hopless cgroup attach tasks/a` while the daemon was down, then the
    // config names the same cgroup, then stops naming it: the hand-made
    // attachment stays (only the config's claim goes).
    hl_ns_meta meta{};
    std::strcpy(meta.name, "default");
    store.put_namespace(1, meta).value();
    store.put_cgroup(1001, hl_cgroup_ns{1, HL_CG_FROM_CLI}).value();
    rec.adopt();
    cgroups.known = {{"tasks/a", 1001}};
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    apply(config({web}, {{"tasks/a", "default"}}));
    EXPECT_EQ(w.state.cgroups.at(1001).flags, static_cast<uint32_t>(HL_CG_FROM_CONFIG | HL_CG_FROM_CLI));
    size_t m = w.log.size();
    apply(config({web}));
    EXPECT_TRUE(where(Op::Detach, m).empty()) << w.dump(m);
    ASSERT_TRUE(w.state.cgroups.count(1001));
    EXPECT_EQ(w.state.cgroups.at(1001).flags, static_cast<uint32_t>(HL_CG_FROM_CLI));
}

TEST_F(ReconcilerTest, NamespacesGetDistinctIdsAndSeparateKeys) {
    cgroups.known = {{"tasks/c", 1003}};
    hl::Service a = service("web", "127.255.0.1", 80, {be("10.0.0.1")}, "a");
    hl::Service b = service("web", "127.255.0.1", 80, {be("10.0.0.2")}, "b");
    hl::Service d = service("web", "127.255.0.1", 80, {be("10.0.0.3")});
    apply(config({a, b, d}, {{"tasks/c", "c"}}));
    std::set<uint32_t> ids;
    for (const char* ns : {"a", "b", "c", "default"}) {
        uint32_t id = ns_id(ns);
        EXPECT_NE(id, 0u);
        EXPECT_TRUE(ids.insert(id).second) << ns << " shares an id";
        EXPECT_EQ(std::string(w.state.namespaces.at(id).name), ns);
    }
    // One VIP:port, three entries, each in its namespace, each with its own backends.
    EXPECT_EQ(w.state.services.size(), 3u);
    for (const auto* s : {&a, &b, &d}) {
        SvcKey k = svc_key(hl::make_service_key(*s->vip, 80, hl::Protocol::Tcp, ns_id(s->ns.str())));
        EXPECT_EQ(resolve_at(w.state, k).endpoints, usable(*s)) << s->ns;
    }
    EXPECT_EQ(w.state.cgroups.at(1003).ns_id, ns_id("c"));
    EXPECT_NE(published(key_of(a)).id, published(key_of(b)).id);
}

TEST_F(ReconcilerTest, TcpAndUdpOnOneVipPortAreTwoServices) {
    hl::Service tcp = service("dns-tcp", "127.255.0.53", 53, {be("10.0.0.1", 53)});
    hl::Service udp = service("dns", "127.255.0.53", 53, {be("10.0.0.2", 53)});
    udp.protocol = hl::Protocol::Udp;
    apply(config({tcp, udp}));
    EXPECT_EQ(from_svc_key(key_of(udp)).proto, IPPROTO_UDP);
    EXPECT_EQ(resolve_at(w.state, key_of(tcp)).endpoints, usable(tcp));
    EXPECT_EQ(resolve_at(w.state, key_of(udp)).endpoints, usable(udp));
}

TEST_F(ReconcilerTest, RemovingEverythingLeavesEmptyMaps) {
    cgroups.known = {{"tasks/a", 1001}};
    apply(config({service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")}),
                  service("api", std::nullopt, 81, {be("10.0.0.3")}, "prod")},
                 {{"tasks/a", "prod"}}));
    apply(config({service("web", "127.255.0.1", 80, {be("10.0.0.2"), be("10.0.0.4")})}));  // leaves a retired table
    apply(config({}));
    EXPECT_TRUE(w.state.services.empty());
    EXPECT_TRUE(w.state.slots.empty());
    EXPECT_TRUE(w.state.backends.empty());
    EXPECT_TRUE(w.state.service_meta.empty());
    EXPECT_TRUE(w.state.cgroups.empty());
    EXPECT_TRUE(w.state.namespaces.empty());
    EXPECT_TRUE(cgroups.attached.empty());
}

// The server side's map: each TCP backend address:port names its service;
// UDP backends are not in it; an address two services name belongs to the
// lower id, and passes to the other when that one lets it go.
TEST_F(ReconcilerTest, EndpointMapFollowsTcpBackends) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    hl::Service dns = service("dns", "127.255.0.53", 53, {be("10.0.0.9", 53)});
    dns.protocol = hl::Protocol::Udp;
    apply(config({web, dns}));
    uint32_t web_id = rec.find({"default", "web"})->id();
    EXPECT_EQ(w.state.endpoints, (std::map<Endpoint, uint32_t>{{{ip("10.0.0.1"), 8080}, web_id},
                                                                {{ip("10.0.0.2"), 8080}, web_id}}));
    // api shares 10.0.0.2:8080 with web (lower id: web keeps it).
    hl::Service api = service("api", "127.255.0.2", 80, {be("10.0.0.2"), be("10.0.0.3")});
    apply(config({web, dns, api}));
    uint32_t api_id = rec.find({"default", "api"})->id();
    EXPECT_EQ(w.state.endpoints.at({ip("10.0.0.2"), 8080}), web_id);
    EXPECT_EQ(w.state.endpoints.at({ip("10.0.0.3"), 8080}), api_id);
    // web drops it: api has it now; then web goes: only api's remain.
    web.backends = {be("10.0.0.1")};
    apply(config({web, dns, api}));
    EXPECT_EQ(w.state.endpoints.at({ip("10.0.0.2"), 8080}), api_id);
    apply(config({dns, api}));
    EXPECT_EQ(w.state.endpoints, (std::map<Endpoint, uint32_t>{{{ip("10.0.0.2"), 8080}, api_id},
                                                                {{ip("10.0.0.3"), 8080}, api_id}}));
    // An unchanged apply writes nothing (once the client-side entries of
    // web's backends, kept for one apply, have gone); removing everything
    // leaves it empty.
    apply(config({dns, api}));
    size_t m = w.map_ops;
    apply(config({dns, api}));
    EXPECT_EQ(w.map_ops, m) << w.dump(m);
    apply(config({}));
    EXPECT_TRUE(w.state.endpoints.empty());
}

// A datapath older than the endpoint map (or a crash between two writes):
// adoption finds it wrong and the next apply puts it right.
TEST_F(ReconcilerTest, AdoptionRepairsTheEndpointMap) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    apply(config({web}));
    uint32_t web_id = rec.find({"default", "web"})->id();
    auto want = w.state.endpoints;
    w.state.endpoints.erase({ip("10.0.0.1"), 8080});
    w.state.endpoints[{ip("10.0.0.7"), 80}] = 99;  // stray
    hl::Reconciler again(store, cgroups, limits);
    again.adopt();
    apply(config({web}), &again);
    EXPECT_EQ(w.state.endpoints, want);
    EXPECT_EQ(w.state.endpoints.at({ip("10.0.0.1"), 8080}), web_id);
}

// The client side's map (issue 12): each TCP backend address:port says
// which VIP, service and backend a redirected socket connected there has,
// and is written before the backend it names. The first service to name an
// address answers for it; another naming it too has its backend SECONDARY
// (its sockets keep a record of their own). An entry outlives its backend
// for one apply (the daemon terminates the backend's sockets in between),
// then goes or passes on.
TEST_F(ReconcilerTest, PeerMapFollowsTcpBackendsAndTheFirstNamerAnswers) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    web.connect_timeout_ms = 2000;
    hl::Service dns = service("dns", "127.255.0.53", 53, {be("10.0.0.9", 53)});
    dns.protocol = hl::Protocol::Udp;
    apply(config({web, dns}));
    const auto* wr = rec.find({"default", "web"});
    ASSERT_EQ(w.state.peers.size(), 2u) << "UDP backends have no entry";
    for (const auto& b : rec.backends_of(*wr)) {
        const hl_peer& p = w.state.peers.at({b.spec.address, b.spec.port});
        EXPECT_EQ(p.service_id, wr->id());
        EXPECT_EQ(p.backend_id, b.id);
        EXPECT_EQ(hl::IpAddress::from_bytes(p.vip), ip("127.255.0.1"));
        EXPECT_EQ(ntohs(p.vip_port), 80);
        EXPECT_EQ(p.vip_family, HL_FAMILY_V4);
        EXPECT_EQ(p.connect_timeout_cs, 200u);
        auto put = where(Op::PutPeer, 0, [&](const Entry& e) { return e.id == b.id; });
        auto backend = where(Op::PutBackend, 0, [&](const Entry& e) { return e.id == b.id; });
        ASSERT_EQ(put.size(), 1u);
        ASSERT_EQ(backend.size(), 1u);
        EXPECT_LT(put[0], backend[0]) << "the entry comes before the backend it names\n" << w.dump();
        EXPECT_FALSE(w.state.backends.at(b.id).flags & HL_BACKEND_F_SECONDARY);
    }
    const uint32_t web_id = wr->id();
    const uint32_t web2 = backend_id("web", "10.0.0.2");

    // api names 10.0.0.2:8080 too: web keeps answering for it, api's
    // backend there is SECONDARY.
    hl::Service api = service("api", "127.255.0.2", 81, {be("10.0.0.2"), be("10.0.0.3")});
    apply(config({web, dns, api}));
    const auto* ar = rec.find({"default", "api"});
    const uint32_t api_id = ar->id();
    const uint32_t api2 = backend_id("api", "10.0.0.2");
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.2"), 8080}).service_id, web_id);
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.3"), 8080}).service_id, api_id);
    EXPECT_TRUE(w.state.backends.at(api2).flags & HL_BACKEND_F_SECONDARY);
    EXPECT_FALSE(w.state.backends.at(web2).flags & HL_BACKEND_F_SECONDARY);

    // web drops it: the entry still names web's backend for this apply...
    web.backends = {be("10.0.0.1")};
    auto rep = apply(config({web, dns, api}));
    ASSERT_EQ(rep.removed_backends.size(), 1u);
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.2"), 8080}).backend_id, web2);
    // ... and passes to api at the next one, whose backend is no longer SECONDARY.
    apply(config({web, dns, api}));
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.2"), 8080}).service_id, api_id);
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.2"), 8080}).backend_id, api2);
    EXPECT_EQ(ntohs(w.state.peers.at({ip("10.0.0.2"), 8080}).vip_port), 81);
    EXPECT_FALSE(w.state.backends.at(api2).flags & HL_BACKEND_F_SECONDARY);

    // A new VIP and connect_timeout reach the entries api answers for.
    api.vip = ip("127.255.0.7");
    api.connect_timeout_ms = 300;
    apply(config({web, dns, api}));
    for (auto port : {8080}) {
        for (const char* a : {"10.0.0.2", "10.0.0.3"}) {
            const hl_peer& p = w.state.peers.at({ip(a), static_cast<uint16_t>(port)});
            EXPECT_EQ(hl::IpAddress::from_bytes(p.vip), ip("127.255.0.7")) << a;
            EXPECT_EQ(p.connect_timeout_cs, 30u) << a;
        }
    }

    // Removing everything: the entries stay for one apply, then go.
    apply(config({}));
    EXPECT_EQ(w.state.peers.size(), 3u);
    apply(config({}));
    EXPECT_TRUE(w.state.peers.empty());
    EXPECT_TRUE(w.state.endpoints.empty());
}

// A service that turns from UDP to TCP claims its backends' addresses, and
// back again lets them go.
TEST_F(ReconcilerTest, PeerMapFollowsAProtocolChange) {
    hl::Service s = service("s", "127.255.0.1", 80, {be("10.0.0.1")});
    s.protocol = hl::Protocol::Udp;
    apply(config({s}));
    EXPECT_TRUE(w.state.peers.empty());
    s.protocol = hl::Protocol::Tcp;
    apply(config({s}));
    ASSERT_EQ(w.state.peers.size(), 1u);
    s.protocol = hl::Protocol::Udp;
    apply(config({s}));
    apply(config({s}));
    EXPECT_TRUE(w.state.peers.empty());
}

// A datapath before issue 12 has no hl_peer_v1 and no SECONDARY flags:
// adoption finds them missing (and a stray entry), the next apply puts them
// right; an adopted map that is right is left alone.
TEST_F(ReconcilerTest, AdoptionRepairsThePeerMapAndSecondaryFlags) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    hl::Service api = service("api", "127.255.0.2", 80, {be("10.0.0.2")});
    apply(config({web, api}));
    const auto want_peers = w.state.peers;
    const auto want_backends = w.state.backends;
    w.state.peers.clear();
    w.state.peers[{ip("10.0.0.7"), 80}] = hl_peer{};  // stray
    for (auto& [id, b] : w.state.backends) b.flags = 0;
    hl::Reconciler again(store, cgroups, limits);
    again.adopt();
    apply(config({web, api}), &again);
    EXPECT_EQ(w.state.peers.size(), want_peers.size());
    for (const auto& [ep, p] : want_peers)
        EXPECT_EQ(std::memcmp(&w.state.peers.at(ep), &p, sizeof p), 0) << ep.first.with_port(ep.second);
    for (const auto& [id, b] : want_backends) EXPECT_EQ(w.state.backends.at(id).flags, b.flags) << id;
    hl::Reconciler third(store, cgroups, limits);
    third.adopt();
    size_t m = w.map_ops;
    apply(config({web, api}), &third);
    EXPECT_EQ(w.map_ops, m) << w.dump(m);
}

// The reconciler keeps no record of an endpoint that one TCP service names
// and answers for (the maps say it): one that a second service names later,
// or whose namer changes VIP or leaves, is found again from the maps. After
// each step the maps are what a reconciler that starts afresh (adopt)
// finds right: it writes nothing.
TEST_F(ReconcilerTest, EndpointsKeptOnlyInTheMapsStayRightAsServicesShareThem) {
    auto settled = [&](const std::vector<hl::Service>& all, const char* step) {
        apply(config(all));  // the entries of backends that left go
        hl::Reconciler fresh(store, cgroups, limits);
        fresh.adopt();
        size_t m = w.map_ops;
        apply(config(all), &fresh);
        EXPECT_EQ(w.map_ops, m) << step << "\n" << w.dump(m);
    };
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1"), be("10.0.0.2")});
    apply(config({web}));
    settled({web}, "web alone");
    const uint32_t web_id = rec.find({"default", "web"})->id();
    hl::Service api = service("api", "127.255.0.2", 80, {be("10.0.0.2"), be("10.0.0.3")});
    apply(config({web, api}));
    const uint32_t api_id = rec.find({"default", "api"})->id();
    const uint32_t api2 = backend_id("api", "10.0.0.2");
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.2"), 8080}).service_id, web_id);
    EXPECT_TRUE(w.state.backends.at(api2).flags & HL_BACKEND_F_SECONDARY);
    settled({web, api}, "api shares 10.0.0.2 with web");
    // web's VIP moves: only the entries web answers for follow.
    web.vip = ip("127.255.0.9");
    apply(config({web, api}));
    EXPECT_EQ(hl::IpAddress::from_bytes(w.state.peers.at({ip("10.0.0.1"), 8080}).vip), ip("127.255.0.9"));
    EXPECT_EQ(hl::IpAddress::from_bytes(w.state.peers.at({ip("10.0.0.2"), 8080}).vip), ip("127.255.0.9"));
    EXPECT_EQ(hl::IpAddress::from_bytes(w.state.peers.at({ip("10.0.0.3"), 8080}).vip), ip("127.255.0.2"));
    settled({web, api}, "web's VIP moved");
    // web leaves: api answers for 10.0.0.2 after one apply, owns it, and
    // its backend there is no longer SECONDARY.
    apply(config({api}));
    settled({api}, "web left");
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.2"), 8080}).service_id, api_id);
    EXPECT_EQ(w.state.endpoints.at({ip("10.0.0.2"), 8080}), api_id);
    EXPECT_FALSE(w.state.backends.at(api2).flags & HL_BACKEND_F_SECONDARY);
    EXPECT_FALSE(w.state.peers.count({ip("10.0.0.1"), 8080}));
    // web comes back naming what api names: api keeps answering.
    web.backends = {be("10.0.0.2"), be("10.0.0.3")};
    apply(config({api, web}));
    settled({api, web}, "web back");
    EXPECT_EQ(w.state.peers.at({ip("10.0.0.3"), 8080}).service_id, api_id);
    apply(config({}));
    apply(config({}));
    EXPECT_TRUE(w.state.peers.empty());
    EXPECT_TRUE(w.state.endpoints.empty());
}

TEST_F(ReconcilerTest, ConnectTimeoutReachesTheServiceEntryInTenMillisecondUnits) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1")});
    web.connect_timeout_ms = 1505;
    apply(config({web}));
    EXPECT_EQ(published(key_of(web)).connect_timeout_cs, 151u);  // rounded up: never shorter than asked
    web.connect_timeout_ms = 0;
    apply(config({web}));
    EXPECT_EQ(published(key_of(web)).connect_timeout_cs, 0u);
}

TEST_F(ReconcilerTest, SlotTableFollowsBuildSlotTable) {
    hl::Service web = service("web", "127.255.0.1", 80, {be("10.0.0.1", 8080, 9), be("10.0.0.2", 8080, 1)});
    apply(config({web}));
    std::vector<Endpoint> want;
    for (uint32_t i : hl::build_slot_table(web.backends, HL_MAX_SLOTS_PER_SERVICE))
        want.push_back({web.backends[i].address, web.backends[i].port});
    EXPECT_EQ(table(key_of(web)), want);
}

TEST(ReconcilerHelpers, ServiceKeyAndBackendLayout) {
    hl_service_key k = hl::make_service_key(ip("127.255.0.1"), 80, hl::Protocol::Udp, 7);
    const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 255, 0, 1};
    EXPECT_EQ(std::memcmp(k.addr, mapped, 16), 0);
    EXPECT_EQ(k.port, htons(80));
    EXPECT_EQ(k.proto, IPPROTO_UDP);
    EXPECT_EQ(k.pad, 0);
    EXPECT_EQ(k.ns_id, 7u);

    hl_backend b = hl::make_backend(be("fd00::12", 8080, 5, hl::BackendState::Draining), 3);
    EXPECT_EQ(b.family, HL_FAMILY_V6);
    EXPECT_EQ(b.port, htons(8080));
    EXPECT_EQ(b.weight, 5);
    EXPECT_EQ(b.state, HL_BACKEND_DRAINING);
    EXPECT_EQ(b.service_id, 3u);
    EXPECT_EQ(hl::make_backend(be("10.0.0.1"), 1).family, HL_FAMILY_V4);
}

}  // namespace
