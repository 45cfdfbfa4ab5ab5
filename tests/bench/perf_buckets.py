#!/usr/bin/env python3
"""CPU time per connection by comm and by kernel symbol, from `perf script`.

    perf_buckets.py [--top N] [--focus SYM,...] WAY=CONNECTIONS=FILE[=PIDS] ...
    perf_buckets.py --slab [--top N] WAY=CONNECTIONS=FILE[=PIDS] ...

Each FILE is the output of
    perf script -F comm,pid,cpu,period,ip,sym --no-inline
of a `perf record -a -g` (cpu-clock: the period of a sample is ns of CPU).
Several files of one WAY are summed, and so are their CONNECTIONS. PIDS
(comma-separated) are the benchmark's own processes: samples of wrk or nginx
with another pid (another session's benchmark) count as "other". Prints
markdown: time per connection by comm class and CPU, then the symbols whose
time per connection differs most between the first WAY and each other WAY,
self (the leaf frame) and inclusive (anywhere on the stack, once per sample),
counting only the benchmark's comms (wrk, nginx) and kernel threads.

--slab: the FILEs are `perf script -F comm,event,trace,ip,sym` of a
`perf record -a -g -e kmem:kmalloc,kmem:kfree,...`; counts events per
connection by (event, call site, the call site's caller, comm class), for the
comms of the benchmark and the kernel threads (not "other", not perf).
"""
import argparse
import collections
import re
import sys

BPF_PROG = re.compile(r"^bpf_prog_[0-9a-f]{16}_(.*)$")


# Comm classes left out of the symbol tables: idle, perf itself, and other
# sessions' processes (compilers; a hoplessd of someone else's test).
NOT_OURS = ("idle", "perf", "other", "hoplessd")


def comm_class(comm):
    if comm.startswith("ksoftirqd/"):
        return comm
    for prefix, cls in (("rcu", "rcu*"), ("kworker/", "kworker"), ("swapper", "idle"),
                        ("wrk", "wrk"), ("nginx", "nginx"), ("hoplessd", "hoplessd"),
                        ("perf", "perf")):
        if comm.startswith(prefix):
            return cls
    return "other"


def norm(sym):
    m = BPF_PROG.match(sym)
    if m:
        return "bpf_prog_" + m.group(1)
    return sym


class Way:
    def __init__(self):
        self.conns = 0
        self.by_comm = collections.Counter()
        self.by_cpu = collections.Counter()
        self.self_ns = collections.Counter()
        self.incl_ns = collections.Counter()
        self.incl_by_comm = collections.defaultdict(collections.Counter)

    def add_sample(self, comm, cpu, period, frames, pid=None, pids=None):
        if comm is None:
            return
        cls = comm_class(comm)
        if pids and cls in ("wrk", "nginx") and pid not in pids:
            cls = "other"
        self.by_comm[cls] += period
        self.by_cpu[cpu] += period
        if cls in NOT_OURS:
            return  # symbols: only the benchmark's comms and kernel threads
        if frames:
            self.self_ns[frames[0]] += period
        for f in set(frames):
            self.incl_ns[f] += period
            self.incl_by_comm[cls][f] += period


HEADER = re.compile(r"^\s*(\S.*?)\s+(?:(\d+)\s+)?\[(\d+)\]\s+(\d+):?\s*$")


def parse(path, way, pids=None):
    comm = cpu = pid = None
    period = 0
    frames = []
    with open(path, errors="replace") as fh:
        for line in fh:
            if not line.strip():
                way.add_sample(comm, cpu, period, frames, pid, pids)
                comm, frames = None, []
                continue
            if line[0] in " \t" and comm is not None and not HEADER.match(line):
                parts = line.split(None, 1)
                sym = parts[1].strip() if len(parts) > 1 else "[unknown]"
                sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
                sym = re.sub(r"\s+\(.*\)$", "", sym)
                frames.append(norm(sym))
                continue
            m = HEADER.match(line)
            if m:
                way.add_sample(comm, cpu, period, frames, pid, pids)
                comm, pid, cpu, period, frames = m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), []
    way.add_sample(comm, cpu, period, frames, pid, pids)


SLAB_HDR = re.compile(r"^\s*(\S.*?)\s+(?:(\d+)\s+)?(kmem:\w+):\s+call_site=(\S+)(.*)$")


def parse_slab(path, counter, pids=None):
    key = None
    frames = []

    def flush():
        if key is None:
            return
        event, site, comm, extra, pid = key
        site_fn = re.sub(r"\+0x[0-9a-f]+$", "", site)
        caller = "-"
        for i, f in enumerate(frames):
            if f == site_fn and i + 1 < len(frames):
                caller = frames[i + 1]
                break
        cls = comm_class(comm)
        if pids and cls in ("wrk", "nginx") and pid not in pids:
            return
        if cls in ("other", "perf", "hoplessd"):
            return  # not ours: other sessions' processes, perf itself
        counter[(event, site_fn, caller, cls + extra)] += 1

    with open(path, errors="replace") as fh:
        for line in fh:
            m = SLAB_HDR.match(line)
            if m:
                flush()
                extra = ""
                b = re.search(r"bytes_alloc=(\d+)", m.group(5))
                if b:
                    extra = f" {b.group(1)}B"
                if "accounted=true" in m.group(5):
                    extra += " memcg"
                key = (m.group(3), m.group(4), m.group(1), extra, m.group(2))
                frames = []
            elif line[:1] in (" ", "\t") and line.strip() and key is not None:
                parts = line.split(None, 1)
                sym = parts[1].strip() if len(parts) > 1 else "[unknown]"
                frames.append(re.sub(r"\+0x[0-9a-f]+$", "", sym))
    flush()


