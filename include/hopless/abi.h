/* SPDX-License-Identifier: Apache-2.0
 *
 * The one definition of everything that crosses the kernel boundary.
 * Included by bpf/hopless.bpf.c (clang -target bpf) and by C++ (libhopless);
 * userspace/bpf/abi_check.cpp static_asserts sizes and offsets, so a layout
 * change that is not mirrored everywhere fails the build.
 *
 * Rules: fixed-width types only, explicit padding, no pointers, no enums in
 * structs (their width is the compiler's choice). When a layout changes, bump
 * HL_ABI_VERSION: map names carry it, so an upgraded daemon never adopts a
 * pinned map of another shape.
 */
#ifndef HOPLESS_ABI_H
#define HOPLESS_ABI_H

#ifndef __VMLINUX_H__ /* BPF objects built on vmlinux.h have the types already */
#include <linux/types.h>
#endif

#define HL_ABI_VERSION 1

/* Default map capacities; the daemon overrides them from the config (maps:). */
#define HL_DEFAULT_MAX_SERVICES 65536
#define HL_DEFAULT_MAX_BACKENDS 262144
#define HL_DEFAULT_MAX_SLOTS    (1u << 20)
#define HL_DEFAULT_MAX_CGROUPS  4096
#define HL_DEFAULT_MAX_NAMESPACES 1024
#define HL_DEFAULT_AFFINITY_ENTRIES 65536
#define HL_DEFAULT_REVNAT_ENTRIES 65536

/* Largest slot table of one service (weights are spread over it). */
#define HL_MAX_SLOTS_PER_SERVICE 4096
/* How many slots a connect probes to find a backend of the socket's family. */
#define HL_FAMILY_PROBES 8
/* Deepest cgroup level searched for a namespace (nested cgroups inherit). */
#define HL_MAX_CGROUP_DEPTH 16

#define HL_NAME_LEN 64

/* Algorithms (struct hl_service.algorithm). */
#define HL_ALGO_RANDOM      0
#define HL_ALGO_ROUND_ROBIN 1
#define HL_ALGO_WEIGHTED    2
#define HL_ALGO_LEAST_CONN  3 /* least_connections: of two random slots, the backend with fewer active connections */

/* Backend states (struct hl_backend.state). Only ACTIVE takes new connects;
 * the reconciler leaves the others out of the slot table, and the datapath
 * checks the state again so a racing connect never picks one. */
#define HL_BACKEND_ACTIVE      0
#define HL_BACKEND_DRAINING    1
#define HL_BACKEND_QUARANTINED 2

/* struct hl_service.flags (read by the daemon and the CLI, not the datapath:
 * the slot table already says which backends take connects). */
#define HL_SVC_F_PREFER_LOCAL 1  /* prefer: local */
#define HL_SVC_F_LOCAL_TABLE  2  /* the table in force holds only this host's own backends */

/* struct hl_backend.flags. REMOTE is the daemon's and the CLI's; SECONDARY
 * is the connect hook's: another service's backend was at this TCP
 * address:port first and answers for it in hl_peer_v1, so a connect to this
 * one keeps its own per-socket record (hl_sock_v1). */
#define HL_BACKEND_F_REMOTE    1  /* another host's endpoint, seen in etcd */
#define HL_BACKEND_F_SECONDARY 2  /* its TCP address:port is another service's in hl_peer_v1 */

/* Backends whose redirected sockets are to be terminated (HASH, backend id ->
 * owning service id), filled by the daemon before it runs the socket
 * iterators of bpf/destroy.bpf.c. */
#define HL_DEFAULT_MAX_DOOMED 4096

#define HL_FAMILY_V4 4
#define HL_FAMILY_V6 6

/* struct hl_cgroup_ns.flags: who attached this cgroup. */
#define HL_CG_FROM_CONFIG 1
#define HL_CG_FROM_CLI    2

/* Service key: v4 addresses are stored v4-mapped (::ffff:a.b.c.d), so the
 * connect6 hook finds a v4 VIP dialed as ::ffff:127.255.0.1 with the same key. */
