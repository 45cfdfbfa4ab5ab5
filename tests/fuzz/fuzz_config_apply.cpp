// libFuzzer target: a config file all the way to the maps. Two configs (the
// input split at the first line "---8<---"; without one, the same text twice)
// are parsed and applied in turn by hl::Reconciler to an in-memory MapStore,
// then a second reconciler adopts the result, as a restarted daemon would.
//
// An accepted config must never crash or trip the sanitizers in the
// reconciler, and after every apply the maps must be consistent (what the
// BPF datapath relies on):
//   - every published service's slot table of its generation is complete:
//     slot_count slots, each naming a backend that exists and belongs to it;
//   - every backend belongs to a published service;
//   - every cgroup entry names a namespace that exists;
//   - after adopt(), applying the same config again adds and removes nothing.
#include <arpa/inet.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "datapath/reconciler.h"
#include "discovery/config_file.h"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail = "") {
    std::fprintf(stderr, "fuzz_config_apply: %s %s\n", what, detail.c_str());
    std::abort();
}

using SvcKey = std::array<uint8_t, sizeof(hl_service_key)>;
using SlotKey = std::tuple<uint32_t, uint32_t, uint32_t>;

class MemStore : public hl::MapStore {
public:
    std::map<uint32_t, hl_ns_meta> ns;
    std::map<uint32_t, hl_backend> be;
    std::map<SlotKey, uint32_t> slots;
    std::map<SvcKey, hl_service> svc;
    std::map<uint32_t, hl_service_meta> meta;
    std::map<uint64_t, hl_cgroup_ns> cg;
    std::map<std::array<uint8_t, sizeof(hl_endpoint_key)>, hl_peer> peers;
    std::map<std::array<uint8_t, sizeof(hl_endpoint_key)>, uint32_t> endpoints;

    static SvcKey k(const hl_service_key& key) {
        SvcKey out;
        std::memcpy(out.data(), &key, sizeof key);
        return out;
    }
    hl::Status put_namespace(uint32_t id, const hl_ns_meta& m) override { return ns[id] = m, hl::Ok{}; }
    hl::Status delete_namespace(uint32_t id) override { return ns.erase(id), hl::Ok{}; }
    hl::Status put_backend(uint32_t id, const hl_backend& b) override { return be[id] = b, hl::Ok{}; }
    hl::Status delete_backend(uint32_t id) override { return be.erase(id), hl::Ok{}; }
    hl::Status put_slot(const hl_slot_key& s, uint32_t id) override {
        return slots[{s.service_id, s.generation, s.slot}] = id, hl::Ok{};
    }
    hl::Status delete_slot(const hl_slot_key& s) override { return slots.erase({s.service_id, s.generation, s.slot}), hl::Ok{}; }
    hl::Status put_service(const hl_service_key& key, const hl_service& v) override { return svc[k(key)] = v, hl::Ok{}; }
    hl::Status delete_service(const hl_service_key& key) override { return svc.erase(k(key)), hl::Ok{}; }
    hl::Status put_service_meta(uint32_t id, const hl_service_meta& m) override { return meta[id] = m, hl::Ok{}; }
    hl::Status delete_service_meta(uint32_t id) override { return meta.erase(id), hl::Ok{}; }
    hl::Status put_cgroup(uint64_t id, const hl_cgroup_ns& v) override { return cg[id] = v, hl::Ok{}; }
    hl::Status delete_cgroup(uint64_t id) override { return cg.erase(id), hl::Ok{}; }
    hl::Status put_endpoint(const hl_endpoint_key& key, uint32_t id) override { return endpoints[ep(key)] = id, hl::Ok{}; }
    hl::Status delete_endpoint(const hl_endpoint_key& key) override { return endpoints.erase(ep(key)), hl::Ok{}; }
    std::optional<uint32_t> get_endpoint(const hl_endpoint_key& key) const override {
        auto it = endpoints.find(ep(key));
        return it == endpoints.end() ? std::nullopt : std::optional(it->second);
    }
    std::optional<hl_peer> get_peer(const hl_endpoint_key& key) const override {
        auto it = peers.find(ep(key));
        return it == peers.end() ? std::nullopt : std::optional(it->second);
    }
    std::optional<hl_backend> get_backend(uint32_t id) const override {
        auto it = be.find(id);
        return it == be.end() ? std::nullopt : std::optional(it->second);
    }
    hl::Status put_peer(const hl_endpoint_key& key, const hl_peer& v) override { return peers[ep(key)] = v, hl::Ok{}; }
    hl::Status delete_peer(const hl_endpoint_key& key) override { return peers.erase(ep(key)), hl::Ok{}; }
    static std::array<uint8_t, sizeof(hl_endpoint_key)> ep(const hl_endpoint_key& key) {
        std::array<uint8_t, sizeof(hl_endpoint_key)> out;
        std::memcpy(out.data(), &key, sizeof key);
        return out;
    }
    hl::Status reset_service_counters(uint32_t) override { return hl::Ok{}; }
    hl::Status reset_backend_counters(uint32_t) override { return hl::Ok{}; }

