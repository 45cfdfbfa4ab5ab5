// SPDX-License-Identifier: GPL-2.0
/* Socket termination: when a backend leaves its service (or has drained for
 * the service's drain_timeout), the daemon marks it in hl_doomed_v1 and runs
 * these iterators; every TCP or connected-UDP socket that hopless redirected
 * to a marked backend is destroyed with the bpf_sock_destroy kfunc (kernel
 * >= 6.5), so no client stays pinned to a dead backend. A socket hopless did
 * not redirect has no hl_sock_v1 record and is never touched.
 *
 * A separate object because iterators need kernel types (vmlinux.h), which
 * clash with the UAPI headers the socket hooks use. The maps are the main
 * object's, shared through their pins. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
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

static __always_inline void hl_maybe_destroy(struct sock_common *skc, void *sk)
{
	/* Reading a field also makes clang emit struct sock_common whole, not
	 * as a forward declaration that libbpf's kfunc prototype check rejects. */
	if (skc->skc_family != 2 /* AF_INET */ && skc->skc_family != 10 /* AF_INET6 */)
		return;
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, sk, 0, 0);
	if (!m)
		return; /* not redirected by hopless */
	__u32 bid = m->backend_id;
	__u32 sid = m->service_id;
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
	hl_maybe_destroy(skc, tp);
	return 0;
}

SEC("iter/udp")
int hl_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	if (!udp)
		return 0;
	hl_maybe_destroy((struct sock_common *)udp, udp);
	return 0;
}
