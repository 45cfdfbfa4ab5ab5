/* SPDX-License-Identifier: GPL-2.0 */
/* Which namespace the calling task belongs to (invariant 7). */
#ifndef HL_BPF_NS_H
#define HL_BPF_NS_H

#include "common.h"
#include "maps.h"

/* The task's own cgroup first (the common case: a task directly in the
 * attached cgroup), then its ancestors from the deepest up, so a cgroup nested
 * below an attached one belongs to the nearest attached ancestor's namespace. */
HL_INLINE int hl_current_ns(__u32 *ns_id)
{
	__u64 id = bpf_get_current_cgroup_id();
	struct hl_cgroup_ns *v = bpf_map_lookup_elem(&hl_cgns_v1, &id);
	if (v) {
		*ns_id = v->ns_id;
		return 0;
	}
	for (int level = HL_MAX_CGROUP_DEPTH - 1; level >= 0; level--) {
		__u64 anc = bpf_get_current_ancestor_cgroup_id(level);
		if (!anc)
			continue; /* deeper than the task itself */
		v = bpf_map_lookup_elem(&hl_cgns_v1, &anc);
		if (v) {
			*ns_id = v->ns_id;
			return 0;
		}
	}
	return -ENOENT;
}

#endif
