// SPDX-License-Identifier: GPL-2.0
/* hopless datapath: cgroup socket hooks that rewrite a connect()/sendmsg()
 * aimed at a service VIP to one of the service's backends before the first
 * packet exists. The logic lives in lib/; this file holds the entry points,
 * one per attach point, and turns helper errors into the hook's verdict. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/ns.h"
#include "lib/stats.h"
#include "lib/lb.h"
#include "lib/kern.h"
#include "lib/sock.h"
#include "lib/trace.h"
#include "lib/lifecycle.h"

char LICENSE[] SEC("license") = "GPL";

HL_INLINE void hl_trace_connect(struct bpf_sock_addr *ctx, __u8 type, const struct hl_service_key *key,
				 const struct hl_selection *sel)
{
	struct hl_trace_event *e = hl_trace_begin(sel->service_id, type);
	if (!e)
		return;
	hl_trace_caller(e);
	e->proto = key->proto;
	__builtin_memcpy(e->addr, key->addr, 16);
	e->port = key->port;
	if (type == HL_TRACE_REDIRECT) {
		e->backend_id = sel->backend_id;
		__builtin_memcpy(e->backend, sel->be.addr, 16);
		e->backend_port = sel->be.port;
	}
	hl_trace_submit(e);
}

/* Turns the selection result into the hook's verdict and counts it. */
HL_INLINE int hl_verdict(struct bpf_sock_addr *ctx, int err, const struct hl_service_key *key,
			 const struct hl_selection *sel)
{
	__u32 service_id = sel->service_id;
	if (err == -ECONNREFUSED) {
		HL_SVC_COUNT(service_id, no_backend);
		hl_trace_connect(ctx, HL_TRACE_NO_BACKEND, key, sel);
		/* kernel >= 5.18: the application sees ECONNREFUSED, not EPERM */
		bpf_set_retval(-ECONNREFUSED);
		return HL_VERDICT_REJECT;
	}
	return HL_VERDICT_PASS;
}

HL_INLINE void hl_key_v4(struct hl_service_key *key, struct bpf_sock_addr *ctx, __u32 ns)
{
	hl_addr_from_v4(key->addr, ctx->user_ip4);
	key->port = (__u16)ctx->user_port;
	key->proto = (__u8)ctx->protocol;
	key->ns_id = ns;
}

HL_INLINE void hl_key_v6(struct hl_service_key *key, struct bpf_sock_addr *ctx, __u32 ns)
{
	__u32 *w = (__u32 *)key->addr;
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	key->port = (__u16)ctx->user_port;
	key->proto = (__u8)ctx->protocol;
	key->ns_id = ns;
}

HL_INLINE void hl_write_v6(struct bpf_sock_addr *ctx, const struct hl_backend *be)
{
	const __u32 *w = (const __u32 *)be->addr;
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = be->port;
}

HL_INLINE void hl_count_redirect(struct bpf_sock_addr *ctx, const struct hl_service_key *key,
				  const struct hl_selection *sel)
{
	HL_SVC_COUNT(sel->service_id, connections);
	HL_BE_COUNT(sel->backend_id, connections);
	hl_trace_connect(ctx, HL_TRACE_REDIRECT, key, sel);
}

/* ---- connect: TCP and connected UDP ---------------------------------- */

SEC("cgroup/connect4")
int hl_connect4(struct bpf_sock_addr *ctx)
{
	struct hl_service_key key = {};
	struct hl_selection sel = {};
	__u32 ns;

	if (hl_current_ns(&ns))
		return HL_VERDICT_PASS;
	hl_key_v4(&key, ctx, ns);
	int err = hl_select(&key, 1, ctx, &sel);
	if (err == -ENOENT) {
		hl_sock_forget(ctx, &key);
		return HL_VERDICT_PASS;
	}
	if (err)
		return hl_verdict(ctx, err, &key, &sel);
	ctx->user_ip4 = hl_addr_v4(sel.be.addr);
	ctx->user_port = sel.be.port;
	hl_sock_remember(ctx, &key, &sel);
	hl_count_redirect(ctx, &key, &sel);
	return HL_VERDICT_PASS;
}