struct hl_service_key {
	__u8  addr[16];
	__u16 port;      /* network byte order */
	__u8  proto;     /* IPPROTO_TCP or IPPROTO_UDP */
	__u8  pad;
	__u32 ns_id;     /* namespace: a task sees only its own */
};

struct hl_service {
	__u32 id;          /* index into service stats, key of slots */
	__u32 generation;  /* slot table in force; bumped on every table change */
	__u32 slot_count;  /* 0: no usable backend -> ECONNREFUSED */
	__u8  algorithm;   /* HL_ALGO_* */
	__u8  flags;       /* HL_SVC_F_* */
	__u16 connect_timeout_cs; /* connect_timeout in 10 ms units (<= 655 s); 0: the kernel's own */
	__u32 affinity_timeout_s; /* 0: no affinity */
	__u32 drain_timeout_s;    /* read by the daemon, not the datapath */
};

/* One slot of a service's selection table, in the generation it belongs to.
 * A new table is written under a new generation and published by one update
 * of the service entry, so a racing connect sees the old table or the new. */
struct hl_slot_key {
	__u32 service_id;
	__u32 generation;
	__u32 slot;
};

struct hl_backend {
	__u8  addr[16];    /* v4 stored v4-mapped */
	__u16 port;        /* network byte order */
	__u8  family;      /* HL_FAMILY_V4 / HL_FAMILY_V6 */
	__u8  state;       /* HL_BACKEND_* */
	__u16 weight;
	__u8  flags;       /* HL_BACKEND_F_* */
	__u8  pad;
	__u32 service_id;  /* owner: a backend id is never shared by services */
};

struct hl_cgroup_ns {
	__u32 ns_id;
	__u32 flags;       /* HL_CG_FROM_* */
};

/* Round-robin position per service (ARRAY indexed by service id). */
struct hl_rr {
	__u64 next;
};

/* Per-CPU counters, PERCPU_ARRAY indexed by service id. */
struct hl_service_stats {
	__u64 connections;     /* connects and sends redirected */
	__u64 no_backend;      /* rejected with ECONNREFUSED */
	__u64 udp_translations;
	__u64 revnat_stale;
	__u64 affinity_hits;
	__u64 bind_rejects;
	__u64 sockets_destroyed;
	__u64 reserved;
};

/* Per-CPU counters, PERCPU_ARRAY indexed by backend id. */
struct hl_backend_stats {
	__u64 connections;
	__u64 reserved;
};

/* ---- what a socket remembers of its redirect ---------------------------
 *
 * A redirected TCP connect allocates nothing (issue 12: the per-socket
 * storage cost 1.7-2.35 us a connection, nearly all of hopless's cost). It
 * marks the socket in the TCP callback flags the kernel keeps in every
 * tcp_sock (bpf_sock_ops_cb_flags, set from the connect hook with
 * bpf_setsockopt(SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS)), and everything else is
 * found from the socket's peer, which is the backend's address:port, in
 * hl_peer_v1: which VIP it was dialed as, for which service and backend.
 * The two marks are flags whose callbacks fire only on loss (an RTO, a
 * retransmission), so they cost nothing on a healthy connection:
 *   REDIRECTED  the connect hook redirected this socket (until it closes);
 *   COUNTED     the sockops program counted it established (the close takes
 *               back exactly what that added, once, however many attached
 *               cgroups run the program).
 * A socket whose backend's address:port another service also names (a
 * SECONDARY backend), and a connect whose SYN was retransmitted (for its
 * duration), keep an hl_sock_v1 record as before; a record with a service id
 * is the socket's identity and wins over hl_peer_v1. UDP sockets keep theirs.
 * Another sockops program that overwrites the callback flags (instead of
 * adding to them) would erase the marks. */
#define HL_MARK_REDIRECTED 1  /* BPF_SOCK_OPS_RTO_CB_FLAG */
#define HL_MARK_COUNTED    2  /* BPF_SOCK_OPS_RETRANS_CB_FLAG */

