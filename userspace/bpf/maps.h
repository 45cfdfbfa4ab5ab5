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
    // The connection lifecycle (sockops).
    PerCpuArray<hl_service_lc> service_lc;
    PerCpuArray<hl_service_gauge> service_gauge;
    PerCpuArray<hl_service_hist> service_hist;
    SharedArray<hl_backend_live> backend_live;
    SharedArray<hl_backend_lc> backend_lc;
    Map<hl_endpoint_key, uint32_t> endpoints;
    // Backend TCP address:port -> the VIP, service and backend of the
    // redirected sockets connected there (issue 12).
    Map<hl_endpoint_key, hl_peer> peers;
    MapBase events;  // RINGBUF of hl_connect_failure (hoplessd's one consumer)
    MapBase trace;   // RINGBUF of hl_trace_event (`hopless trace`)
    Map<uint32_t, hl_trace_ctl> trace_ctl;

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
inline constexpr const char* service_lc = "hl_svclc_v1";
inline constexpr const char* service_gauge = "hl_svcgauge_v1";
inline constexpr const char* service_hist = "hl_svchist_v1";
inline constexpr const char* backend_live = "hl_belive_v1";
inline constexpr const char* backend_lc = "hl_belc_v1";
inline constexpr const char* endpoints = "hl_ep_v1";
inline constexpr const char* peers = "hl_peer_v1";
inline constexpr const char* inbound_sock = "hl_insock_v1";
inline constexpr const char* events = "hl_events_v1";
inline constexpr const char* trace = "hl_trace_v1";
inline constexpr const char* trace_ctl = "hl_tracectl_v1";
inline constexpr const char* all[] = {services,      slots,        backends,      cgroup_ns,    rr,
                                      service_stats, backend_stats, sock,         affinity,     revnat,
                                      service_meta,  ns_meta,       doomed,       service_lc,   service_gauge,
                                      service_hist,  backend_live,  backend_lc,   endpoints,    inbound_sock,
                                      events,        trace,         trace_ctl,     peers};
}  // namespace map_names

}  // namespace hl
