/* SPDX-License-Identifier: GPL-2.0 */
/* Connection lifecycle from sockops: what became of every TCP connection
 * hopless redirected (established, failed and why, bytes, RTT, connect
 * duration) and of every connection accepted on a backend address:port
 * (the server side). A few callbacks per connection, none per packet:
 *
 *   TCP_CONNECT_CB       a socket the connect hook marked HL_MARK_REDIRECTED:
 *                        arm STATE_CB
 *   TIMEOUT_INIT         connect_timeout below 1 s: a shorter first SYN RTO
 *   RTO_CB               (the mark's own callback) a SYN retransmitted: note
 *                        when the first left, for the connect's duration
 *   ACTIVE_ESTABLISHED   active +1, connect duration; HL_MARK_COUNTED
 *   PASSIVE_ESTABLISHED  local address:port a backend's (hl_ep_v1)? inbound
 *   STATE_CB -> CLOSE    active -1, bytes, RTT; or a failure and its reason
 *
 * A redirected socket is counted for the service and backend its peer's
 * entry in hl_peer_v1 names (or its own hl_sock_v1 record: a SECONDARY
 * backend), the same at the open and at the close: nothing is allocated per
 * connection. Sockets that hopless did not redirect or accept for a service
 * never get STATE_CB armed, so they cost the always-on callbacks only, each
 * of which returns after a load and a compare. */
#ifndef HL_BPF_LIFECYCLE_H
#define HL_BPF_LIFECYCLE_H

#include "common.h"
#include "maps.h"
#include "trace.h"
#include "kern.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
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
HL_INLINE int hl_sock_err(struct bpf_sock_ops *ctx)
{
	struct tcp_sock *tp = hl_tcp_sock(ctx->sk);
	return tp ? ((struct sock___hl *)tp)->sk_err : 0;
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

/* A socket's hl_sock_v1 record, if it has one. */
HL_INLINE struct hl_sock_meta *hl_lc_meta(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk || !hl_has_storage(hl_tcp_sock(sk)))
		return NULL; /* most sockets: no helper call to learn it */
	return bpf_sk_storage_get(&hl_sock_v1, sk, 0, 0);
}

/* A redirected socket's service and backend. */
struct hl_conn {
	__u32 sid, bid;
	struct hl_sock_meta *rec; /* its hl_sock_v1 record, if any */
	int own;                  /* the record names the service (a SECONDARY backend) */
	struct hl_peer *p;        /* its peer's entry, when the record does not */
};

HL_INLINE int hl_lc_conn(struct bpf_sock_ops *ctx, struct hl_conn *c)
{
	c->p = NULL;
	c->rec = hl_lc_meta(ctx);
	c->own = c->rec && c->rec->service_id;
	if (c->own) {
		c->sid = c->rec->service_id;
		c->bid = c->rec->backend_id;
		return 0;
	}
	struct hl_endpoint_key k = {};
	if (ctx->family == AF_INET) {
		hl_addr_from_v4(k.addr, ctx->remote_ip4);
	} else {
		__u32 *w = (__u32 *)k.addr;
		w[0] = ctx->remote_ip6[0];
		w[1] = ctx->remote_ip6[1];
		w[2] = ctx->remote_ip6[2];
		w[3] = ctx->remote_ip6[3];
	}
	/* remote_port holds the network-order port in its upper 16 bits. */
	k.port = (__u16)(ctx->remote_port >> 16);
	c->p = bpf_map_lookup_elem(&hl_peer_v1, &k);
	if (!c->p)
		return -ENOENT;
	c->sid = c->p->service_id;
	c->bid = c->p->backend_id;
	return 0;
}

/* Whether the socket's TCP_USER_TIMEOUT of `ms` is the one the connect hook
 * set for connect_timeout (an application's own stays). A socket with a
 * record says so in it; otherwise the value is the service's. */
HL_INLINE int hl_lc_timeout_ours(const struct hl_conn *c, int ms)
{
	if (c->own)
		return c->rec->flags & HL_SOCK_USER_TIMEOUT;
	return c->p && c->p->connect_timeout_cs && ms == (int)c->p->connect_timeout_cs * 10;
}

HL_INLINE int hl_lc_may_have_timeout(const struct hl_conn *c)
{
	return c->own ? (c->rec->flags & HL_SOCK_USER_TIMEOUT) : (c->p && c->p->connect_timeout_cs);
}