SEC("cgroup/connect6")
int hl_connect6(struct bpf_sock_addr *ctx)
{
	struct hl_service_key key = {};
	struct hl_selection sel = {};
	__u32 ns;

	if (hl_current_ns(&ns))
		return HL_VERDICT_PASS;
	/* A v4-mapped destination (::ffff:127.255.0.1 on a dual-stack socket)
	 * is already in the key's form, so it finds the v4 VIP. */
	hl_key_v6(&key, ctx, ns);
	int err = hl_select(&key, 0, ctx, &sel);
	if (err == -ENOENT) {
		hl_sock_forget(ctx, &key);
		return HL_VERDICT_PASS;
	}
	if (err)
		return hl_verdict(ctx, err, &key, &sel);
	hl_write_v6(ctx, &sel.be); /* a v4 backend is written v4-mapped */
	hl_sock_remember(ctx, &key, &sel);
	hl_count_redirect(ctx, &key, &sel);
	return HL_VERDICT_PASS;
}

/* ---- getpeername: the application sees the VIP it dialed --------------- */

SEC("cgroup/getpeername4")
int hl_getpeername4(struct bpf_sock_addr *ctx)
{
	struct hl_endpoint_key peer = { .port = (__u16)ctx->user_port };
	__u8 vip[16], family;
	__u16 vip_port;

	hl_addr_from_v4(peer.addr, ctx->user_ip4);
	if (hl_sock_vip(ctx, &peer, vip, &vip_port, &family) == 0 && family == HL_FAMILY_V4) {
		ctx->user_ip4 = hl_addr_v4(vip);
		ctx->user_port = vip_port;
	}
	return HL_VERDICT_PASS;
}

SEC("cgroup/getpeername6")
int hl_getpeername6(struct bpf_sock_addr *ctx)
{
	struct hl_endpoint_key peer = { .port = (__u16)ctx->user_port };
	__u32 *w = (__u32 *)peer.addr;
	__u8 vip[16], family;
	__u16 vip_port;

	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (hl_sock_vip(ctx, &peer, vip, &vip_port, &family) == 0) {
		const __u32 *v = (const __u32 *)vip;
		ctx->user_ip6[0] = v[0];
		ctx->user_ip6[1] = v[1];
		ctx->user_ip6[2] = v[2];
		ctx->user_ip6[3] = v[3];
		ctx->user_port = vip_port;
	}
	return HL_VERDICT_PASS;
}

/* ---- unconnected UDP: sendmsg forward, recvmsg reverse ------------------ */

/* Remembers, per socket and backend, which VIP the application sent to, so
 * the reply can be shown as coming from that VIP. */
HL_INLINE void hl_revnat_put(void *ctx, const struct hl_service_key *key, const struct hl_selection *sel)
{
	struct hl_revnat_key rk = { .cookie = bpf_get_socket_cookie(ctx), .port = sel->be.port };
	struct hl_revnat rv = { .vip_port = key->port, .service_id = sel->service_id,
				.backend_id = sel->backend_id };

	__builtin_memcpy(rk.addr, sel->be.addr, 16);
	__builtin_memcpy(rv.vip, key->addr, 16);
	bpf_map_update_elem(&hl_revnat_v1, &rk, &rv, BPF_ANY);
}

/* Finds the VIP a reply from addr:port should appear to come from. An entry
 * whose backend has left its service (removed, or the id now names another
 * endpoint) is stale: it is deleted, counted and the reply left untouched. */
