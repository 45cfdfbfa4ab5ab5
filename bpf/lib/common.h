/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HL_BPF_COMMON_H
#define HL_BPF_COMMON_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif
#ifndef EADDRINUSE
#define EADDRINUSE 98
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EAGAIN
#define EAGAIN 11
#endif

/* Hook verdicts of cgroup programs. */
#define HL_VERDICT_PASS 1
#define HL_VERDICT_REJECT 0

#define HL_INLINE static __always_inline

/* v4 addresses live in keys v4-mapped: ::ffff:a.b.c.d */
HL_INLINE void hl_addr_from_v4(__u8 *addr, __u32 ip4_be)
{
	__u32 *w = (__u32 *)addr;
	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = ip4_be;
}

HL_INLINE int hl_addr_is_v4mapped(const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;
	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

HL_INLINE int hl_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

HL_INLINE __u32 hl_addr_v4(const __u8 *addr)
{
	return ((const __u32 *)addr)[3];
}

#endif