HL_INLINE void hl_lc_arm(struct bpf_sock_ops *ctx)
{
	bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

HL_INLINE int hl_lc_redirected(struct bpf_sock_ops *ctx)
{
	return ctx->bpf_sock_ops_cb_flags & HL_MARK_REDIRECTED;
}

/* TCP_CONNECT_CB: right before the SYN is built (once per connect). The
 * STATE callback must be armed before the SYN leaves, or a refused or timed
 * out connect would never be seen; armed here rather than by the connect
 * hook, whose bpf_setsockopt would add a callback for CLOSE -> SYN_SENT. */
HL_INLINE void hl_lc_connect(struct bpf_sock_ops *ctx)
{
	__u32 f = ctx->bpf_sock_ops_cb_flags;
	if (f & HL_MARK_REDIRECTED)
		bpf_sock_ops_cb_flags_set(ctx, f | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* TIMEOUT_INIT: the first SYN's RTO, in jiffies (also asked again at each
 * SYN retransmission, for the kernel's model of the retry budget). Only a
 * connect_timeout under a second needs it: TCP_USER_TIMEOUT (set by the
 * connect hook) ends the connect at the deadline, but the kernel looks at it
 * only when a retransmission timer fires, the first after 1 s. */
HL_INLINE void hl_lc_timeout_init(struct bpf_sock_ops *ctx)
{
	if (!hl_lc_redirected(ctx) || !CONFIG_HZ)
		return;
	int ms = (int)hl_user_timeout_ms(hl_tcp_sock(ctx->sk));
	if (ms <= 0 || ms >= 1000)
		return;
	struct hl_conn c;
	if (hl_lc_conn(ctx, &c) || !hl_lc_timeout_ours(&c, ms))
		return;
	/* Three SYNs within the deadline: at 0, T/3 and 2T/3. */
	__u32 rto = (__u32)ms * CONFIG_HZ / 3000;
	ctx->reply = rto ? rto : 1;
}

/* RTO_CB, which the redirect mark asks for: in SYN_SENT, the first SYN went
 * unanswered. The connect's duration is then more than the RTT the SYN-ACK
 * gives, so this rare connect gets a record holding when its first SYN left
 * (args: retransmissions so far, the RTO that just ran out, in jiffies). */
HL_INLINE void hl_lc_rto(struct bpf_sock_ops *ctx)
{
	if (!hl_lc_redirected(ctx) || ctx->state != BPF_TCP_SYN_SENT || ctx->args[0] || !CONFIG_HZ)
		return;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return;
	struct hl_sock_meta *m = bpf_sk_storage_get(&hl_sock_v1, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!m || m->connect_us)
		return; /* no memory, or a record that knows already (a SECONDARY backend's) */
	__u32 waited_us = (__u32)((__u64)ctx->args[1] * 1000000 / CONFIG_HZ);
	m->connect_us = (hl_now_us() - waited_us) | 1; /* 0 means "not noted" */
}

/* ACTIVE_ESTABLISHED: counted once (HL_MARK_COUNTED), for the service and
 * backend the close will take it back from. */
HL_INLINE void hl_lc_established(struct bpf_sock_ops *ctx)
{
	__u32 f = ctx->bpf_sock_ops_cb_flags;
	if ((f & (HL_MARK_REDIRECTED | HL_MARK_COUNTED)) != HL_MARK_REDIRECTED)
		return;
	struct hl_conn c;
	if (hl_lc_conn(ctx, &c))
		return; /* its backend left every service meanwhile: not followed */
	bpf_sock_ops_cb_flags_set(ctx, f | HL_MARK_COUNTED);
	if (hl_lc_may_have_timeout(&c)) {
		/* connect_timeout bounds the connect only: an established
		 * connection keeps the kernel's retransmission budget. */
		int ms = (int)hl_user_timeout_ms(hl_tcp_sock(ctx->sk));
		if (ms > 0 && hl_lc_timeout_ours(&c, ms)) {
			int zero = 0;
			bpf_setsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &zero, sizeof(zero));
		}
	}
	/* connect() to established: the SYN's RTT (the first sample of srtt,
	 * kept times 8), unless the SYN had to be sent again (hl_lc_rto) or the
	 * connect hook noted the time itself (a record of its own). */
	struct hl_sock_meta *m = c.rec;
	__u32 us = m && m->connect_us ? hl_now_us() - m->connect_us : ctx->srtt_us >> 3;
	__u32 sid = c.sid, bid = c.bid;

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

/* The end of a redirected connection that was counted established (or, if
 * not, a failed connect) for service sid and backend bid. */
HL_INLINE void hl_lc_count_close(struct bpf_sock_ops *ctx, __u32 sid, __u32 bid, int established, __u32 old)
{
	int err = hl_sock_err(ctx);
	__u8 reason = hl_reason_of(err);
	struct hl_service_lc *lc = bpf_map_lookup_elem(&hl_svclc_v1, &sid);
	struct hl_backend_lc *blc = bpf_map_lookup_elem(&hl_belc_v1, &bid);
	struct hl_backend_live *live = bpf_map_lookup_elem(&hl_belive_v1, &bid);
	struct hl_trace_event *e;

	if (!established) {
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

/* A redirected socket of the datapath before issue 12 (the upgrade kept it
 * open): its record says what was counted. */
HL_INLINE void hl_lc_close_recorded(struct bpf_sock_ops *ctx, struct hl_sock_meta *m, __u32 old)
{
	if (!m->service_id || (m->flags & HL_SOCK_CLOSED))
		return;
	m->flags |= HL_SOCK_CLOSED;
	int established = m->flags & HL_SOCK_ESTABLISHED;
	m->flags &= ~HL_SOCK_ESTABLISHED;
	hl_lc_count_close(ctx, m->service_id, m->backend_id, established, old);
}

/* STATE_CB into CLOSE from `old`: the end of a followed socket, whichever
 * it is. */
HL_INLINE void hl_lc_close(struct bpf_sock_ops *ctx, __u32 old)
{
	__u32 f = ctx->bpf_sock_ops_cb_flags;
	if (f & HL_MARK_REDIRECTED) {
		/* Unmarked first: a second run of this program (an attached
		 * cgroup below another) finds nothing left to count, and a
		 * socket that connects again starts afresh. */
		bpf_sock_ops_cb_flags_set(ctx, f & ~(HL_MARK_REDIRECTED | HL_MARK_COUNTED | BPF_SOCK_OPS_STATE_CB_FLAG));
		struct hl_conn c;
		if (hl_lc_conn(ctx, &c) == 0)
			hl_lc_count_close(ctx, c.sid, c.bid, f & HL_MARK_COUNTED, old);
		if (c.rec) {
			/* A record of this connection must not outlive it. */
			struct bpf_sock *sk = ctx->sk;
			if (sk)
				bpf_sk_storage_delete(&hl_sock_v1, sk);
		}
		return;
	}
	struct hl_sock_meta *m = hl_lc_meta(ctx);
	if (m)
		hl_lc_close_recorded(ctx, m, old);
	else
		hl_lc_close_inbound(ctx, old);
}

#endif
