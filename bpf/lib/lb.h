/* SPDX-License-Identifier: GPL-2.0 */
/* Service lookup and backend selection. Returns 0 with *out filled, -ENOENT
 * when the destination is not a VIP of the caller's namespace (fail open:
 * the connect proceeds untouched), -ECONNREFUSED when the service has no
 * usable backend (the one deliberate reject). */
#ifndef HL_BPF_LB_H
#define HL_BPF_LB_H

#include "common.h"
#include "maps.h"
#include "stats.h"

struct hl_selection {
	struct hl_backend be;
	__u32 service_id;
	__u32 backend_id;
	__u16 connect_timeout_cs; /* the service's, for the connect hook */
};

HL_INLINE int hl_backend_usable(const struct hl_backend *be, __u32 service_id, int v4_only)
{
	if (be->service_id != service_id || be->state != HL_BACKEND_ACTIVE)
		return 0;
	if (v4_only && be->family != HL_FAMILY_V4)
		return 0;
	return 1;
}

/* Affinity: the client keeps its backend while it is fresh and still usable. */
HL_INLINE int hl_affinity_get(const struct hl_affinity_key *ak, const struct hl_service *svc,
			      int v4_only, struct hl_selection *out)
{
	struct hl_affinity *a = bpf_map_lookup_elem(&hl_aff_v1, ak);
	if (!a)
		return -ENOENT;
	__u64 now = bpf_ktime_get_ns();
	if (now - a->last_used_ns > (__u64)svc->affinity_timeout_s * 1000000000ull)
		return -ENOENT;
	__u32 bid = a->backend_id;
	struct hl_backend *be = bpf_map_lookup_elem(&hl_be_v1, &bid);
	if (!be || !hl_backend_usable(be, svc->id, v4_only))
		return -ENOENT; /* the backend left the set: pick anew */
	a->last_used_ns = now;
	out->be = *be;
	out->backend_id = bid;
	return 0;
}

HL_INLINE void hl_affinity_put(const struct hl_affinity_key *ak, __u32 backend_id)
{
	struct hl_affinity a = { .last_used_ns = bpf_ktime_get_ns(), .backend_id = backend_id };
	bpf_map_update_elem(&hl_aff_v1, ak, &a, BPF_ANY);
}

/* The backend id in slot `slot` of the table in force, or -EAGAIN when the
 * table vanished under us. */
HL_INLINE int hl_slot_backend(const struct hl_service *svc, __u32 slot, __u32 *bid)
{
	struct hl_slot_key sk = {
		.service_id = svc->id,
		.generation = svc->generation,
		.slot = slot,
	};
	__u32 *b = bpf_map_lookup_elem(&hl_slot_v1, &sk);
	if (!b)
		return -EAGAIN;
	*bid = *b;
	return 0;
}

HL_INLINE __s64 hl_backend_active(__u32 bid)
{
	struct hl_backend_live *live = bpf_map_lookup_elem(&hl_belive_v1, &bid);
	return live ? live->active : 0;
}

/* least_connections: the power of two choices. Of a random slot and a
 * second one naming another backend (a slot table repeats a backend as
 * often as its weight says), the backend with fewer active connections,
 * from the counts the sockops program keeps. Two random choices instead of
 * the global minimum: no scan, and no herd of connects on the one backend
 * that was least loaded a moment ago. 1: picked; 0: fall back to the
 * family probe (a candidate was unusable). */
HL_INLINE int hl_pick_least_conn(const struct hl_service *svc, int v4_only, __u32 start,
				 struct hl_selection *out)
{
	__u32 count = svc->slot_count;
	__u32 a, b = 0;
	if (hl_slot_backend(svc, start, &a))
		return -EAGAIN;
	struct hl_backend *ba = bpf_map_lookup_elem(&hl_be_v1, &a);
	if (!ba)
		return -EAGAIN;
	if (!hl_backend_usable(ba, svc->id, v4_only))
		return 0;
	struct hl_backend *bb = NULL;
	__u32 second = bpf_get_prandom_u32() % (count - 1);
	for (int i = 0; i < HL_FAMILY_PROBES; i++) {
		if ((__u32)i >= count - 1)
			break;
		/* count - 1 other slots, starting at a random one of them */
		__u32 slot = (start + 1 + (second + i) % (count - 1)) % count;
		if (hl_slot_backend(svc, slot, &b))
			return -EAGAIN;
		if (b == a)
			continue;
		bb = bpf_map_lookup_elem(&hl_be_v1, &b);
		if (!bb)
			return -EAGAIN;
		if (hl_backend_usable(bb, svc->id, v4_only))
			break;
		bb = NULL;
	}
	if (bb && hl_backend_active(b) < hl_backend_active(a)) {
		out->be = *bb;
		out->backend_id = b;
	} else {
		out->be = *ba;
		out->backend_id = a;
	}
	return 1;
}