HL_INLINE int hl_revnat_get(struct bpf_sock_addr *ctx, const __u8 *addr, __u16 port, __u8 *vip, __u16 *vip_port)
{
	struct hl_revnat_key rk = { .cookie = bpf_get_socket_cookie(ctx), .port = port };
	__builtin_memcpy(rk.addr, addr, 16);

	struct hl_revnat *rv = bpf_map_lookup_elem(&hl_revnat_v1, &rk);
	if (rv) {
		__u32 bid = rv->backend_id;
		__u32 sid = rv->service_id;
		struct hl_backend *be = bpf_map_lookup_elem(&hl_be_v1, &bid);
		if (!be || be->service_id != sid || be->port != port ||
		    !hl_addr_eq(be->addr, addr)) {
			bpf_map_delete_elem(&hl_revnat_v1, &rk);
			HL_SVC_COUNT(sid, revnat_stale);
			return -ENOENT;
		}
		__builtin_memcpy(vip, rv->vip, 16);
		*vip_port = rv->vip_port;
		return 0;
	}
	/* Connected UDP read with recvfrom(): the socket remembers its VIP. */
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, ctx->sk, 0, 0);
	if (!m || !m->service_id)
		return -ENOENT;
	__u32 bid = m->backend_id;
	struct hl_backend *be = bpf_map_lookup_elem(&hl_be_v1, &bid);
	if (!be || be->port != port || !hl_addr_eq(be->addr, addr))
		return -ENOENT;
	__builtin_memcpy(vip, m->vip, 16);
	*vip_port = m->vip_port;
	return 0;
}

HL_INLINE int hl_sendmsg(struct bpf_sock_addr *ctx, int v4)
{
	struct hl_service_key key = {};
	struct hl_selection sel = {};
	__u32 ns;

	if (hl_current_ns(&ns))
		return HL_VERDICT_PASS;
	if (v4)
		hl_key_v4(&key, ctx, ns);
	else
		hl_key_v6(&key, ctx, ns);
	int err = hl_select(&key, v4, ctx, &sel);
	if (err == -ENOENT)
		return HL_VERDICT_PASS;
	if (err)
		return hl_verdict(ctx, err, &key, &sel);
	if (v4) {
		ctx->user_ip4 = hl_addr_v4(sel.be.addr);
		ctx->user_port = sel.be.port;
	} else {
		hl_write_v6(ctx, &sel.be);
	}
	hl_revnat_put(ctx, &key, &sel);
	hl_count_redirect(ctx, &key, &sel);
	HL_SVC_COUNT(sel.service_id, udp_translations);
	return HL_VERDICT_PASS;
}

SEC("cgroup/sendmsg4")
int hl_sendmsg4(struct bpf_sock_addr *ctx)
{
	return hl_sendmsg(ctx, 1);
}

SEC("cgroup/sendmsg6")
int hl_sendmsg6(struct bpf_sock_addr *ctx)
{
	return hl_sendmsg(ctx, 0);
}

SEC("cgroup/recvmsg4")
int hl_recvmsg4(struct bpf_sock_addr *ctx)
{
	__u8 addr[16], vip[16];
	__u16 vip_port;

	hl_addr_from_v4(addr, ctx->user_ip4);
	if (hl_revnat_get(ctx, addr, (__u16)ctx->user_port, vip, &vip_port) == 0 && hl_addr_is_v4mapped(vip)) {
		ctx->user_ip4 = hl_addr_v4(vip);
		ctx->user_port = vip_port;
	}
	return 1; /* recvmsg hooks cannot reject */
}

SEC("cgroup/recvmsg6")
int hl_recvmsg6(struct bpf_sock_addr *ctx)
{
	__u8 addr[16], vip[16];
	__u16 vip_port;
	__u32 *w = (__u32 *)addr;

	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (hl_revnat_get(ctx, addr, (__u16)ctx->user_port, vip, &vip_port) == 0) {
		const __u32 *v = (const __u32 *)vip;
		ctx->user_ip6[0] = v[0];
		ctx->user_ip6[1] = v[1];
		ctx->user_ip6[2] = v[2];
		ctx->user_ip6[3] = v[3];
		ctx->user_port = vip_port;
	}
	return 1;
}

/* ---- bind guard: no task may take over a service address ---------------- */

/* bind4/6 run before the kernel binds, so a rejected bind changes nothing;
 * (post_bind would have to undo a bind that already happened). */
