// Invariant 6: a layout mismatch between the BPF side and C++ fails the build.
// The figures are the layouts the BPF object was compiled with; changing a
// struct means changing it here too and bumping HL_ABI_VERSION.
#include <cstddef>

#include "hopless/abi.h"

#define HL_LAYOUT(T, size) static_assert(sizeof(T) == (size), #T " size changed: bump HL_ABI_VERSION")
#define HL_AT(T, field, off) static_assert(offsetof(T, field) == (off), #T "." #field " moved")

HL_LAYOUT(hl_service_key, 24);
HL_AT(hl_service_key, port, 16);
HL_AT(hl_service_key, proto, 18);
HL_AT(hl_service_key, ns_id, 20);

HL_LAYOUT(hl_service, 24);
HL_AT(hl_service, generation, 4);
HL_AT(hl_service, slot_count, 8);
HL_AT(hl_service, algorithm, 12);
HL_AT(hl_service, flags, 13);
HL_AT(hl_service, connect_timeout_cs, 14);
HL_AT(hl_service, affinity_timeout_s, 16);

HL_LAYOUT(hl_slot_key, 12);
HL_LAYOUT(hl_backend, 28);
HL_AT(hl_backend, port, 16);
HL_AT(hl_backend, family, 18);
HL_AT(hl_backend, state, 19);
HL_AT(hl_backend, weight, 20);
HL_AT(hl_backend, flags, 22);
HL_AT(hl_backend, service_id, 24);

HL_LAYOUT(hl_cgroup_ns, 8);
HL_LAYOUT(hl_rr, 8);
HL_LAYOUT(hl_service_stats, 64);
HL_LAYOUT(hl_backend_stats, 16);
HL_LAYOUT(hl_sock_meta, 32);
HL_AT(hl_sock_meta, flags, 19);
HL_AT(hl_sock_meta, service_id, 20);
HL_AT(hl_sock_meta, connect_us, 28);
HL_LAYOUT(hl_service_meta, 128);
HL_LAYOUT(hl_ns_meta, 64);
HL_LAYOUT(hl_affinity_key, 24);
HL_LAYOUT(hl_affinity, 16);
HL_LAYOUT(hl_revnat_key, 32);
HL_LAYOUT(hl_revnat, 32);
HL_LAYOUT(hl_backend_live, 16);
HL_AT(hl_backend_live, consecutive_failures, 8);
HL_LAYOUT(hl_connect_failure, 24);
HL_AT(hl_connect_failure, consecutive_failures, 16);
HL_AT(hl_connect_failure, reason, 20);

HL_LAYOUT(hl_service_lc, 96);
HL_AT(hl_service_lc, errors, 8);
HL_AT(hl_service_lc, inbound, 56);
HL_LAYOUT(hl_service_gauge, 16);
HL_LAYOUT(hl_hist, 8 * (HL_HIST_BUCKETS + 1));
HL_LAYOUT(hl_service_hist, 2 * 8 * (HL_HIST_BUCKETS + 1));
HL_LAYOUT(hl_backend_lc, 48);
HL_LAYOUT(hl_endpoint_key, 20);
HL_AT(hl_endpoint_key, port, 16);
HL_LAYOUT(hl_inbound_sock, 8);
HL_LAYOUT(hl_peer, 32);
HL_AT(hl_peer, vip_port, 16);
HL_AT(hl_peer, vip_family, 18);
HL_AT(hl_peer, service_id, 20);
HL_AT(hl_peer, backend_id, 24);
HL_AT(hl_peer, connect_timeout_cs, 28);
HL_LAYOUT(hl_trace_ctl, 16);
HL_LAYOUT(hl_trace_event, 112);
HL_AT(hl_trace_event, connect_us, 44);
HL_AT(hl_trace_event, ejection_ms, 44);
HL_AT(hl_trace_event, port, 52);
HL_AT(hl_trace_event, backend, 72);
HL_AT(hl_trace_event, addr, 56);
HL_AT(hl_trace_event, type, 88);
HL_AT(hl_trace_event, comm, 96);
