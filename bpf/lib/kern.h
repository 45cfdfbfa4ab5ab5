/* SPDX-License-Identifier: GPL-2.0 */
/* The few kernel socket fields the datapath reads through BTF (CO-RE), and
 * the marks it keeps in them. The hooks are built on the UAPI headers, so
 * these are local views of the kernel's types: libbpf relocates each field
 * to where the running kernel has it. */
#ifndef HL_BPF_KERN_H
#define HL_BPF_KERN_H

#include "common.h"
#include <hopless/abi.h>

#ifndef SOL_TCP
#define SOL_TCP 6
#endif
#ifndef TCP_USER_TIMEOUT
#define TCP_USER_TIMEOUT 18
#endif
/* bpf_setsockopt(SOL_TCP) of the socket's sockops callback flags (Linux
 * 6.12; the UAPI header of the build host may predate it). */
#ifndef TCP_BPF_SOCK_OPS_CB_FLAGS
#define TCP_BPF_SOCK_OPS_CB_FLAGS 1008
#endif

_Static_assert(HL_MARK_REDIRECTED == BPF_SOCK_OPS_RTO_CB_FLAG, "HL_MARK_REDIRECTED is the RTO callback flag");
_Static_assert(HL_MARK_COUNTED == BPF_SOCK_OPS_RETRANS_CB_FLAG, "HL_MARK_COUNTED is the retransmit callback flag");

struct sock___hl {
	int sk_err;
	void *sk_bpf_storage; /* every SK_STORAGE map's records of this socket */
} __attribute__((preserve_access_index));

struct tcp_sock___hl {
	__u8 bpf_sock_ops_cb_flags;
} __attribute__((preserve_access_index));

struct inet_connection_sock___hl {
	__u32 icsk_user_timeout;
} __attribute__((preserve_access_index));

HL_INLINE struct tcp_sock *hl_tcp_sock(struct bpf_sock *sk)
{
	return sk ? bpf_skc_to_tcp_sock(sk) : NULL;
}

HL_INLINE __u32 hl_tcp_marks(struct tcp_sock *tp)
{
	return tp ? ((struct tcp_sock___hl *)tp)->bpf_sock_ops_cb_flags : 0;
}

/* The socket's TCP_USER_TIMEOUT in ms (0: none), read where the kernel keeps
 * it: bpf_getsockopt() of it costs ~0.1 µs on the connect path (issue 12),
 * this a load. A tcp_sock starts with its inet_connection_sock. */
HL_INLINE __u32 hl_user_timeout_ms(struct tcp_sock *tp)
{
	return tp ? ((struct inet_connection_sock___hl *)tp)->icsk_user_timeout : 0;
}

/* Whether the socket has records in any SK_STORAGE map: when not, a
 * bpf_sk_storage_get() would find nothing, and a load says so cheaper. */
HL_INLINE int hl_has_storage(struct tcp_sock *tp)
{
	return tp && ((struct sock___hl *)tp)->sk_bpf_storage;
}

/* Whether the connect hook redirected this TCP socket (UDP: never marked). */
HL_INLINE int hl_sock_redirected(struct bpf_sock *sk)
{
	return hl_tcp_marks(hl_tcp_sock(sk)) & HL_MARK_REDIRECTED;
}

HL_INLINE __u32 hl_now_us(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000);
}

#endif
