/* SPDX-License-Identifier: GPL-2.0 */
/* Per-socket memory of a redirect: what getpeername answers, what the
 * reverse translation of UDP replies and socket termination key on. */
#ifndef HL_BPF_SOCK_H
#define HL_BPF_SOCK_H

#include "common.h"
#include "maps.h"
#include "lb.h"

HL_INLINE void hl_sock_remember(struct bpf_sock *sk, const struct hl_service_key *key,
				const struct hl_selection *sel)
{
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!m)
		return;
	__builtin_memcpy(m->vip, key->addr, 16);
	m->vip_port = key->port;
	m->vip_family = hl_addr_is_v4mapped(key->addr) ? HL_FAMILY_V4 : HL_FAMILY_V6;
	m->service_id = sel->service_id;
	m->backend_id = sel->backend_id;
}

/* A socket re-connected to a non-VIP must not keep answering with a VIP. */
HL_INLINE void hl_sock_forget(struct bpf_sock *sk)
{
	bpf_sk_storage_delete(&hl_sock_v1, sk);
}

#endif
