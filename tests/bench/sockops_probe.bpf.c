// SPDX-License-Identifier: GPL-2.0
/* The skeleton of a lifecycle sockops program (issue 11), to price it
 * (issue 12): it asks for state callbacks once established and counts
 * established and closed connections per CPU. Nothing per socket is stored.
 *
 *   clang -g -O2 -target bpf -I/usr/include/$(gcc -dumpmachine) \
 *       -c tests/bench/sockops_probe.bpf.c -o build/sockops_probe.bpf.o
 *   sudo EXTRA_B=build/sockops_probe.bpf.o:sock_ops WAYS="hopless-1 hopless-1b" \
 *       MODES="clean perf" tests/bench/percon.sh                        */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} probe_counts SEC(".maps");

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&probe_counts, &k);
	if (v)
		*v += 1;
}

SEC("sockops")
int hl_sockops_probe(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		count(0);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		count(1);
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			count(2);
		break;
	default:
		count(3);
	}
	return 1;
}