/* Backend TCP address:port -> what a redirected socket connected there was
 * dialed as (HASH hl_peer_v1, key struct hl_endpoint_key; kept by the
 * reconciler). When several services name one address:port, the one that
 * named it first answers (it keeps it while it names it), the others' connects
 * keep a per-socket record. An entry outlives its backend until the next
 * change the reconciler applies, so the sockets the daemon terminates in
 * between are still counted and found. */
struct hl_peer {
	__u8  vip[16];     /* v4 stored v4-mapped */
	__u16 vip_port;    /* network byte order */
	__u8  vip_family;  /* HL_FAMILY_V4 / HL_FAMILY_V6: how getpeername answers */
	__u8  pad;
	__u32 service_id;
	__u32 backend_id;
	__u16 connect_timeout_cs; /* the service's (struct hl_service) */
	__u16 pad2;
};

/* struct hl_sock_meta.flags: where the sockops program is in a redirected
 * TCP connection's life. Every step checks and sets its bit, so a socket
 * whose programs run twice (an attached cgroup below another) counts once. */
#define HL_SOCK_USER_TIMEOUT 1  /* connect4 set TCP_USER_TIMEOUT (connect_timeout): cleared once established */
#define HL_SOCK_ESTABLISHED  2  /* counted as active: the close takes it back */
#define HL_SOCK_CLOSED       4  /* the close (or failure) was counted */

/* Per socket (SK_STORAGE hl_sock_v1): what the connect hook decided, for
 * connected UDP sockets and for TCP sockets to a SECONDARY backend (see
 * above); TCP sockets of a datapath before issue 12 have one too, and keep
 * being counted by it (HL_SOCK_* flags). A record whose service_id is 0 only
 * holds connect_us: the sockops program makes one when a redirected SYN is
 * retransmitted, the one case where the SYN's RTT is not the connect's
 * duration. flags and connect_us took the places of padding (the layout and
 * size are those of ABI 1; a socket of an older datapath reads 0 in both). */
struct hl_sock_meta {
	__u8  vip[16];
	__u16 vip_port;    /* network byte order */
	__u8  vip_family;
	__u8  flags;       /* HL_SOCK_* (TCP) */
	__u32 service_id;
	__u32 backend_id;
	__u32 connect_us;  /* low 32 bits of bpf_ktime_get_ns()/1000 when the SYN was built */
};

/* ---- connection lifecycle (sockops) and outlier detection --------------
 *
 * Per backend, shared by every CPU (ARRAY hl_belive_v1, indexed by backend
 * id): live figures the datapath itself reads, so not per-CPU.
 * `active` is what least_connections compares; `consecutive_failures` is
 * what outlier detection ejects on: the sockops program adds one for each
 * failed connect of a redirected socket and sets it to 0 on an established
 * one; hoplessd sets it to 0 when it ejects the backend, so a backend that
 * comes back starts afresh. */
struct hl_backend_live {
	__s64 active;               /* redirected TCP connections established and not yet closed */
	__u32 consecutive_failures; /* connect failures in a row */
	__u32 pad;
};

/* Why a connect or connection failed (event `reason`, metric label). */
#define HL_REASON_REFUSED 1  /* RST in answer to the SYN: nothing listens */
#define HL_REASON_TIMEOUT 2  /* no answer within connect_timeout (or the kernel's SYN retries) */
#define HL_REASON_RESET   3  /* reset after the connection was established */
#define HL_REASON_OTHER   4  /* any other error (unreachable, ...) */

/* One failed connect of a redirected socket (RINGBUF hl_events_v1, read by
 * hoplessd's outlier detection; a handful of records per failure, none per
 * successful connection, so the datapath's cost per connection is nil). */
struct hl_connect_failure {
	__u64 ts_ns;                /* bpf_ktime_get_ns() */
	__u32 service_id;
	__u32 backend_id;
	__u32 consecutive_failures; /* the backend's count after this one */
	__u8  reason;               /* HL_REASON_REFUSED / _TIMEOUT / _OTHER */
	__u8  pad[3];
};

/* Counters by reason are indexed HL_REASON_* - 1. */
#define HL_REASONS 4

