#!/usr/bin/env bash
# Per-connection cost of a way, from the kernel's own counters (issue 12).
#
#   sudo tests/bench/percon.sh                        # direct, direct+hook, hopless-1; 3 rounds
#   sudo WAYS="direct hopless-1" ROUNDS=5 tests/bench/percon.sh
#   sudo HOPLESSD_B=/path/to/variant/hoplessd WAYS="direct hopless-1 hopless-1b" tests/bench/percon.sh
#
# The topology of run.sh, reduced to what the short-connection comparison
# needs: one nginx backend (one worker, CPU 1) in its own netns on a bridge,
# a client netns, wrk -t1 -c$CONNS with "Connection: close" pinned to CPU 0.
#
#   direct       wrk -> backend address, from a cgroup without hopless
#   direct+hook  the same from the hopless-attached cgroup (non-VIP connects)
#   hopless-1    wrk -> VIP of a 1-backend service, from the attached cgroup
#   hopless-1b   the same through a second daemon (HOPLESSD_B, e.g. a variant
#                of the datapath; default: the same hoplessd), attached to a
#                cgroup of its own, plus EXTRA_B when given
#   direct+hook-b  direct+hook from hopless-1b's cgroup (needs hopless-1b in WAYS)
#
# Every round runs each way once per mode, ways interleaved, start rotating:
#   clean   counters that cost (nearly) nothing: wrk's task-clock (perf
#           stat), each thread's run time (/proc/*/task/*/schedstat), per-CPU
#           time (/proc/stat), each hopless program's run_time_ns/run_cnt
#           (kernel.bpf_stats_enabled=1: two clock reads per program run)
#   perf    perf record -a -g -F $PERF_FREQ during wrk: CPU time per comm, and
#           per kernel symbol, self and inclusive, of the benchmark's comms
#           and kernel threads (perf_buckets.py); $PERF_FOCUS always listed
#   tp      perf stat -a of tracepoints (softirqs, slab, wakeups, socket states)
#   alloc   perf record -a -g of the slab tracepoints: who allocates and who
#           frees, per connection, by call site, caller and comm
#   cl      connect_latency -n $CONNECTS: the connect() latency p50/p90/p99
#           and min (closed with RST: no TIME_WAIT), in place of wrk; the
#           medians of the per-round differences of p50, of the client's
#           task-clock and of the min (the min holds when the machine flips
#           between slow modes that move a round's p50 by microseconds)
#   pair    connect_latency --pair: the two ways of PAIR ("direct+hook
#           hopless-1", both from the attached cgroup: one process; two ways
#           of two cgroups, such as "direct direct+hook" or "hopless-1
#           hopless-1b": two processes on one CPU that take turns), taken
#           in turn PAIR_BLOCK connects at a time, so both see the same
#           machine even when it flips modes within a round; per round each
#           side's p50, min and CPU per connect+close (the thread's CPU
#           clock), and the median over blocks of the p50 difference.
#           PAIR_HTTP=1 adds a whole HTTP/1.0 request per connection (the
#           time to its answer: a short-connection request, one at a time);
#           PAIR_FIN=1 closes with a FIN instead of an RST (with PAIR_HTTP
#           the server closes first, as wrk's Connection: close does)
# and everything is divided by the connections wrk made (one per request).
# Without hardware counters (a VM) perf samples cpu-clock; time spent with
# interrupts off is charged to where they are turned back on.
#
# Knobs (env):
#   ROUNDS (3), DURATION (5 s per wrk run), CONNS (16), WAYS, MODES ("clean perf tp"),
#   CONNECTS (5000, modes cl and pair, per side), PAIR, PAIR_BLOCK (10), PAIR_HTTP,
#   PAIR_FIN
#   PERF_FREQ (1999 Hz), PERF_TOP (40 rows), PERF_FOCUS (symbols), BPF_STATS (1)
#   QUIET      seconds to wait before each run for other sessions' CPU use to
#              drop below 10% of a CPU (0: no wait; the run goes on regardless)
#   NICE       nice level of wrk and nginx (0); kworker/ksoftirqd stay at 0
#   HOPLESSD   default build/hoplessd or build-bench/hoplessd, whichever exists
#              (the BPF object is the same for every build type)
#   HOPLESSD_B the daemon of way hopless-1b (default: the same binary)
#   EXTRA_B    "OBJ:TYPE": a BPF object whose programs bpftool loads and
#              attaches (type TYPE, e.g. sock_ops) to hopless-1b's cgroup too,
#              to price an extra hook such as a sockops program
#   DETACH_A   attach types (bpftool's names, e.g. "sock_ops") whose programs
#              are detached from daemon a's cgroup after it started
#   MEMCG_B=1  daemon b runs in a memory cgroup of its own (a child of ours),
#              as under systemd: its maps, and so the socket storage, are
#              charged to another memcg than the task's sockets
#   OUT        directory that keeps raw.tsv, perf.data and the rest (default:
#              a temp dir, removed); REPORT_FROM=DIR prints the report of such
#              a directory again; RESULTS file for the report
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/common.sh
source "$HERE/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
WAYS=${WAYS:-"direct direct+hook hopless-1"}
MODES=${MODES:-"clean perf tp"}
PERF_FREQ=${PERF_FREQ:-1999}
BPF_STATS=${BPF_STATS:-1}
TPS="irq:softirq_entry,irq:softirq_raise,sched:sched_switch,sched:sched_wakeup,kmem:kmalloc,kmem:kfree,kmem:kmem_cache_alloc,kmem:kmem_cache_free,kmem:mm_page_alloc,kmem:mm_page_free,skb:kfree_skb,skb:consume_skb,tcp:tcp_destroy_sock,tcp:tcp_retransmit_skb,sock:inet_sock_set_state,net:netif_rx,net:net_dev_queue"
QUIET=${QUIET:-0}
CONNECTS=${CONNECTS:-5000}
PAIR=${PAIR:-"direct+hook hopless-1"}
PAIR_BLOCK=${PAIR_BLOCK:-10}
PAIR_HTTP=${PAIR_HTTP:-0}
PAIR_FIN=${PAIR_FIN:-0}
NICE=${NICE:-0}
# Symbols always listed by the perf mode (inclusive time per connection).
PERF_FOCUS=${PERF_FOCUS:-__x64_sys_connect,__cgroup_bpf_run_filter_sock_addr,bpf_prog_hl_connect4,bpf_sk_storage_get,bpf_local_storage_update,bpf_selem_alloc,bpf_local_storage_alloc,bpf_sk_storage_delete,tcp_v4_connect,__inet_hash_connect,ip_route_output_key_hash,__x64_sys_close,__sk_destruct,bpf_sk_storage_free,bpf_local_storage_destroy,call_rcu,call_rcu_tasks_trace,kvfree_call_rcu,rcu_core,rcu_do_batch,tcp_v4_rcv,tcp_time_wait,inet_twsk_kill,process_backlog,__memcg_slab_post_alloc_hook,__memcg_slab_free_hook,obj_cgroup_charge,refill_obj_stock,drain_obj_stock,bpf_map_kzalloc,kfree_rcu_monitor,kfree_rcu_work,kvfree_rcu_bulk,kvfree_rcu_list,kmem_cache_free_bulk,rcu_tasks_invoke_cbs}
CLIENT_CPU=0
HB_SERVER_CPU=1
((ROUNDS >= 1 && ROUNDS <= 50 && DURATION >= 1 && DURATION <= 60)) ||
    { echo "percon.sh: ROUNDS 1-50, DURATION 1-60" >&2; exit 2; }
