/* SPDX-License-Identifier: GPL-2.0 */
/* Per-socket memory of a redirect: what getpeername answers, what the
 * reverse translation of UDP replies and socket termination key on. */
#ifndef HL_BPF_SOCK_H
#define HL_BPF_SOCK_H

#include "common.h"
#include "maps.h"
#include "lb.h"

#ifndef SOL_TCP
#define SOL_TCP 6
#endif
#ifndef TCP_USER_TIMEOUT
#define TCP_USER_TIMEOUT 18
#endif

HL_INLINE void hl_sock_remember(struct bpf_sock_addr *ctx, const struct hl_service_key *key,
				const struct hl_selection *sel)
{
	struct bpf_sock *sk = ctx->sk;
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!m)
		return;
	__builtin_memcpy(m->vip, key->addr, 16);
	m->vip_port = key->port;
	m->vip_family = hl_addr_is_v4mapped(key->addr) ? HL_FAMILY_V4 : HL_FAMILY_V6;
	m->service_id = sel->service_id;
	m->backend_id = sel->backend_id;
	m->flags = 0;
	m->connect_us = 0;
	/* connect_timeout: TCP_USER_TIMEOUT bounds a connect in SYN_SENT too
	 * (tcp_write_timeout checks it for every state since 6.x; the syn
	 * retry count alone would give only 1, 3, 7, 15 ... s steps). The
	 * sockops program takes it off once the connection is established.
	 * An application that set its own keeps it. */
	if (sel->connect_timeout_cs && key->proto == IPPROTO_TCP) {
		int ms = 0;
		if (bpf_getsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) == 0 && ms == 0) {
			ms = (int)sel->connect_timeout_cs * 10;
			if (bpf_setsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) == 0)
				m->flags = HL_SOCK_USER_TIMEOUT;
		}
	}
}

/* A socket re-connected to a non-VIP must not keep answering with a VIP. */
HL_INLINE void hl_sock_forget(struct bpf_sock *sk)
{
	bpf_sk_storage_delete(&hl_sock_v1, sk);
}

#endif
