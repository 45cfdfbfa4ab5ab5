/* SPDX-License-Identifier: GPL-2.0 */
/* What a redirected socket remembers of its redirect, and how the readers
 * (getpeername, recvmsg, sockops, the socket iterators) find it again.
 *
 * A TCP connect allocates nothing: the socket gets HL_MARK_REDIRECTED in its
 * callback flags, and its VIP, service and backend are its peer's entry in
 * hl_peer_v1. Two cases keep a record per socket (hl_sock_v1): connected UDP
 * (few sockets, many datagrams), and TCP to a SECONDARY backend (an
 * address:port another service answers for in hl_peer_v1). A record with a
 * service id wins over the peer's entry. */
#ifndef HL_BPF_SOCK_H
#define HL_BPF_SOCK_H

#include "common.h"
#include "maps.h"
#include "kern.h"
#include "lb.h"

/* The redirect mark. bpf_setsockopt() of the flags replaces them all, so
 * the ones already set (another program's) are read first and kept. A
 * record of an earlier connect of this socket (one that failed before its
 * SYN left, so no close took it away) must not outlive it. */
HL_INLINE void hl_sock_mark(struct bpf_sock_addr *ctx, int keeps_record)
{
	struct tcp_sock *tp = hl_tcp_sock(ctx->sk);
	if (!tp)
		return;
	int flags = (int)((hl_tcp_marks(tp) | HL_MARK_REDIRECTED) & ~HL_MARK_COUNTED);
	bpf_setsockopt(ctx, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
	if (!keeps_record && ((struct sock___hl *)tp)->sk_bpf_storage)
		bpf_sk_storage_delete(&hl_sock_v1, ctx->sk);
}

HL_INLINE void hl_sock_remember(struct bpf_sock_addr *ctx, const struct hl_service_key *key,
				const struct hl_selection *sel)
{
	int tcp = key->proto == IPPROTO_TCP;
	int record = !tcp || (sel->be.flags & HL_BACKEND_F_SECONDARY);
	struct hl_sock_meta *m = NULL;

	if (record) {
		m = bpf_sk_storage_get(&hl_sock_v1, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (m) {
			__builtin_memcpy(m->vip, key->addr, 16);
			m->vip_port = key->port;
			m->vip_family = hl_addr_is_v4mapped(key->addr) ? HL_FAMILY_V4 : HL_FAMILY_V6;
			m->service_id = sel->service_id;
			m->backend_id = sel->backend_id;
			m->flags = 0;
			m->connect_us = tcp ? hl_now_us() : 0;
		}
	}
	if (tcp)
		hl_sock_mark(ctx, record);
	/* connect_timeout: TCP_USER_TIMEOUT bounds a connect in SYN_SENT too
	 * (tcp_write_timeout checks it for every state since 6.x; the syn
	 * retry count alone would give only 1, 3, 7, 15 ... s steps). The
	 * sockops program takes it off once the connection is established.
	 * An application that set its own keeps it. */
	if (sel->connect_timeout_cs && tcp) {
		if (hl_user_timeout_ms(hl_tcp_sock(ctx->sk)) == 0) {
			int ms = (int)sel->connect_timeout_cs * 10;
			if (bpf_setsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) == 0 && m)
				m->flags = HL_SOCK_USER_TIMEOUT;
		}
	}
}

/* A UDP socket re-connected to a non-VIP must not keep answering with a VIP.
 * But an attached cgroup below another runs this hook twice for one
 * connect(): the second run sees the backend the first one chose, and must
 * keep the record the first one made. TCP sockets need nothing here: their
 * mark goes when the connection closes. */
HL_INLINE void hl_sock_forget(struct bpf_sock_addr *ctx, const struct hl_service_key *dst)
{
	if (dst->proto != IPPROTO_UDP)
		return;
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, ctx->sk, 0, 0);
	if (!m)
		return;
	__u32 bid = m->backend_id;
	struct hl_backend *be = bpf_map_lookup_elem(&hl_be_v1, &bid);
	if (be && be->port == dst->port && hl_addr_eq(be->addr, dst->addr))
		return; /* this connect's own redirect, one cgroup further down */
	bpf_sk_storage_delete(&hl_sock_v1, ctx->sk);
}

/* The VIP a socket was dialed as, for a peer (the backend) at addr:port: its
 * own record, else (a marked TCP socket) the peer's entry. */
HL_INLINE int hl_sock_vip(struct bpf_sock_addr *ctx, const struct hl_endpoint_key *peer, __u8 *vip,
			  __u16 *vip_port, __u8 *vip_family)
{
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, ctx->sk, 0, 0);
	if (m && m->service_id) {
		__builtin_memcpy(vip, m->vip, 16);
		*vip_port = m->vip_port;
		*vip_family = m->vip_family;
		return 0;
	}
	if (ctx->protocol != IPPROTO_TCP || !hl_sock_redirected(ctx->sk))
		return -ENOENT;
	struct hl_peer *p = bpf_map_lookup_elem(&hl_peer_v1, peer);
	if (!p)
		return -ENOENT;
	__builtin_memcpy(vip, p->vip, 16);
	*vip_port = p->vip_port;
	*vip_family = p->vip_family;
	return 0;
}

#endif
