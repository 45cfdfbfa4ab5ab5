/* SPDX-License-Identifier: GPL-2.0 */
/* Connection lifecycle from sockops: what became of every TCP connection
 * hopless redirected (established, failed and why, bytes, RTT, connect
 * duration) and of every connection accepted on a backend address:port
 * (the server side). A few callbacks per connection, none per packet:
 *
 *   TCP_CONNECT_CB       redirected socket (it has hl_sock_v1 storage):
 *                        arm STATE_CB, note the time
 *   TIMEOUT_INIT         connect_timeout below 1 s: a shorter first SYN RTO
 *   ACTIVE_ESTABLISHED   active +1, connect duration
 *   PASSIVE_ESTABLISHED  local address:port a backend's (hl_ep_v1)? inbound
 *   STATE_CB -> CLOSE    active -1, bytes, RTT; or a failure and its reason
 *
 * Sockets that hopless did not redirect or accept for a service never get
 * STATE_CB armed, so they cost the always-on callbacks only, each of which
 * returns after a load and a compare. */
#ifndef HL_BPF_LIFECYCLE_H
#define HL_BPF_LIFECYCLE_H

#include "common.h"
#include "maps.h"
#include "trace.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef SOL_TCP
#define SOL_TCP 6
#endif
#ifndef TCP_USER_TIMEOUT
#define TCP_USER_TIMEOUT 18
#endif
#ifndef EPIPE
#define EPIPE 32
#endif
#ifndef ECONNABORTED
#define ECONNABORTED 103
#endif
#ifndef ECONNRESET
#define ECONNRESET 104
#endif
#ifndef ETIMEDOUT
#define ETIMEDOUT 110
#endif

/* The kernel's HZ, for the SYN RTO that TIMEOUT_INIT returns in jiffies.
 * libbpf reads it from the kernel config; 0 when none is readable, and then
 * a connect_timeout below 1 s takes about 1 s (the first SYN's default RTO). */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* sk_err, read through BTF (CO-RE): the errno the kernel sets just before a
 * failing socket moves to CLOSE (tcp_done_with_error: ECONNREFUSED for a
 * RST to the SYN, ETIMEDOUT when the SYN retries or TCP_USER_TIMEOUT ran
 * out, ECONNRESET for a RST later, ECONNABORTED for bpf_sock_destroy), 0 for
 * an orderly close or one the application made. */
struct sock___hl {
	int sk_err;
} __attribute__((preserve_access_index));

HL_INLINE int hl_sock_err(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	return ((struct sock___hl *)tp)->sk_err;
}

/* 0: not a failure (an orderly close, the application's own abort, or
 * hopless ending the socket, which hl_svcst_v1 counts as destroyed). */
HL_INLINE __u8 hl_reason_of(int err)
{
	switch (err) {
	case 0:
	case ECONNABORTED:
		return 0;
	case ECONNREFUSED:
		return HL_REASON_REFUSED;
	case ETIMEDOUT:
		return HL_REASON_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return HL_REASON_RESET;
	default:
		return HL_REASON_OTHER;
	}
}

HL_INLINE __u32 hl_now_us(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000);
}

HL_INLINE void hl_hist_add(struct hl_hist *h, __u64 us)
{
	__u32 b = 0;
#pragma unroll
	for (int i = 0; i < HL_HIST_BUCKETS - 1; i++)
		if (us > HL_HIST_BOUND_US(i))
			b = i + 1;
	if (b >= HL_HIST_BUCKETS)
		b = HL_HIST_BUCKETS - 1;
	__sync_fetch_and_add(&h->bucket[b], 1);
	__sync_fetch_and_add(&h->sum_us, us);
}

HL_INLINE struct hl_sock_meta *hl_lc_meta(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return NULL;
	return bpf_sk_storage_get(&hl_sock_v1, sk, 0, 0);
}

HL_INLINE int hl_lc_armed(struct bpf_sock_ops *ctx)
{
	return ctx->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_STATE_CB_FLAG;
}

