/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HL_BPF_STATS_H
#define HL_BPF_STATS_H

#include "common.h"
#include "maps.h"

/* Per-CPU slots, but a task can be preempted on its CPU by another that
 * counts the same service: atomic adds keep "exactly N connects" exact. */
#define HL_SVC_COUNT(id, field)                                            \
	do {                                                                   \
		__u32 __k = (id);                                                  \
		struct hl_service_stats *__s = bpf_map_lookup_elem(&hl_svcst_v1, &__k); \
		if (__s)                                                           \
			__sync_fetch_and_add(&__s->field, 1);                          \
	} while (0)

#define HL_BE_COUNT(id, field)                                             \
	do {                                                                   \
		__u32 __k = (id);                                                  \
		struct hl_backend_stats *__s = bpf_map_lookup_elem(&hl_best_v1, &__k); \
		if (__s)                                                           \
			__sync_fetch_and_add(&__s->field, 1);                          \
	} while (0)

#endif