/* One pass over the table of the generation in *svc. -EAGAIN means the table
 * vanished under us (the reconciler published a new generation and removed
 * the old one): the caller re-reads the service and tries once more. */
HL_INLINE int hl_pick_slot(const struct hl_service *svc, int v4_only, struct hl_selection *out)
{
	__u32 count = svc->slot_count;
	__u32 start;

	if (count == 0)
		return -ECONNREFUSED;
	if (count == 1) {
		start = 0; /* no choice to make: no counter shared by every CPU to bump */
	} else if (svc->algorithm == HL_ALGO_ROUND_ROBIN) {
		__u32 id = svc->id;
		struct hl_rr *rr = bpf_map_lookup_elem(&hl_rr_v1, &id);
		if (!rr)
			return -ECONNREFUSED;
		start = (__u32)(__sync_fetch_and_add(&rr->next, 1) % count);
	} else {
		start = bpf_get_prandom_u32() % count;
	}
	if (svc->algorithm == HL_ALGO_LEAST_CONN && count > 1) {
		int r = hl_pick_least_conn(svc, v4_only, start, out);
		if (r)
			return r < 0 ? r : 0;
	}

	for (int i = 0; i < HL_FAMILY_PROBES; i++) {
		if ((__u32)i >= count)
			break;
		struct hl_slot_key sk = {
			.service_id = svc->id,
			.generation = svc->generation,
			.slot = (start + i) % count,
		};
		__u32 *bid = bpf_map_lookup_elem(&hl_slot_v1, &sk);
		if (!bid)
			return -EAGAIN;
		__u32 b = *bid;
		struct hl_backend *be = bpf_map_lookup_elem(&hl_be_v1, &b);
		if (!be)
			return -EAGAIN;
		if (!hl_backend_usable(be, svc->id, v4_only))
			continue; /* e.g. a v6 backend for a v4 socket */
		out->be = *be;
		out->backend_id = b;
		return 0;
	}
	return -ECONNREFUSED;
}

/* ctx: the hook's, for the client's network namespace (affinity only). */
HL_INLINE int hl_select(const struct hl_service_key *key, int v4_only, struct bpf_sock_addr *ctx,
			struct hl_selection *out)
{
	int err = -ECONNREFUSED;

	for (int attempt = 0; attempt < 3; attempt++) {
		struct hl_service *p = bpf_map_lookup_elem(&hl_svc_v1, key);
		if (!p)
			return attempt ? -ECONNREFUSED : -ENOENT;
		/* Copy: the entry may be replaced while we work; we stay on one
		 * consistent {generation, slot_count}. */
		struct hl_service svc = *p;
		out->service_id = svc.id;
		out->connect_timeout_cs = svc.connect_timeout_cs;

		struct hl_affinity_key ak = {};
		if (svc.affinity_timeout_s) {
			ak.netns_cookie = bpf_get_netns_cookie(ctx);
			ak.cgroup_id = bpf_get_current_cgroup_id();
			ak.service_id = svc.id;
			if (hl_affinity_get(&ak, &svc, v4_only, out) == 0) {
				HL_SVC_COUNT(svc.id, affinity_hits);
				return 0;
			}
		}
		err = hl_pick_slot(&svc, v4_only, out);
		if (err == -EAGAIN)
			continue;
		if (err == 0 && svc.affinity_timeout_s)
			hl_affinity_put(&ak, out->backend_id);
		return err;
	}
	/* Three tables replaced under one connect: refuse rather than guess. */
	return -ECONNREFUSED;
}

#endif