/* ---- lifecycle counters (sockops) ----------------------------------------
 * New maps beside the ABI-1 ones (an upgrade creates them; nothing pinned
 * changes shape). Service-level maps are per-CPU (a hot service is counted
 * by every CPU without sharing a cache line); backend-level ones are shared
 * ARRAYs with atomic adds, so their memory grows with backends, not with
 * backends times CPUs. */

/* Per service, per CPU (PERCPU_ARRAY hl_svclc_v1, indexed by service id;
 * zeroed when an id is reused). "Redirected" are connections whose connect()
 * hopless rewrote; "inbound" are connections that tasks in attached cgroups
 * accepted on a backend address:port of the service (the server side). */
struct hl_service_lc {
	__u64 established;            /* redirected connects that reached ESTABLISHED */
	__u64 errors[HL_REASONS];     /* redirected connections that failed, by reason */
	__u64 bytes_sent;             /* payload the backend acknowledged, at close */
	__u64 bytes_received;         /* payload received from the backend, at close */
	__u64 inbound;                /* inbound connections accepted */
	__u64 inbound_bytes_sent;
	__u64 inbound_bytes_received;
	__u64 events_lost;            /* connect failures hl_events_v1 had no room for */
	__u64 reserved;
};

/* Per service, per CPU (PERCPU_ARRAY hl_svcgauge_v1): connections open now,
 * summed over CPUs. Never zeroed: a close always takes back what its open
 * added, even when the service id was reused meanwhile. */
struct hl_service_gauge {
	__s64 active;                 /* redirected connections established and not closed */
	__s64 inbound_active;
};

/* Fixed log-scale histogram buckets: bucket i counts values <= 16 * 4^i
 * microseconds (16 us, 64 us, 256 us, 1.02 ms, 4.1 ms, 16.4 ms, 65.5 ms,
 * 262 ms, 1.05 s, 4.19 s, 16.8 s); the last one is +Inf. 12 buckets and a sum
 * are 104 bytes a histogram: 13.6 MB per CPU for both histograms of 65,536
 * services. */
#define HL_HIST_BUCKETS 12
#define HL_HIST_BOUND_US(i) (16ull << (2 * (i)))

struct hl_hist {
	__u64 bucket[HL_HIST_BUCKETS]; /* not cumulative: each value is counted in one bucket */
	__u64 sum_us;
};

/* Per service, per CPU (PERCPU_ARRAY hl_svchist_v1; zeroed on id reuse). */
struct hl_service_hist {
	struct hl_hist connect;       /* connect() to ESTABLISHED of redirected connects */
	struct hl_hist rtt;           /* smoothed RTT of redirected connections as they close */
};

/* Per backend (ARRAY hl_belc_v1, shared, atomic adds; indexed by backend id,
 * zeroed when the id is reused). */
struct hl_backend_lc {
	__u64 errors[HL_REASONS];
	__u64 bytes_sent;
	__u64 bytes_received;
};

/* Backend address -> the service it serves (HASH hl_ep_v1), for the server
 * side: a connection accepted on this address:port is inbound to that
 * service. When several TCP services name one address:port, the lowest
 * service id has it. */
struct hl_endpoint_key {
	__u8  addr[16];    /* v4 stored v4-mapped */
	__u16 port;        /* network byte order */
	__u16 pad;
};

/* Per accepted socket (SK_STORAGE hl_insock_v1): the service it is inbound
 * to, so its close is counted where its accept was. */
struct hl_inbound_sock {
	__u32 service_id;
	__u32 pad;
};

/* ---- trace: datapath events for `hopless trace` --------------------------
 * Written to RINGBUF hl_trace_v1 only while a tracer holds hl_tracectl_v1
 * (ARRAY, one entry): the CLI pushes until_ns a few seconds ahead every
 * second, so a tracer that was killed stops costing within seconds, and the
 * datapath clears until_ns when it finds it past, after which an event costs
 * one load and a branch. */
struct hl_trace_ctl {
	__u64 until_ns;    /* bpf_ktime_get_ns() deadline; 0: nobody traces */
	__u32 service_id;  /* 0: every service */
	__u32 pid;         /* the tracer */
};