    hl::KernelState read() const override {
        hl::KernelState s;
        for (const auto& [key, v] : svc) {
            hl_service_key hk;
            std::memcpy(&hk, key.data(), sizeof hk);
            s.services.push_back({hk, v});
        }
        s.service_meta = meta;
        for (const auto& [key, id] : slots)
            s.slots.push_back({hl_slot_key{std::get<0>(key), std::get<1>(key), std::get<2>(key)}, id});
        s.backends = be;
        s.cgroups = cg;
        s.namespaces = ns;
        return s;
    }

    void check() const {
        std::set<uint32_t> ids;
        for (const auto& [key, v] : svc) {
            if (v.id == 0) broken("a published service has id 0");
            if (!ids.insert(v.id).second) broken("two services share an id");
            for (uint32_t i = 0; i < v.slot_count; ++i) {
                auto it = slots.find({v.id, v.generation, i});
                if (it == slots.end()) broken("a slot of the table in force is missing");
                auto b = be.find(it->second);
                if (b == be.end()) broken("a slot names a backend that does not exist");
                if (b->second.service_id != v.id) broken("a slot names another service's backend");
                if (b->second.state != HL_BACKEND_ACTIVE) broken("a slot names a backend that is not active");
            }
        }
        for (const auto& [id, b] : be)
            if (!ids.count(b.service_id)) broken("a backend belongs to no published service");
        // Every TCP backend's address:port answers for a redirected socket.
        std::map<uint32_t, uint8_t> proto;
        for (const auto& [key, v] : svc) proto[v.id] = key[18];
        for (const auto& [id, b] : be) {
            if (proto[b.service_id] != 6 /* IPPROTO_TCP */) continue;
            hl_endpoint_key k{};
            std::memcpy(k.addr, b.addr, 16);
            k.port = b.port;
            if (!peers.count(ep(k))) broken("a TCP backend's address:port has no hl_peer_v1 entry");
        }
        for (const auto& [id, c] : cg)
            if (!ns.count(c.ns_id)) broken("a cgroup names a namespace that does not exist");
    }
};

// Cgroups "exist" unless their path says otherwise; ids come from the path.
class FakeAttacher : public hl::CgroupAttacher {
public:
    hl::Result<Resolved> resolve(const std::string& path) override {
        if (path.empty() || path.find("missing") != std::string::npos)
            return hl::Error{"no such cgroup", 0};
        return Resolved{path, std::hash<std::string>{}(path) | 1};
    }
    hl::Status attach(uint64_t, const std::string&) override { return hl::Ok{}; }
    hl::Status detach(uint64_t) override { return hl::Ok{}; }
};

std::optional<std::string> cgroup_ok(const std::string& path) {
    if (path.empty() || path.find("missing") != std::string::npos) return std::string("does not exist");
    return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 32 * 1024) return -1;
    std::string text(reinterpret_cast<const char*>(data), size);
    std::string first = text, second = text;
    if (auto cut = text.find("\n---8<---\n"); cut != std::string::npos) {
        first = text.substr(0, cut + 1);
        second = text.substr(cut + 10);
    }
    auto a = hl::parse_config(first, cgroup_ok);
    if (!a) return 0;
    // Big maps cost the fuzzer time, not coverage.
    if (a->maps.max_services > 4096 || a->maps.max_backends > 16384) return -1;

    MemStore store;
    FakeAttacher cgroups;
    hl::Reconciler rec(store, cgroups, a->maps);
    auto r1 = rec.apply(*a);
    store.check();

    const hl::Config* last = r1 ? &*a : nullptr;
    auto b = hl::parse_config(second, cgroup_ok);
    if (b && b->maps == a->maps) {
        auto r2 = rec.apply(*b);
        store.check();
        if (r2) last = &*b;
    }
    if (!last) return 0;

    // A restarted daemon: adopts what the maps hold, applies the same config.
    hl::Reconciler again(store, cgroups, a->maps);
    again.adopt();
    auto r3 = again.apply(*last);
    store.check();
    if (!r3) broken("a config applied before fails after adoption", r3.error().message);
    if (r3->added || r3->removed)
        broken("adopt + the same config adds or removes services",
               std::to_string(r3->added) + " added, " + std::to_string(r3->removed) + " removed");
    return 0;
}