command -v perf >/dev/null || { echo "percon.sh: needs perf (linux-perf)" >&2; exit 2; }

if [[ -n ${REPORT_FROM:-} ]]; then
    # Only the report, from the data directory of an earlier run (OUT=DIR).
    # shellcheck disable=SC1091
    source "$REPORT_FROM/meta.sh"
    DATA=$REPORT_FROM RAW=$REPORT_FROM/raw.tsv
else
hb_init percon
if [[ -z ${HOPLESSD:-} ]]; then
    for c in "$HB_REPO/build/hoplessd" "$HB_REPO/build-bench/hoplessd"; do
        [[ -x $c ]] && { HOPLESSD=$c; break; }
    done
fi
hb_find_hoplessd
[[ " $MODES " == *" cl "* || " $MODES " == *" pair "* ]] && hb_build_connect_latency
START=$(date -u '+%Y-%m-%d %H:%M UTC')
MACHINE=$(hb_machine)
OLD_BPF_STATS=$(cat /proc/sys/kernel/bpf_stats_enabled)
DATA=${OUT:-$HB_TMP/data}
mkdir -p "$DATA"
MEMCG_DIR=""
percon_cleanup() {
    sysctl -qw kernel.bpf_stats_enabled="$OLD_BPF_STATS" 2>/dev/null
    hb_cleanup
    if [[ -n $MEMCG_DIR && -d $MEMCG_DIR ]]; then
        for p in $(cat "$MEMCG_DIR/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        for ((i = 0; i < 20; i++)); do rmdir "$MEMCG_DIR" 2>/dev/null && break; sleep 0.1; done
    fi
}
trap percon_cleanup EXIT
hb_log "run $HB_ID: rounds=$ROUNDS duration=${DURATION}s modes='$MODES' ways='$WAYS' hoplessd=$HB_HOPLESSD data=$DATA"

# ---- topology ----------------------------------------------------------------
hb_switch
hb_netns c 2
hb_netns b1 11
C=${HB_ID}c B1=$HB_NET.11
hb_cgroup servers SRV
hb_cgroup plain PLAIN
hb_cgroup task HL
hb_nginx "${HB_ID}b1" "$B1" be1 "$SRV"
NGINX_MASTER=$HB_LAST_PID
if ((NICE != 0)); then
    renice -n "$NICE" -p "$NGINX_MASTER" $(pgrep -P "$NGINX_MASTER") >/dev/null
fi

daemon_cfg() {  # CGROUP NAME
    cat >"$HB_TMP/$2.yaml" <<EOF
metrics: { listen: "127.0.0.1:0" }
control: { socket: $HB_TMP/$2.sock }
attach:
  - { cgroup: $1, namespace: default }
services:
  - { name: web1, vip: 127.255.0.1, port: 80, backends: [ { address: $B1, port: 8080 } ] }
EOF
}
daemon_cfg "$HL" a
hb_hoplessd a "$HB_TMP/a.yaml"
DAEMONS=("$HB_DPID")
if [[ " $WAYS " == *" hopless-1b "* ]]; then
    HOPLESSD_B=${HOPLESSD_B:-$HB_HOPLESSD}
    [[ -x $HOPLESSD_B ]] || hb_die "HOPLESSD_B=$HOPLESSD_B is not an executable"
    hb_cgroup taskb HLB
    daemon_cfg "$HLB" b
    SAVED=$HB_HOPLESSD HB_HOPLESSD=$HOPLESSD_B
    if [[ ${MEMCG_B:-0} == 1 ]]; then
        # A child of our own memory cgroup (v1 "memory" or the v2 mount).
        mine=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
        if [[ -n $mine && -d /sys/fs/cgroup/memory ]]; then
            MEMCG_DIR=/sys/fs/cgroup/memory$mine/$HB_ID-daemon
        else
            MEMCG_DIR=$HB_CG2$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)/$HB_ID-daemon
        fi
        mkdir "$MEMCG_DIR"
        printf '#!/bin/bash\necho $$ > %q/cgroup.procs && exec %q "$@"\n' "$MEMCG_DIR" "$HOPLESSD_B" >"$HB_TMP/hoplessd-b.sh"
        chmod +x "$HB_TMP/hoplessd-b.sh"
        HB_HOPLESSD=$HB_TMP/hoplessd-b.sh
    fi
    hb_hoplessd b "$HB_TMP/b.yaml"
    HB_HOPLESSD=$SAVED
    DAEMONS+=("$HB_DPID")
    if [[ -n ${EXTRA_B:-} ]]; then
        XPIN=/sys/fs/bpf/$HB_ID-extra
        HB_PINS+=("$XPIN")
        bpftool prog loadall "${EXTRA_B%%:*}" "$XPIN" || hb_die "cannot load $EXTRA_B"
        for p in "$XPIN"/*; do
            bpftool cgroup attach "$HLB" "${EXTRA_B##*:}" pinned "$p" multi || hb_die "cannot attach $p to $HLB"
        done
    fi
fi

# DETACH_A="sock_ops ...": take daemon a's programs of these attach types off
# its cgroup (bpftool link detach), to price one hook by its absence.
for t in ${DETACH_A:-}; do
    n=0
    for pid in $(bpftool -j cgroup show "$HL" |
                 jq -r --arg t "${t#cgroup_}" '.[] | select(.attach_type == $t or .attach_type == "cgroup_" + $t) | .id'); do
        for lid in $(bpftool -j link show | jq -r --argjson p "$pid" '.[] | select(.prog_id == $p) | .id'); do
            bpftool link detach id "$lid" || hb_die "cannot detach link $lid ($t)"
            hb_log "DETACH_A: detached link $lid (prog $pid, $t) from $HL"
            n=$((n + 1))
        done
    done
    ((n)) || hb_die "DETACH_A: no link of attach type '$t' on $HL (bpftool -j cgroup show $HL)"
done

way_def() {  # -> "cgroup host:port"
    case $1 in
        direct)      echo "$PLAIN $B1:8080" ;;
        direct+hook) echo "$HL $B1:8080" ;;
        hopless-1)   echo "$HL 127.255.0.1:80" ;;
        hopless-1b)  echo "$HLB 127.255.0.1:80" ;;
        direct+hook-b) echo "$HLB $B1:8080" ;;
        *) hb_die "unknown way '$1' (direct direct+hook hopless-1 hopless-1b direct+hook-b)" ;;
    esac
}
for w in $WAYS; do
    read -r cg hp < <(way_def "$w")
    hb_run "$cg" "$C" "" curl -s --max-time 2 "http://$hp/" | grep -q be1 || hb_die "way $w does not answer"
done

# The programs attached to a cgroup (ids), for bpf_stats per way.
progs_of() { bpftool -j cgroup show "$1" 2>/dev/null | jq -r '.[] | "\(.id) \(.name)"'; }
progs_of "$HL" >"$DATA/progs-a.txt"
[[ -n ${HLB:-} ]] && progs_of "$HLB" >"$DATA/progs-b.txt"
((BPF_STATS)) && sysctl -qw kernel.bpf_stats_enabled=1

# ---- snapshots -----------------------------------------------------------------
# Thread run time (ns, from schedstat) by class: our nginx worker(s), the
# daemons, per-CPU kernel threads by name, everything else ("other": the
# compilers of other sessions, when they run).
snap_threads() {  # -> lines "tid class ns"
    local nginx_pids daemons
    nginx_pids=" $NGINX_MASTER $(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')"
    daemons=" ${DAEMONS[*]} "
    local d pid tid comm cls rt
    for d in /proc/[0-9]*/task/[0-9]*; do
        pid=${d#/proc/}; pid=${pid%%/*}; tid=${d##*/}
        read -r rt _ 2>/dev/null <"$d/schedstat" || continue
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        if [[ $nginx_pids == *" $pid "* ]]; then cls=nginx
        elif [[ $daemons == *" $pid "* ]]; then cls=hoplessd
        else case $comm in
            ksoftirqd/*) cls=$comm ;;
            rcu*) cls=rcu ;;          # rcu_preempt, rcu_tasks*, rcuog/rcuop
            kworker/*) cls=kworker ;;
            migration/*|idle_inject/*|cpuhp/*) cls=kthread-other ;;
            *) cls=other ;;
        esac; fi
        echo "$tid $cls $rt"
    done
}
snap_cpu() {  # /proc/stat cpuN -> "cpuN.user ticks" ... (USER_HZ)
    awk '/^cpu[0-9]/ { c = $1; print c ".user", $2 + $3; print c ".sys", $4; print c ".irq", $7;
        print c ".softirq", $8; print c ".idle", $5 + $6; print c ".steal", $9 }' /proc/stat
}
snap_bpf() {  # -> "prog-name@daemon run_time_ns run_cnt"
    local f tag
    for f in "$DATA"/progs-*.txt; do
        [[ -f $f ]] || continue
        tag=${f##*progs-}; tag=${tag%.txt}
        while read -r id name; do
            bpftool -j prog show id "$id" 2>/dev/null |
                jq -r --arg n "$name@$tag" '"\($n) \(.run_time_ns // 0) \(.run_cnt // 0)"'
        done <"$f"
    done
}
snap() {  # FILE
    snap_threads >"$1.thr"
    { snap_cpu | sed 's/^/cpu./'
      snap_bpf | awk '{ print "bpfns." $1, $2; print "bpfcnt." $1, $3 }'; } >"$1"
}

RAW=$DATA/raw.tsv  # round mode way metric value
: >"$RAW"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

# Busy CPU (in % of one CPU) over one second, from /proc/stat; called between
# runs, when everything busy is someone else's.
busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; all = busy + y[2] - x[2]; printf "%d", (all > 0 ? 100 * n * busy / all : 0) }'
}
LAST_BUSY=-1
wait_quiet() {
    local t
    for ((t = 0; t < QUIET; t++)); do
        LAST_BUSY=$(busy_pct)
        ((LAST_BUSY < 10)) && return 0
    done
    hb_log "not quiet after ${QUIET}s (others use ${LAST_BUSY}% of a CPU); measuring anyway"
}

descendant_named() {  # PID COMM -> the pid of a descendant of PID named COMM
    local todo=("$1") p c
    while ((${#todo[@]})); do
        p=${todo[0]}; todo=("${todo[@]:1}")
        for c in $(pgrep -P "$p"); do
            [[ $(cat "/proc/$c/comm" 2>/dev/null) == "$2" ]] && { echo "$c"; return 0; }
            todo+=("$c")
        done
    done
}

run_cl() {  # ROUND WAY: connect() latency instead of wrk
    local r=$1 w=$2 cg hp line k
    read -r cg hp < <(way_def "$w")
    ((QUIET > 0)) && wait_quiet
    local st=$DATA/cl-$r-${w//+/_}.stat n ms
    line=$(hb_run "$cg" "$C" "$CLIENT_CPU" nice -n "$NICE" timeout 60 \
        perf stat -x, -e task-clock -o "$st" -- "$HB_CL" -n "$CONNECTS" -t 30 "${hp%:*}" "${hp##*:}" || true)
    for k in p50 p90 p99 min failed; do record "$r" cl "$w" "cl_$k" "$(hb_kv "$([[ $k == failed ]] && echo failed || echo "${k}_ns")" <<<"$line")"; done
    # The client's CPU per connect+close (the loop does nothing else; the close
    # is an RST, so the socket, and any storage it has, is freed in the loop).
    n=$(hb_kv count <<<"$line"); ms=$(awk -F, '$3 == "task-clock" { print $1 }' "$st")
    record "$r" cl "$w" cl_task_ns "$(awk -v n="${n:-0}" -v ms="${ms:-0}" 'BEGIN { printf "%.0f", (n > 0 ? ms * 1e6 / n : 0) }')"
    hb_log "round $r cl $w: $line task-clock ${ms:-?} ms"
}

run_pair() {  # ROUND: the two ways of PAIR, in turn, in one process
    local r=$1 wa wb cga hpa cgb hpb line k st ms
    read -r wa wb <<<"$PAIR"
    read -r cga hpa < <(way_def "$wa")
    read -r cgb hpb < <(way_def "$wb")
    ((QUIET > 0)) && wait_quiet
    st=$DATA/pair-$r.stat
    local opts=()
    ((PAIR_HTTP)) && opts+=(--http)
    ((PAIR_FIN)) && opts+=(--fin)
    # Two cgroups: the second side is a child process that joins its cgroup
    # through fd 9, opened here (inside the netns /sys hides the tree).
    [[ $cga == "$cgb" ]] || opts+=(--pair-cgroup-fd 9)
    line=$(hb_run "$cga" "$C" "$CLIENT_CPU" nice -n "$NICE" timeout 120 \
        perf stat -x, -e task-clock -o "$st" -- "$HB_CL" -n "$CONNECTS" -t 90 --block "$PAIR_BLOCK" "${opts[@]}" \
        --pair "${hpb%:*}" "${hpb##*:}" "${hpa%:*}" "${hpa##*:}" 9>"$cgb/cgroup.procs" || true)
    # Keyed by side (a, b): PAIR may name one way twice (an A/A check).
    for k in p50 p90 min cpu http_p50; do
        record "$r" pair a "pr_$k" "$(hb_kv "${k}_ns" <<<"$line")"
        record "$r" pair b "pr_$k" "$(hb_kv "b_${k}_ns" <<<"$line")"
    done
    record "$r" pair a pr_failed "$(hb_kv failed <<<"$line")"
    record "$r" pair b pr_failed "$(hb_kv b_failed <<<"$line")"
    record "$r" pair b pr_blockdiff "$(hb_kv pair_p50_diff_ns <<<"$line")"
    ms=$(awk -F, '$3 == "task-clock" { print $1 }' "$st")
    hb_log "round $r pair $wa/$wb: $line task-clock ${ms:-?} ms"
}

run_one() {  # ROUND MODE WAY
    local r=$1 m=$2 w=$3 cg hp tag=$1-$2-${3//+/_} perfpid=""
    [[ $m == cl ]] && { run_cl "$r" "$w"; return 0; }
    read -r cg hp < <(way_def "$w")
    ((QUIET > 0)) && wait_quiet
    snap "$DATA/before-$tag"
    case $m in
        perf) perf record -a -g -F "$PERF_FREQ" -o "$DATA/perf-$tag.data" -- sleep $((DURATION + 1)) \
                  >"$DATA/perf-$tag.log" 2>&1 & perfpid=$! ;;
        tp) perf stat -a -x, -e "$TPS" -o "$DATA/tp-$tag.csv" -- sleep $((DURATION + 1)) \
                >/dev/null 2>&1 & perfpid=$! ;;
        alloc) perf record -a -g -e kmem:kmalloc,kmem:kfree,kmem:kmem_cache_alloc,kmem:kmem_cache_free \
                   -o "$DATA/alloc-$tag.data" -- sleep $((DURATION + 1)) >"$DATA/alloc-$tag.log" 2>&1 & perfpid=$! ;;
    esac
    sleep 0.5
    hb_run "$cg" "$C" "$CLIENT_CPU" nice -n "$NICE" timeout $((DURATION + 20)) \
        perf stat -x, -e task-clock,context-switches -o "$DATA/wrk-$tag.stat" -- \
        wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Connection: close' "http://$hp/" >"$DATA/wrk-$tag.txt" 2>&1 &
    local runpid=$! i wpid=""
    # Our wrk's pid (timeout -> perf -> wrk): other sessions run wrk too, so
    # the perf modes keep only samples of our pids (and of kernel threads).
    for ((i = 0; i < 100; i++)); do
        wpid=$(descendant_named "$runpid" wrk)
        [[ -n $wpid ]] && break
        sleep 0.02
    done
    echo "${wpid:-0} $NGINX_MASTER $(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')" >"$DATA/pids-$tag"
    wait "$runpid" || true
    [[ -n $perfpid ]] && wait "$perfpid"
    snap "$DATA/after-$tag"
    local reqs err
    reqs=$(awk '/requests in/ { print $1 }' "$DATA/wrk-$tag.txt")
    err=$(hb_parse_wrk <"$DATA/wrk-$tag.txt" | awk '{ print $4 }')
    record "$r" "$m" "$w" reqs "${reqs:-0}"
    record "$r" "$m" "$w" rps "$(awk '/Requests\/sec:/ { print $2 }' "$DATA/wrk-$tag.txt")"
    record "$r" "$m" "$w" errors "${err:-0}"
    record "$r" "$m" "$w" wrk_task_ms "$(awk -F, '$3 == "task-clock" { print $1 }' "$DATA/wrk-$tag.stat")"
    record "$r" "$m" "$w" wrk_cs "$(awk -F, '$3 == "context-switches" { print $1 }' "$DATA/wrk-$tag.stat")"
    record "$r" "$m" "$w" load "$(cut -d' ' -f1 /proc/loadavg)"
    ((QUIET > 0)) && record "$r" "$m" "$w" busy_before_pct "$LAST_BUSY"
    # Threads: run time gained by each thread alive at the end (a thread that
    # exited meanwhile, e.g. a compiler of another session, is lost: "other").
    awk 'NR == FNR { b[$1] = $3; next } { d[$2] += $3 - ($1 in b ? b[$1] : 0) }
         END { for (c in d) print "thr." c, d[c] }' "$DATA/before-$tag.thr" "$DATA/after-$tag.thr" |
        awk -v r="$r" -v m="$m" -v w="$w" '{ printf "%s\t%s\t%s\t%s\t%s\n", r, m, w, $1, $2 }' >>"$RAW"
    join -a2 -e 0 -o 0,1.2,2.2 <(sort "$DATA/before-$tag") <(sort "$DATA/after-$tag") |
        awk -v r="$r" -v m="$m" -v w="$w" '{ printf "%s\t%s\t%s\t%s\t%s\n", r, m, w, $1, $3 - $2 }' >>"$RAW"
    if [[ $m == tp ]]; then
        awk -F, -v r="$r" -v m="$m" -v w="$w" 'NF > 3 && $1 ~ /^[0-9]+$/ { printf "%s\t%s\t%s\ttp.%s\t%s\n", r, m, w, $3, $1 }' \
            "$DATA/tp-$tag.csv" >>"$RAW"
    fi
    hb_log "round $r $m $w: $(awk '/Requests\/sec:/ { print $2 }' "$DATA/wrk-$tag.txt") req/s, load $(cut -d' ' -f1 /proc/loadavg)"
    sleep 1
}

read -r -a WAY_LIST <<<"$WAYS"
NW=${#WAY_LIST[@]}
HOPLESSD_B=${HOPLESSD_B:-}
for ((r = 1; r <= ROUNDS; r++)); do
    for m in $MODES; do
        [[ $m == pair ]] && { run_pair "$r"; continue; }
        for ((k = 0; k < NW; k++)); do run_one "$r" "$m" "${WAY_LIST[(k + r - 1) % NW]}"; done
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
declare -p START MACHINE LOAD_END ROUNDS DURATION CONNS WAYS MODES CONNECTS PAIR PAIR_BLOCK PAIR_HTTP PAIR_FIN PERF_FREQ BPF_STATS NICE HB_HOPLESSD HOPLESSD_B EXTRA_B MEMCG_B DETACH_A 2>/dev/null >"$DATA/meta.sh" || true
fi

# ---- report ------------------------------------------------------------------
read -r -a WAY_LIST <<<"$WAYS"
# Per-connection figures: the sum of a metric over the rounds of a mode divided
# by the connections of those rounds (ticks of /proc/stat are USER_HZ=100).
HZ=$(getconf CLK_TCK)
percon() {  # MODE WAY METRIC SCALE -> value per connection * SCALE
    awk -F'\t' -v m="$1" -v w="$2" -v k="$3" -v s="$4" '
        $2 == m && $3 == w && $4 == "reqs" { n += $5 }
        $2 == m && $3 == w && $4 == k { v += $5 }
        END { if (n > 0) printf "%.0f", v * s / n; else print "-" }' "$RAW"
}
medr() { awk -F'\t' -v m="$1" -v w="$2" -v k="$3" '$2 == m && $3 == w && $4 == k { print $5 }' "$RAW" | hb_median; }
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

report() {
    echo "### Per-connection cost, $START"
    echo
    echo "Machine: ${MACHINE%%$'\n'*}; ${MACHINE#*$'\n'}, at end: $LOAD_END."
    echo "wrk -t1 -c$CONNS -d${DURATION}s, Connection: close; client CPU 0, nginx (1 worker) CPU 1;"
    echo "$ROUNDS rounds, modes: $MODES; nice ${NICE:-0}; bpf_stats_enabled=$BPF_STATS; hoplessd: $HB_HOPLESSD${HOPLESSD_B:+; b: $HOPLESSD_B}${EXTRA_B:+; extra on b: $EXTRA_B}${MEMCG_B:+; daemon b in its own memcg: $MEMCG_B}."
    echo
    if has_mode clean; then
        echo "Mode clean (ns per connection, sums over rounds / connections of those rounds):"
        echo
        local hdr="| metric |" sep="|---|" w
        for w in "${WAY_LIST[@]}"; do hdr+=" $w |"; sep+="---|"; done
        echo "$hdr"; echo "$sep"
        row() {  # LABEL MODE METRIC SCALE
            local line="| $1 |" w
            for w in "${WAY_LIST[@]}"; do line+=" $(percon "$2" "$w" "$3" "$4") |"; done
            echo "$line"
        }
        local line="| req/s (median) |"
        for w in "${WAY_LIST[@]}"; do line+=" $(medr clean "$w" rps) |"; done; echo "$line"
        line="| load average (median) |"
        for w in "${WAY_LIST[@]}"; do line+=" $(medr clean "$w" load) |"; done; echo "$line"
        row "wrk task-clock" clean wrk_task_ms 1e6
        local cls
        for cls in nginx ksoftirqd/0 ksoftirqd/1 rcu kworker hoplessd kthread-other other; do
            row "thread $cls" clean "thr.$cls" 1
        done
        local c f
        for c in cpu0 cpu1; do
            for f in user sys softirq irq idle steal; do row "$c $f (/proc/stat)" clean "cpu.$c.$f" "$((1000000000 / HZ))"; done
        done
        local k
        for k in $(awk -F'\t' '$2 == "clean" && $4 ~ /^bpfcnt\./ && $5 > 0 { print substr($4, 8) }' "$RAW" | sort -u); do
            row "bpf $k run_time" clean "bpfns.$k" 1
            row "bpf $k runs x1000" clean "bpfcnt.$k" 1000
        done
        echo
        echo "Per round (mode clean): req/s and wrk task-clock us per connection; ratio = req/s / ${WAY_LIST[0]}'s of the same round:"
        echo
        hdr="| round |"; sep="|---|"
        for w in "${WAY_LIST[@]}"; do hdr+=" $w |"; sep+="---|"; done
        echo "$hdr"; echo "$sep"
        awk -F'\t' -v ways="$WAYS" '$2 == "clean" && ($4 == "rps" || $4 == "reqs" || $4 == "wrk_task_ms") { v[$1, $3, $4] = $5; if ($1 > n) n = $1 }
            END { k = split(ways, W, " ")
                for (r = 1; r <= n; r++) { line = "| " r " |"
                    for (i = 1; i <= k; i++) { rq = v[r, W[i], "reqs"]; b = v[r, W[1], "rps"]
                        line = line sprintf(" %.0f (%.2f), %.1f us |", v[r, W[i], "rps"], b > 0 ? v[r, W[i], "rps"] / b : 0,
                                            rq > 0 ? v[r, W[i], "wrk_task_ms"] * 1000 / rq : 0) }
                    print line } }' "$RAW"
        echo
    fi
    if has_mode cl; then
        echo "Mode cl (connect_latency -n $CONNECTS, closed with RST; medians over rounds of each round's percentile, us):"
        echo
        local hdr="| connect() |" sep="|---|" w k
        for w in "${WAY_LIST[@]}"; do hdr+=" $w |"; sep+="---|"; done
        echo "$hdr"; echo "$sep"
        for k in p50 p90 p99 min task; do
            local line="| $k |"
            [[ $k == task ]] && line="| client task-clock per connect+close |"
            for w in "${WAY_LIST[@]}"; do line+=" $(awk -v v="$(medr cl "$w" "cl_${k/task/task_ns}")" 'BEGIN { printf "%.2f", v / 1000 }') |"; done
            echo "$line"
        done
        echo
        echo "Per round, connect() p50 and task-clock per connect+close (us), and each minus ${WAY_LIST[0]}'s of the same round:"
        echo
        hdr="| round |"; sep="|---|"
        for w in "${WAY_LIST[@]}"; do hdr+=" $w |"; sep+="---|"; done
        echo "$hdr"; echo "$sep"
        awk -F'\t' -v ways="$WAYS" '$2 == "cl" && ($4 == "cl_p50" || $4 == "cl_task_ns" || $4 == "cl_min") { v[$1, $3, $4] = $5; if ($1 > n) n = $1 }
            END { k = split(ways, W, " ")
                for (r = 1; r <= n; r++) { line = "| " r " |"
                    for (i = 1; i <= k; i++) {
                        p = v[r, W[i], "cl_p50"] / 1000; t = v[r, W[i], "cl_task_ns"] / 1000
                        dp[i, r] = p - v[r, W[1], "cl_p50"] / 1000; dt[i, r] = t - v[r, W[1], "cl_task_ns"] / 1000
                        dm[i, r] = (v[r, W[i], "cl_min"] - v[r, W[1], "cl_min"]) / 1000
                        line = line sprintf(" %.2f (%+.2f), %.2f (%+.2f) |", p, dp[i, r], t, dt[i, r]) }
                    print line }
                line = "| median of the differences |"
                for (i = 1; i <= k; i++) line = line sprintf(" (%+.2f), (%+.2f) |", med(dp, i, n), med(dt, i, n))
                print line
                # The fastest connect of each round: what the programs add,
                # without the machine'"'"'s slow modes that can move a p50 by
                # microseconds from one round to the next.
                line = "| median of the differences of each round'"'"'s min connect() |"
                for (i = 1; i <= k; i++) line = line sprintf(" (%+.3f) |", med(dm, i, n))
                print line }
            function med(a, i, n,    x, m, j, l, t) { m = 0
                for (j = 1; j <= n; j++) x[++m] = a[i, j]
                for (j = 2; j <= m; j++) { t = x[j]; for (l = j - 1; l >= 1 && x[l] > t; l--) x[l + 1] = x[l]; x[l + 1] = t }
                return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }' "$RAW"
        echo
    fi
    if has_mode pair; then
        local wa wb
        read -r wa wb <<<"$PAIR"
        echo "Mode pair (connect_latency --pair: $wa and $wb in one loop, in turns of $PAIR_BLOCK connects, $CONNECTS each per round; $( ((PAIR_FIN)) && echo "FIN" || echo "RST") close$( ((PAIR_HTTP)) && echo "; each with an HTTP/1.0 request")), us:"
        echo
        echo "| round | $wa p50, min, CPU | $wb p50, min, CPU | $wb - $wa: p50, min, CPU | median over blocks of the p50 difference |$( ((PAIR_HTTP)) && echo " HTTP answer p50: $wa, $wb, ratio |")"
        echo "|---|---|---|---|---|$( ((PAIR_HTTP)) && echo "---|")"
        awk -F'\t' -v a=a -v b=b -v http="$PAIR_HTTP" '$2 == "pair" { v[$1, $3, $4] = $5; if ($1 > n) n = $1 }
            END { for (r = 1; r <= n; r++) {
                    dp[r] = (v[r, b, "pr_p50"] - v[r, a, "pr_p50"]) / 1000
                    dm[r] = (v[r, b, "pr_min"] - v[r, a, "pr_min"]) / 1000
                    dc[r] = (v[r, b, "pr_cpu"] - v[r, a, "pr_cpu"]) / 1000
                    db[r] = v[r, b, "pr_blockdiff"] / 1000
                    hr[r] = v[r, a, "pr_http_p50"] > 0 ? v[r, b, "pr_http_p50"] / v[r, a, "pr_http_p50"] : 0
                    line = sprintf("| %d | %.2f, %.2f, %.2f | %.2f, %.2f, %.2f | %+.2f, %+.3f, %+.2f | %+.2f |", r,
                        v[r, a, "pr_p50"] / 1000, v[r, a, "pr_min"] / 1000, v[r, a, "pr_cpu"] / 1000,
                        v[r, b, "pr_p50"] / 1000, v[r, b, "pr_min"] / 1000, v[r, b, "pr_cpu"] / 1000, dp[r], dm[r], dc[r], db[r])
                    if (http) line = line sprintf(" %.2f, %.2f, %.3f |", v[r, a, "pr_http_p50"] / 1000, v[r, b, "pr_http_p50"] / 1000, hr[r])
                    print line }
                line = sprintf("| median | | | %+.2f, %+.3f, %+.2f | %+.2f |", med(dp, n), med(dm, n), med(dc, n), med(db, n))
                if (http) line = line sprintf(" %.3f |", med(hr, n))
                print line }
            function med(x, n,    y, j, l, t) {
                for (j = 1; j <= n; j++) y[j] = x[j]
                for (j = 2; j <= n; j++) { t = y[j]; for (l = j - 1; l >= 1 && y[l] > t; l--) y[l + 1] = y[l]; y[l + 1] = t }
                return n % 2 ? y[(n + 1) / 2] : (y[n / 2] + y[n / 2 + 1]) / 2 }' "$RAW"
        echo
    fi
    if has_mode tp; then
        echo "Mode tp (events per connection x1000, perf stat -a over the whole wrk run):"
        echo
        local hdr="| tracepoint |" sep="|---|" w t
        for w in "${WAY_LIST[@]}"; do hdr+=" $w |"; sep+="---|"; done
        echo "$hdr"; echo "$sep"
        for t in ${TPS//,/ }; do
            local line="| $t |"
            for w in "${WAY_LIST[@]}"; do line+=" $(percon tp "$w" "tp.$t" 1000) |"; done
            echo "$line"
        done
        echo
    fi
    if has_mode alloc; then
        echo "Mode alloc (slab events per connection x1000, by event, call site and comm; perf record -a -g):"
        echo
        local args=() w f
        for w in "${WAY_LIST[@]}"; do
            for f in "$DATA"/alloc-*-alloc-"${w//+/_}".data; do
                [[ -f $f ]] || continue
                local tag=${f##*/alloc-}; tag=${tag%.data}
                local rr=${tag%%-*} n
                n=$(awk -F'\t' -v r="$rr" -v w="$w" '$1 == r && $2 == "alloc" && $3 == w && $4 == "reqs" { print $5 }' "$RAW")
                perf script -i "$f" -F comm,pid,event,trace,ip,sym --no-inline 2>/dev/null >"$f.txt" || true
                args+=("$w=$n=$f.txt=$(tr ' ' ',' <"$DATA/pids-$tag" 2>/dev/null)")
            done
        done
        python3 "$HERE/perf_buckets.py" --slab --top "${PERF_TOP:-40}" "${args[@]}"
    fi
    if has_mode perf; then
        echo "Mode perf (perf record -a -g -F $PERF_FREQ; ns of CPU per connection):"
        echo
        local args=() w f
        for w in "${WAY_LIST[@]}"; do
            for f in "$DATA"/perf-*-perf-"${w//+/_}".data; do
                [[ -f $f ]] || continue
                local tag=${f##*/perf-}; tag=${tag%.data}
                local rr=${tag%%-*}
                local n
                n=$(awk -F'\t' -v r="$rr" -v w="$w" '$1 == r && $2 == "perf" && $3 == w && $4 == "reqs" { print $5 }' "$RAW")
                perf script -i "$f" -F comm,pid,cpu,period,ip,sym --no-inline 2>/dev/null >"$f.txt" || true
                args+=("$w=$n=$f.txt=$(tr ' ' ',' <"$DATA/pids-$tag" 2>/dev/null)")
            done
        done
        python3 "$HERE/perf_buckets.py" --top "${PERF_TOP:-40}" --focus "$PERF_FOCUS" "${args[@]}"
    fi
}
report | tee "${RESULTS:-/dev/null}"