HL_INLINE int hl_bind(struct bpf_sock_addr *ctx, int v4)
{
	struct hl_service_key key = {};
	__u32 ns;

	if (hl_current_ns(&ns))
		return HL_VERDICT_PASS;
	if (v4)
		hl_key_v4(&key, ctx, ns);
	else
		hl_key_v6(&key, ctx, ns);
	struct hl_service *svc = bpf_map_lookup_elem(&hl_svc_v1, &key);
	if (!svc)
		return HL_VERDICT_PASS;
	HL_SVC_COUNT(svc->id, bind_rejects);
	bpf_set_retval(-EADDRINUSE);
	return HL_VERDICT_REJECT;
}

SEC("cgroup/bind4")
int hl_bind4(struct bpf_sock_addr *ctx)
{
	return hl_bind(ctx, 1);
}

SEC("cgroup/bind6")
int hl_bind6(struct bpf_sock_addr *ctx)
{
	return hl_bind(ctx, 0);
}

/* ---- sockops: the lifecycle of redirected and inbound connections ------ */

SEC("sockops")
int hl_sockops(struct bpf_sock_ops *ctx)
{
	switch (ctx->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		hl_lc_connect(ctx);
		break;
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		hl_lc_timeout_init(ctx);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		hl_lc_established(ctx);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		hl_lc_inbound(ctx);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ctx->args[1] == BPF_TCP_CLOSE)
			hl_lc_close(ctx, ctx->args[0]);
		break;
	case BPF_SOCK_OPS_RTO_CB:
		hl_lc_rto(ctx);
		break;
	}
	return 1; /* sockops programs never veto */
}

/* ---- the daemon's health verdicts into the trace ring ------------------
 * Run by hoplessd with BPF_PROG_TEST_RUN, the event as the context, when it
 * ejects or restores a backend: the same lease check as the datapath's
 * events (nothing is written unless someone traces the service), the
 * kernel's clock, the same ring, so a tracer sees them in order. Returns 1
 * when the event was written. Never attached. */
SEC("syscall")
int hl_trace_health(struct hl_trace_event *ev)
{
	__u8 type = ev->type;
	if (type != HL_TRACE_EJECTED && type != HL_TRACE_RESTORED)
		return 0;
	struct hl_trace_event *e = hl_trace_begin(ev->service_id, type);
	if (!e)
		return 0;
	e->backend_id = ev->backend_id;
	e->backend_port = ev->backend_port;
	__builtin_memcpy(e->backend, ev->backend, sizeof(e->backend));
	e->reason = ev->reason;
	e->ejection_ms = ev->ejection_ms;
	hl_trace_submit(e);
	return 1;
}

/* The C++ side checks the same figures (userspace/bpf/abi_check.cpp). */
_Static_assert(sizeof(struct hl_service_key) == 24, "hl_service_key layout");
_Static_assert(sizeof(struct hl_service) == 24, "hl_service layout");
_Static_assert(sizeof(struct hl_backend) == 28, "hl_backend layout");
_Static_assert(sizeof(struct hl_sock_meta) == 32, "hl_sock_meta layout");
_Static_assert(sizeof(struct hl_service_stats) == 64, "hl_service_stats layout");
_Static_assert(sizeof(struct hl_service_lc) == 96, "hl_service_lc layout");
_Static_assert(sizeof(struct hl_service_gauge) == 16, "hl_service_gauge layout");
_Static_assert(sizeof(struct hl_service_hist) == 208, "hl_service_hist layout");
_Static_assert(sizeof(struct hl_backend_live) == 16, "hl_backend_live layout");
_Static_assert(sizeof(struct hl_backend_lc) == 48, "hl_backend_lc layout");
_Static_assert(sizeof(struct hl_endpoint_key) == 20, "hl_endpoint_key layout");
_Static_assert(sizeof(struct hl_peer) == 32, "hl_peer layout");
_Static_assert(sizeof(struct hl_connect_failure) == 24, "hl_connect_failure layout");
_Static_assert(sizeof(struct hl_trace_ctl) == 16, "hl_trace_ctl layout");
_Static_assert(sizeof(struct hl_trace_event) == 112, "hl_trace_event layout");
_Static_assert(__builtin_offsetof(struct hl_trace_event, ejection_ms) == 44, "hl_trace_event.ejection_ms");
_Static_assert(__builtin_offsetof(struct hl_trace_event, backend) == 72, "hl_trace_event.backend");
