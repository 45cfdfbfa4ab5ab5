/* SPDX-License-Identifier: GPL-2.0 */
/* `hopless trace`: events into hl_trace_v1, only while a tracer holds
 * hl_tracectl_v1. With nobody tracing an event point costs an inlined array
 * lookup, a load and a branch: no clock read, no ring buffer. */
#ifndef HL_BPF_TRACE_H
#define HL_BPF_TRACE_H

#include "common.h"
#include "maps.h"

/* A zeroed event of the service, or NULL when nobody traces it. The caller
 * fills it and hands it to hl_trace_submit(). */
HL_INLINE struct hl_trace_event *hl_trace_begin(__u32 service_id, __u8 type)
{
	__u32 k = 0;
	struct hl_trace_ctl *c = bpf_map_lookup_elem(&hl_tracectl_v1, &k);
	if (!c || !c->until_ns)
		return NULL;
	if (c->service_id && c->service_id != service_id)
		return NULL;
	__u64 now = bpf_ktime_get_ns();
	if (now >= c->until_ns) {
		/* The tracer stopped refreshing its deadline (killed): from now
		 * on an event costs no clock read. A live tracer keeps the
		 * deadline seconds ahead, so this never races with it. */
		c->until_ns = 0;
		return NULL;
	}
	struct hl_trace_event *e = bpf_ringbuf_reserve(&hl_trace_v1, sizeof(*e), 0);
	if (!e)
		return NULL; /* the tracer is behind: the event is lost, as perf's are */
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->service_id = service_id;
	e->type = type;
	return e;
}

HL_INLINE void hl_trace_submit(struct hl_trace_event *e)
{
	bpf_ringbuf_submit(e, 0);
}

/* The task that called connect()/sendmsg(): only meaningful in the socket
 * address hooks, which run in the caller's context. */
HL_INLINE void hl_trace_caller(struct hl_trace_event *e)
{
	e->pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

#endif