HL_INLINE void hl_lc_arm(struct bpf_sock_ops *ctx)
{
	bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* TCP_CONNECT_CB: right before the SYN is built (once per connect). The
 * STATE callback must be armed before the SYN leaves, or a refused or timed
 * out connect would never be seen. */
HL_INLINE void hl_lc_connect(struct bpf_sock_ops *ctx)
{
	struct hl_sock_meta *m = hl_lc_meta(ctx);
	if (!m)
		return; /* not redirected: nothing to follow */
	hl_lc_arm(ctx);
	m->flags &= ~(HL_SOCK_ESTABLISHED | HL_SOCK_CLOSED);
	m->connect_us = hl_now_us();
}

/* TIMEOUT_INIT: the first SYN's RTO, in jiffies (also asked again at each
 * SYN retransmission, for the kernel's model of the retry budget). Only a
 * connect_timeout under a second needs it: TCP_USER_TIMEOUT (set by the
 * connect hook) ends the connect at the deadline, but the kernel looks at it
 * only when a retransmission timer fires, the first after 1 s. */
HL_INLINE void hl_lc_timeout_init(struct bpf_sock_ops *ctx)
{
	if (!hl_lc_armed(ctx) || !CONFIG_HZ)
		return;
	struct hl_sock_meta *m = hl_lc_meta(ctx);
	if (!m || !(m->flags & HL_SOCK_USER_TIMEOUT))
		return;
	int ms = 0;
	if (bpf_getsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) || ms <= 0 || ms >= 1000)
		return;
	/* Three SYNs within the deadline: at 0, T/3 and 2T/3. */
	__u32 rto = (__u32)ms * CONFIG_HZ / 3000;
	ctx->reply = rto ? rto : 1;
}

HL_INLINE void hl_lc_established(struct bpf_sock_ops *ctx)
{
	if (!hl_lc_armed(ctx))
		return;
	struct hl_sock_meta *m = hl_lc_meta(ctx);
	if (!m || (m->flags & (HL_SOCK_ESTABLISHED | HL_SOCK_CLOSED)))
		return;
	m->flags |= HL_SOCK_ESTABLISHED;
	if (m->flags & HL_SOCK_USER_TIMEOUT) {
		/* connect_timeout bounds the connect only: an established
		 * connection keeps the kernel's retransmission budget. */
		int zero = 0;
		bpf_setsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &zero, sizeof(zero));
		m->flags &= ~HL_SOCK_USER_TIMEOUT;
	}
	__u32 us = hl_now_us() - m->connect_us;
	__u32 sid = m->service_id, bid = m->backend_id;

	struct hl_backend_live *live = bpf_map_lookup_elem(&hl_belive_v1, &bid);
	if (live) {
		__sync_fetch_and_add(&live->active, 1);
		if (live->consecutive_failures)
			live->consecutive_failures = 0;
	}
	struct hl_service_gauge *g = bpf_map_lookup_elem(&hl_svcgauge_v1, &sid);
	if (g)
		__sync_fetch_and_add(&g->active, 1);
	struct hl_service_lc *lc = bpf_map_lookup_elem(&hl_svclc_v1, &sid);
	if (lc)
		__sync_fetch_and_add(&lc->established, 1);
	struct hl_service_hist *h = bpf_map_lookup_elem(&hl_svchist_v1, &sid);
	if (h)
		hl_hist_add(&h->connect, us);

	struct hl_trace_event *e = hl_trace_begin(sid, HL_TRACE_ESTABLISHED);
	if (e) {
		e->backend_id = bid;
		e->connect_us = us;
		e->proto = IPPROTO_TCP;
		hl_trace_submit(e);
	}
}

/* One failed connect of a redirected socket, for outlier detection. */
HL_INLINE void hl_lc_emit_failure(__u32 sid, __u32 bid, __u32 failures, __u8 reason, struct hl_service_lc *lc)
{
	struct hl_connect_failure *f = bpf_ringbuf_reserve(&hl_events_v1, sizeof(*f), 0);
	if (!f) {
		if (lc)
			__sync_fetch_and_add(&lc->events_lost, 1);
		return;
	}
	f->ts_ns = bpf_ktime_get_ns();
	f->service_id = sid;
	f->backend_id = bid;
	f->consecutive_failures = failures;
	f->reason = reason;
	f->pad[0] = f->pad[1] = f->pad[2] = 0;
	bpf_ringbuf_submit(f, 0);
}

/* bytes_acked and bytes_received count sequence space, in which a SYN and a
 * FIN take one each; what the application sent and received is the rest.
 * Which of them were counted follows from the state the socket leaves for
 * CLOSE (old) and whether it failed (err):
 *  - our SYN: in bytes_acked of an active open (acked by the SYN-ACK); a
 *    passive socket is born with its SYN-ACK acked, outside the count;
 *  - our FIN: acked in FIN_WAIT2, and in CLOSING or LAST_ACK when the close
 *    is orderly (the ACK of our FIN is what ends those states);
 *  - the peer's FIN: received in CLOSE_WAIT, LAST_ACK and CLOSING, and in
 *    FIN_WAIT2 when orderly (its FIN moved it to TIME_WAIT). A FIN_WAIT2
 *    that ends by tcp_fin_timeout without the peer's FIN is counted one
 *    byte short: the socket holds no trace of which it was. */
