// SPDX-License-Identifier: GPL-2.0
/* Socket termination: when a backend leaves its service (or has drained for
 * the service's drain_timeout), the daemon marks it in hl_doomed_v1 and runs
 * these iterators; every TCP or connected-UDP socket that hopless redirected
 * to a marked backend is destroyed with the bpf_sock_destroy kfunc (kernel
 * >= 6.5), so no client stays pinned to a dead backend. Which backend a
 * socket was redirected to: its hl_sock_v1 record (UDP, a TCP socket to a
 * SECONDARY backend, one of a datapath before issue 12), else, for a TCP
 * socket the connect hook marked HL_MARK_REDIRECTED, its peer's entry in
 * hl_peer_v1 (the reconciler keeps a departed backend's entry until after
 * this has run). A socket hopless did not redirect has neither and is never
 * touched, even when it is connected to the same backend address.
 *
 * A separate object because iterators need kernel types (vmlinux.h), which
 * clash with the UAPI headers the socket hooks use. The maps are the main
 * object's, shared through their pins. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <hopless/abi.h>

char LICENSE[] SEC("license") = "GPL";

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hl_sock_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_sock_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hl_endpoint_key);
	__type(value, struct hl_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_peer_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HL_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct hl_service_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_svcst_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HL_DEFAULT_MAX_DOOMED);
	__type(key, __u32);   /* backend id */
	__type(value, __u32); /* the service it belonged to */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hl_doomed_v1 SEC(".maps");

/* The backend and service hopless redirected this socket to; 0 if none. */
static __always_inline int hl_redirect_of(struct sock_common *skc, void *sk, int marked, __u32 *sid, __u32 *bid)
{
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, sk, 0, 0);
	if (m && m->service_id) {
		*sid = m->service_id;
		*bid = m->backend_id;
		return 1;
	}
	if (!marked)
		return 0; /* not redirected by hopless */
	struct hl_endpoint_key k = { .port = skc->skc_dport };
	__u32 *w = (__u32 *)k.addr;
	if (skc->skc_family == 2 /* AF_INET */) {
		w[2] = bpf_htonl(0x0000ffff);
		w[3] = skc->skc_daddr;
	} else {
		w[0] = skc->skc_v6_daddr.in6_u.u6_addr32[0];
		w[1] = skc->skc_v6_daddr.in6_u.u6_addr32[1];
		w[2] = skc->skc_v6_daddr.in6_u.u6_addr32[2];
		w[3] = skc->skc_v6_daddr.in6_u.u6_addr32[3];
	}
	struct hl_peer *p = bpf_map_lookup_elem(&hl_peer_v1, &k);
	if (!p)
		return 0;
	*sid = p->service_id;
	*bid = p->backend_id;
	return 1;
}

static __always_inline void hl_maybe_destroy(struct sock_common *skc, void *sk, int marked)
{
	/* Reading a field also makes clang emit struct sock_common whole, not
	 * as a forward declaration that libbpf's kfunc prototype check rejects. */
	if (skc->skc_family != 2 /* AF_INET */ && skc->skc_family != 10 /* AF_INET6 */)
		return;
	__u32 sid = 0, bid = 0;
	if (!hl_redirect_of(skc, sk, marked, &sid, &bid))
		return;
	__u32 *owner = bpf_map_lookup_elem(&hl_doomed_v1, &bid);
	/* The owner check keeps an id that was meanwhile given to another
	 * service's backend from killing that service's sockets. */
	if (!owner || *owner != sid)
		return;
	if (bpf_sock_destroy(skc) == 0) {
		struct hl_service_stats *st = bpf_map_lookup_elem(&hl_svcst_v1, &sid);
		if (st)
			__sync_fetch_and_add(&st->sockets_destroyed, 1);
	}
}

SEC("iter/tcp")
int hl_destroy_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* request and time-wait sockets carry no storage */
	hl_maybe_destroy(skc, tp, tp->bpf_sock_ops_cb_flags & HL_MARK_REDIRECTED);
	return 0;
}

SEC("iter/udp")
int hl_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	if (!udp)
		return 0;
	hl_maybe_destroy((struct sock_common *)udp, udp, 0);
	return 0;
}
