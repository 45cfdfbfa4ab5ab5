/* SPDX-License-Identifier: GPL-2.0 */
/* Every map of the datapath. Names carry HL_ABI_VERSION (v1) so an upgrade
 * never adopts a pinned map of another shape; all are pinned by name under
 * the daemon's pin dir (LIBBPF_PIN_BY_NAME + pin_root_path). Sizes here are
 * defaults; the daemon sets them from the config before load. */
#ifndef HL_BPF_MAPS_H
#define HL_BPF_MAPS_H

#include <hopless/abi.h>

/* Hash maps are not preallocated: an update swaps in a new element under RCU,
 * so a reader holds the old value or the new one, never a recycled element. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hl_service_key);
	__type(value, struct hl_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svc_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hl_slot_key);
	__type(value, __u32); /* backend id */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_slot_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct hl_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_be_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64); /* cgroup id */
	__type(value, struct hl_cgroup_ns);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_cgns_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct hl_rr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_rr_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct hl_service_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svcst_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct hl_backend_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_best_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hl_sock_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_sock_v1 SEC(".maps");

/* Backend TCP address:port -> the VIP, service and backend a redirected
 * socket connected there belongs to (see HL_MARK_REDIRECTED in abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hl_endpoint_key);
	__type(value, struct hl_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_peer_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HL_DEFAULT_AFFINITY_ENTRIES);
	__type(key, struct hl_affinity_key);
	__type(value, struct hl_affinity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_aff_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HL_DEFAULT_REVNAT_ENTRIES);
	__type(key, struct hl_revnat_key);
	__type(value, struct hl_revnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_revnat_v1 SEC(".maps");

/* ---- connection lifecycle (bpf/lib/lifecycle.h) -------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct hl_service_lc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svclc_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct hl_service_gauge);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svcgauge_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct hl_service_hist);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svchist_v1 SEC(".maps");

/* Shared by every CPU: least_connections and outlier detection read these.
 * Mappable, so hoplessd zeroes consecutive_failures with one atomic store
 * that cannot undo a concurrent change of `active` (a map update writes the
 * whole value). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct hl_backend_live);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_belive_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct hl_backend_lc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_belc_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hl_endpoint_key);
	__type(value, __u32); /* service id */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_ep_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hl_inbound_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_insock_v1 SEC(".maps");

/* Connect failures for hoplessd's outlier detection (one consumer). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_events_v1 SEC(".maps");

/* `hopless trace`: its own ring (a ring buffer has one consumer), written
 * only while a tracer holds hl_tracectl_v1. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_trace_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hl_trace_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_tracectl_v1 SEC(".maps");

/* Names for the CLI and for adoption; the datapath never reads them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* service id */
	__type(value, struct hl_service_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svcmeta_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_NAMESPACES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* namespace id */
	__type(value, struct hl_ns_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_nsmeta_v1 SEC(".maps");

#endif
