// Every map of the datapath, typed. The daemon gets them from the loaded
// skeleton; the CLI opens the same maps from their pins, so both read one
// kernel state through one set of types.
#pragma once

#include <string>

#include "bpf/map.h"
#include "hopless/abi.h"

namespace hl {

struct MapSet {
    Map<hl_service_key, hl_service> services;
    Map<hl_slot_key, uint32_t> slots;
    Map<uint32_t, hl_backend> backends;
    Map<uint64_t, hl_cgroup_ns> cgroup_ns;
    Map<uint32_t, hl_rr> rr;
    PerCpuArray<hl_service_stats> service_stats;
    PerCpuArray<hl_backend_stats> backend_stats;
    Map<hl_affinity_key, hl_affinity> affinity;
    Map<hl_revnat_key, hl_revnat> revnat;
    Map<uint32_t, hl_service_meta> service_meta;
    Map<uint32_t, hl_ns_meta> ns_meta;

    // Opens every map pinned under pin_dir (the layout the daemon makes).
    static Result<MapSet> open_pinned(const std::string& pin_dir);
};

// The pinned names, in one place (they carry the ABI version).
namespace map_names {
inline constexpr const char* services = "hl_svc_v1";
inline constexpr const char* slots = "hl_slot_v1";
inline constexpr const char* backends = "hl_be_v1";
inline constexpr const char* cgroup_ns = "hl_cgns_v1";
inline constexpr const char* rr = "hl_rr_v1";
inline constexpr const char* service_stats = "hl_svcst_v1";
inline constexpr const char* backend_stats = "hl_best_v1";
inline constexpr const char* sock = "hl_sock_v1";
inline constexpr const char* affinity = "hl_aff_v1";
inline constexpr const char* revnat = "hl_revnat_v1";
inline constexpr const char* service_meta = "hl_svcmeta_v1";
inline constexpr const char* ns_meta = "hl_nsmeta_v1";
inline constexpr const char* doomed = "hl_doomed_v1";  // bpf/destroy.bpf.c
inline constexpr const char* all[] = {services,      slots, backends, cgroup_ns, rr,           service_stats,
                                      backend_stats, sock,  affinity, revnat,    service_meta, ns_meta,
                                      doomed};
}  // namespace map_names

}  // namespace hl