def main_slab(a):
    ways = collections.OrderedDict()
    for arg in a.inputs:
        name, conns, path, pids = (arg.split("=", 3) + [""])[:4]
        w = ways.setdefault(name, [0, collections.Counter()])
        w[0] += int(conns or 0)
        parse_slab(path, w[1], set(p for p in pids.split(",") if p and p != "0") or None)
    names = list(ways)
    if not names or any(ways[n][0] == 0 for n in names):
        print("perf_buckets: no events or no connections", file=sys.stderr)
        return 1
    keys = set().union(*(ways[n][1] for n in names))
    totals = collections.Counter()
    for n in names:
        for k, v in ways[n][1].items():
            totals[(n, k[0])] += v
    print("| event |" + "".join(f" {n} |" for n in names))
    print("|---|" + "---|" * len(names))
    for ev in sorted({k[0] for k in keys}):
        print(f"| {ev} |" + "".join(f" {1000 * totals[(n, ev)] / ways[n][0]:.0f} |" for n in names))
    print()
    base = names[0]

    def pc(n, k):
        return 1000 * ways[n][1][k] / ways[n][0]
    order = sorted(keys, key=lambda k: -max(abs(pc(n, k) - pc(base, k)) for n in names))
    print("| event | call site | its caller | comm, size |" + "".join(f" {n} |" for n in names))
    print("|---|---|---|---|" + "---|" * len(names))
    for k in order[:a.top]:
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} |" + "".join(f" {pc(n, k):.0f} |" for n in names))
    print()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--focus", default="", help="comma-separated symbols always listed (inclusive)")
    ap.add_argument("--slab", action="store_true")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    if a.slab:
        return main_slab(a)
    ways = collections.OrderedDict()
    for arg in a.inputs:
        name, conns, path, pids = (arg.split("=", 3) + [""])[:4]
        w = ways.setdefault(name, Way())
        w.conns += int(conns or 0)
        parse(path, w, set(p for p in pids.split(",") if p and p != "0") or None)
    names = list(ways)
    if not names or any(ways[n].conns == 0 for n in names):
        print("perf_buckets: no samples or no connections", file=sys.stderr)
        return 1

    def pc(w, v):
        return v / ways[w].conns

    print("CPU time per connection by comm class (ns):\n")
    print("| comm |" + "".join(f" {n} |" for n in names))
    print("|---|" + "---|" * len(names))
    classes = sorted(set().union(*(ways[n].by_comm for n in names)),
                     key=lambda c: -ways[names[-1]].by_comm[c])
    for c in classes:
        print(f"| {c} |" + "".join(f" {pc(n, ways[n].by_comm[c]):.0f} |" for n in names))
    busy = {n: sum(v for k, v in ways[n].by_comm.items() if k not in ("idle", "perf")) for n in names}
    print("| **all but idle and perf** |" + "".join(f" **{pc(n, busy[n]):.0f}** |" for n in names))
    for cpu in sorted(set().union(*(ways[n].by_cpu for n in names))):
        print(f"| CPU {cpu}, all comms incl. idle |" + "".join(f" {pc(n, ways[n].by_cpu[cpu]):.0f} |" for n in names))
    print(f"| connections |" + "".join(f" {ways[n].conns} |" for n in names))
    print()

    base = names[0]
    for other in names[1:]:
        for kind, attr in (("self", "self_ns"), ("inclusive", "incl_ns")):
            b, o = getattr(ways[base], attr), getattr(ways[other], attr)
            diffs = sorted(set(b) | set(o), key=lambda s: -abs(pc(other, o[s]) - pc(base, b[s])))
            print(f"Largest differences, {other} - {base}, {kind} ns per connection:\n")
            print(f"| symbol | {base} | {other} | diff |")
            print("|---|---|---|---|")
            for s in diffs[:a.top]:
                print(f"| {s} | {pc(base, b[s]):.0f} | {pc(other, o[s]):.0f} | {pc(other, o[s]) - pc(base, b[s]):+.0f} |")
            print()
    if a.focus:
        print("Selected symbols, inclusive ns per connection (all comms; wrk / nginx / ksoftirqd / rcu):\n")
        print("| symbol |" + "".join(f" {n} |" for n in names))
        print("|---|" + "---|" * len(names))
        for s in a.focus.split(","):
            cells = []
            for n in names:
                w = ways[n]
                parts = "/".join(f"{pc(n, sum(v[s] for k, v in w.incl_by_comm.items() if k.startswith(p))):.0f}"
                                 for p in ("wrk", "nginx", "ksoftirqd", "rcu"))
                cells.append(f" {pc(n, w.incl_ns[s]):.0f} ({parts}) |")
            print(f"| {s} |" + "".join(cells))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