HL_INLINE __u64 hl_payload(__u64 seq_bytes, __u64 ctl)
{
	return seq_bytes > ctl ? seq_bytes - ctl : 0;
}

HL_INLINE __u64 hl_payload_sent(struct bpf_sock_ops *ctx, __u32 old, int err, int active_open)
{
	__u64 ctl = active_open ? 1 : 0;
	if (old == BPF_TCP_FIN_WAIT2 || (!err && (old == BPF_TCP_CLOSING || old == BPF_TCP_LAST_ACK)))
		ctl++;
	return hl_payload(ctx->bytes_acked, ctl);
}

HL_INLINE __u64 hl_payload_received(struct bpf_sock_ops *ctx, __u32 old, int err)
{
	__u64 ctl = 0;
	if (old == BPF_TCP_CLOSE_WAIT || old == BPF_TCP_LAST_ACK || old == BPF_TCP_CLOSING ||
	    (!err && old == BPF_TCP_FIN_WAIT2))
		ctl = 1;
	return hl_payload(ctx->bytes_received, ctl);
}

HL_INLINE void hl_lc_close_redirected(struct bpf_sock_ops *ctx, struct hl_sock_meta *m, __u32 old)
{
	if (m->flags & HL_SOCK_CLOSED)
		return;
	m->flags |= HL_SOCK_CLOSED;
	__u32 sid = m->service_id, bid = m->backend_id;
	int err = hl_sock_err(ctx);
	__u8 reason = hl_reason_of(err);
	struct hl_service_lc *lc = bpf_map_lookup_elem(&hl_svclc_v1, &sid);
	struct hl_backend_lc *blc = bpf_map_lookup_elem(&hl_belc_v1, &bid);
	struct hl_backend_live *live = bpf_map_lookup_elem(&hl_belive_v1, &bid);
	struct hl_trace_event *e;

	if (!(m->flags & HL_SOCK_ESTABLISHED)) {
		/* Never established: a failed connect, unless the application
		 * gave up on it itself (closed it in SYN_SENT: no error). */
		if (!reason)
			return;
		__u32 failures = 0;
		if (lc)
			__sync_fetch_and_add(&lc->errors[(reason - 1) & 3], 1);
		if (blc)
			__sync_fetch_and_add(&blc->errors[(reason - 1) & 3], 1);
		if (live) {
			__sync_fetch_and_add(&live->consecutive_failures, 1);
			failures = live->consecutive_failures;
		}
		hl_lc_emit_failure(sid, bid, failures, reason, lc);
		e = hl_trace_begin(sid, HL_TRACE_FAILED);
		if (e) {
			e->backend_id = bid;
			e->reason = reason;
			e->proto = IPPROTO_TCP;
			hl_trace_submit(e);
		}
		return;
	}

	m->flags &= ~HL_SOCK_ESTABLISHED;
	__u64 sent = hl_payload_sent(ctx, old, err, 1);
	__u64 received = hl_payload_received(ctx, old, err);
	__u32 rtt_us = ctx->srtt_us >> 3; /* the kernel keeps srtt times 8 */
	if (live)
		__sync_fetch_and_add(&live->active, -1);
	struct hl_service_gauge *g = bpf_map_lookup_elem(&hl_svcgauge_v1, &sid);
	if (g)
		__sync_fetch_and_add(&g->active, -1);
	if (lc) {
		__sync_fetch_and_add(&lc->bytes_sent, sent);
		__sync_fetch_and_add(&lc->bytes_received, received);
		if (reason)
			__sync_fetch_and_add(&lc->errors[(reason - 1) & 3], 1);
	}
	if (blc) {
		__sync_fetch_and_add(&blc->bytes_sent, sent);
		__sync_fetch_and_add(&blc->bytes_received, received);
		if (reason)
			__sync_fetch_and_add(&blc->errors[(reason - 1) & 3], 1);
	}
	struct hl_service_hist *h = bpf_map_lookup_elem(&hl_svchist_v1, &sid);
	if (h)
		hl_hist_add(&h->rtt, rtt_us);
	e = hl_trace_begin(sid, err == ECONNABORTED ? HL_TRACE_DESTROYED : reason ? HL_TRACE_FAILED : HL_TRACE_CLOSED);
	if (e) {
		e->backend_id = bid;
		e->reason = reason;
		e->proto = IPPROTO_TCP;
		e->bytes_sent = sent;
		e->bytes_received = received;
		e->rtt_us = rtt_us;
		hl_trace_submit(e);
	}
}

