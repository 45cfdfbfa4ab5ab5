// MapStore over the real BPF maps.
#pragma once

#include "bpf/maps.h"
#include "datapath/map_store.h"

namespace hl {

class KernelMapStore : public MapStore {
public:
    explicit KernelMapStore(MapSet maps) : m_(std::move(maps)) {}

    Status put_namespace(uint32_t id, const hl_ns_meta& meta) override { return m_.ns_meta.update(id, meta); }
    Status delete_namespace(uint32_t id) override { return m_.ns_meta.erase(id); }
    Status put_backend(uint32_t id, const hl_backend& be) override { return m_.backends.update(id, be); }
    Status delete_backend(uint32_t id) override { return m_.backends.erase(id); }
    Status put_slot(const hl_slot_key& k, uint32_t be) override { return m_.slots.update(k, be); }
    Status delete_slot(const hl_slot_key& k) override { return m_.slots.erase(k); }
    Status put_service(const hl_service_key& k, const hl_service& s) override { return m_.services.update(k, s); }
    Status delete_service(const hl_service_key& k) override { return m_.services.erase(k); }
    Status put_service_meta(uint32_t id, const hl_service_meta& meta) override {
        return m_.service_meta.update(id, meta);
    }
    Status delete_service_meta(uint32_t id) override { return m_.service_meta.erase(id); }
    Status put_cgroup(uint64_t id, const hl_cgroup_ns& v) override { return m_.cgroup_ns.update(id, v); }
    Status delete_cgroup(uint64_t id) override { return m_.cgroup_ns.erase(id); }
    Status put_endpoint(const hl_endpoint_key& k, uint32_t sid) override { return m_.endpoints.update(k, sid); }
    Status delete_endpoint(const hl_endpoint_key& k) override { return m_.endpoints.erase(k); }
    Status put_peer(const hl_endpoint_key& k, const hl_peer& p) override { return m_.peers.update(k, p); }
    Status delete_peer(const hl_endpoint_key& k) override { return m_.peers.erase(k); }
    std::optional<uint32_t> get_endpoint(const hl_endpoint_key& k) const override { return m_.endpoints.lookup(k); }
    std::optional<hl_peer> get_peer(const hl_endpoint_key& k) const override { return m_.peers.lookup(k); }
    std::optional<hl_backend> get_backend(uint32_t id) const override { return m_.backends.lookup(id); }
    Status reset_service_counters(uint32_t id) override;
    Status reset_backend_counters(uint32_t id) override;

    KernelState read() const override;
    const MapSet& maps() const { return m_; }

private:
    MapSet m_;
};

}  // namespace hl