#define HL_TRACE_REDIRECT    1  /* connect (or UDP send) redirected to a backend */
#define HL_TRACE_NO_BACKEND  2  /* connect refused: no usable backend */
#define HL_TRACE_ESTABLISHED 3  /* redirected connect established (connect_us) */
#define HL_TRACE_FAILED      4  /* redirected connect or connection failed (reason) */
#define HL_TRACE_CLOSED      5  /* redirected connection closed (bytes, rtt_us; reason 0) */
#define HL_TRACE_DESTROYED   6  /* redirected socket ended by hopless (backend removed or drained) */
#define HL_TRACE_INBOUND     7  /* accepted on a backend address:port (peer in addr) */
#define HL_TRACE_INBOUND_CLOSED 8
/* The daemon's health verdicts (outlier detection or active health checks):
 * the backend stops (EJECTED) or starts again (RESTORED) taking new
 * connects. Decided in userspace, written into this same ring by the
 * SEC("syscall") program hl_trace_health (run with BPF_PROG_TEST_RUN, the
 * event as its context), under the same hl_tracectl_v1 rule, so a tracer
 * sees them in order with the kernel's. reason: HL_HEALTH_*; pid, cgroup_id,
 * comm, addr and port are 0. */
#define HL_TRACE_EJECTED     9
#define HL_TRACE_RESTORED    10

#define HL_HEALTH_OUTLIER      1  /* outlier detection: ejected, or the ejection is over */
#define HL_HEALTH_CHECK        2  /* active health check: unhealthy_threshold failed, or healthy_threshold passed */

struct hl_trace_event {
	__u64 ts_ns;       /* bpf_ktime_get_ns() */
	__u64 cgroup_id;   /* the calling task's (connect hooks); 0 from sockops */
	__u64 bytes_sent;
	__u64 bytes_received;
	__u32 pid;         /* tgid of the calling task (connect hooks); 0 from sockops */
	__u32 service_id;
	__u32 backend_id;
	union {
		__u32 connect_us;   /* ESTABLISHED */
		__u32 ejection_ms;  /* EJECTED by outlier detection: for how long */
	};
	__u32 rtt_us;
	__u16 port;        /* network byte order: VIP port, or the peer's (inbound) */
	__u16 backend_port;
	__u8  addr[16];    /* VIP, or the peer (inbound) */
	__u8  backend[16];
	__u8  type;        /* HL_TRACE_* */
	__u8  reason;      /* HL_REASON_* (HL_HEALTH_* for EJECTED and RESTORED) */
	__u8  proto;
	__u8  pad[5];
	char  comm[16];
};

/* Names for the CLI and for adoption after a restart (never read by BPF). */
struct hl_service_meta {
	char name[HL_NAME_LEN];
	char ns[HL_NAME_LEN];
};

struct hl_ns_meta {
	char name[HL_NAME_LEN];
};

/* Session affinity (LRU_HASH). A client is its network namespace and its
 * cgroup: tasks with their own netns differ by cookie, tasks that share the
 * host's netns differ by cgroup. */
struct hl_affinity_key {
	__u64 netns_cookie;
	__u64 cgroup_id;
	__u32 service_id;
	__u32 pad;
};

struct hl_affinity {
	__u64 last_used_ns;  /* bpf_ktime_get_ns() of the last connect */
	__u32 backend_id;
	__u32 pad;
};

/* Reverse translation of unconnected UDP (LRU_HASH): a reply from the backend
 * to this socket is shown as coming from the VIP the application sent to. */
struct hl_revnat_key {
	__u64 cookie;      /* bpf_get_socket_cookie() */
	__u8  addr[16];    /* backend */
	__u16 port;
	__u16 pad;
	__u32 pad2;
};

struct hl_revnat {
	__u8  vip[16];
	__u16 vip_port;
	__u16 pad;
	__u32 service_id;
	__u32 backend_id;
	__u32 pad2;
};

#endif /* HOPLESS_ABI_H */