HL_INLINE void hl_lc_peer(struct bpf_sock_ops *ctx, struct hl_trace_event *e)
{
	if (ctx->family == AF_INET) {
		hl_addr_from_v4(e->addr, ctx->remote_ip4);
	} else {
		__u32 *w = (__u32 *)e->addr;
		w[0] = ctx->remote_ip6[0];
		w[1] = ctx->remote_ip6[1];
		w[2] = ctx->remote_ip6[2];
		w[3] = ctx->remote_ip6[3];
	}
	/* remote_port holds the network-order port in its upper 16 bits. */
	e->port = (__u16)(ctx->remote_port >> 16);
}

/* PASSIVE_ESTABLISHED: a task of an attached cgroup accepted a connection;
 * on a backend address:port of a service, it is that service's inbound. */
HL_INLINE void hl_lc_inbound(struct bpf_sock_ops *ctx)
{
	struct hl_endpoint_key k = {};
	if (ctx->family == AF_INET) {
		hl_addr_from_v4(k.addr, ctx->local_ip4);
	} else if (ctx->family == AF_INET6) {
		__u32 *w = (__u32 *)k.addr;
		w[0] = ctx->local_ip6[0];
		w[1] = ctx->local_ip6[1];
		w[2] = ctx->local_ip6[2];
		w[3] = ctx->local_ip6[3];
	} else {
		return;
	}
	k.port = bpf_htons((__u16)ctx->local_port); /* local_port is in host order */
	__u32 *svc = bpf_map_lookup_elem(&hl_ep_v1, &k);
	if (!svc)
		return;
	__u32 sid = *svc;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return;
	struct hl_inbound_sock *in = bpf_sk_storage_get(&hl_insock_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!in || in->service_id)
		return; /* no memory, or counted already (this program ran twice) */
	in->service_id = sid;
	hl_lc_arm(ctx);
	struct hl_service_lc *lc = bpf_map_lookup_elem(&hl_svclc_v1, &sid);
	if (lc)
		__sync_fetch_and_add(&lc->inbound, 1);
	struct hl_service_gauge *g = bpf_map_lookup_elem(&hl_svcgauge_v1, &sid);
	if (g)
		__sync_fetch_and_add(&g->inbound_active, 1);
	struct hl_trace_event *e = hl_trace_begin(sid, HL_TRACE_INBOUND);
	if (e) {
		hl_lc_peer(ctx, e);
		e->proto = IPPROTO_TCP;
		hl_trace_submit(e);
	}
}

HL_INLINE void hl_lc_close_inbound(struct bpf_sock_ops *ctx, __u32 old)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return;
	struct hl_inbound_sock *in = bpf_sk_storage_get(&hl_insock_v1, sk, 0, 0);
	if (!in)
		return;
	__u32 sid = in->service_id;
	bpf_sk_storage_delete(&hl_insock_v1, sk); /* counted once, even when this program runs twice */
	int err = hl_sock_err(ctx);
	__u64 sent = hl_payload_sent(ctx, old, err, 0);
	__u64 received = hl_payload_received(ctx, old, err);
	struct hl_service_gauge *g = bpf_map_lookup_elem(&hl_svcgauge_v1, &sid);
	if (g)
		__sync_fetch_and_add(&g->inbound_active, -1);
	struct hl_service_lc *lc = bpf_map_lookup_elem(&hl_svclc_v1, &sid);
	if (lc) {
		__sync_fetch_and_add(&lc->inbound_bytes_sent, sent);
		__sync_fetch_and_add(&lc->inbound_bytes_received, received);
	}
	struct hl_trace_event *e = hl_trace_begin(sid, HL_TRACE_INBOUND_CLOSED);
	if (e) {
		hl_lc_peer(ctx, e);
		e->proto = IPPROTO_TCP;
		e->bytes_sent = sent;
		e->bytes_received = received;
		e->rtt_us = ctx->srtt_us >> 3;
		e->reason = hl_reason_of(err);
		hl_trace_submit(e);
	}
}

/* STATE_CB into CLOSE from `old`: the end of a followed socket, whichever
 * it is. */
HL_INLINE void hl_lc_close(struct bpf_sock_ops *ctx, __u32 old)
{
	struct hl_sock_meta *m = hl_lc_meta(ctx);
	if (m)
		hl_lc_close_redirected(ctx, m, old);
	else
		hl_lc_close_inbound(ctx, old);
}

#endif
