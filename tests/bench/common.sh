# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source this
# Shared helpers of tests/bench/run.sh and scale.sh (sourced, not run).
#
# Everything made here carries the run's unique id ($HB_ID) and is removed by
# hb_cleanup, which hb_init installs as the EXIT trap (INT/TERM exit through
# it too): network namespaces (and with them the veths, the bridge and every
# nftables table, which all live inside them), cgroups, pin dirs, the
# processes started, the temp dir.
#
# Traffic rules: the bridge lives in a "switch" netns of its own, so nothing
# of the benchmark touches the host's network; client namespaces have no
# default route; VIPs are in 127.255.0.0/16, ClusterIP-style nftables
# addresses in 10.202.0.0/16 routed only inside the client namespaces.

HB_REPO=${HB_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HB_NET=10.201.0            # the bridge subnet (/24), inside our own namespaces
HB_SVC_NET=10.202          # ClusterIP-style addresses for nftables (/16)
HB_PIDS=()                 # processes we started (killed by id at cleanup)
HB_NETNS=()                # namespaces we made
HB_CGROUPS=()              # cgroups we made (deepest last)
HB_PINS=()                 # pin dirs of our daemons
HB_CLEANED=0

hb_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
hb_die() { hb_log "ERROR: $*"; exit 1; }

hb_init() {  # NAME
    [[ $EUID -eq 0 ]] || { echo "$1: needs root (netns, cgroups, BPF)" >&2; exit 77; }
    HB_ID="hb$$"
    HB_TMP=$(mktemp -d "/tmp/hopless-$1-XXXXXX")
    trap hb_cleanup EXIT
    trap 'hb_log "interrupted"; exit 130' INT TERM HUP
    hb_detect_cgroup2
    grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf
    for tool in ip nft wrk iperf3 haproxy nginx taskset jq bpftool; do
        command -v "$tool" >/dev/null || hb_die "missing $tool (run tools/install-deps.sh)"
    done
}

hb_detect_cgroup2() {
    HB_CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
    [[ -n $HB_CG2 ]] || hb_die "no cgroup2 mount in /proc/mounts"
}

hb_kill_pid() {  # PID: TERM, wait up to 2 s, then KILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

hb_cleanup() {
    ((HB_CLEANED)) && return 0
    HB_CLEANED=1
    set +e
    local pid ns cg pin i
    for pid in "${HB_PIDS[@]}"; do hb_kill_pid "$pid"; done
    # Anything still running inside our namespaces or cgroups was started by us.
    for ns in "${HB_NETNS[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ((i = ${#HB_CGROUPS[@]} - 1; i >= 0; i--)); do
        cg=${HB_CGROUPS[i]}
        [[ -f $cg/cgroup.procs ]] || continue
        for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for pin in "${HB_PINS[@]}"; do
        [[ -d $pin ]] && "$HB_HOPLESSD" --cleanup --pin-dir "$pin" >/dev/null 2>&1
        [[ -d $pin ]] && rm -rf "$pin"
    done
    for ns in "${HB_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    for ((i = ${#HB_CGROUPS[@]} - 1; i >= 0; i--)); do
        cg=${HB_CGROUPS[i]}
        for ((j = 0; j < 20; j++)); do
            [[ -d $cg ]] || break
            rmdir "$cg" 2>/dev/null && break
            sleep 0.1
        done
    done
    [[ -n ${HB_TMP:-} && ${HB_KEEP_TMP:-0} != 1 ]] && rm -rf "$HB_TMP"
    hb_log "cleaned up ${HB_ID:-}"
}

# ---- binaries ------------------------------------------------------------

# hb_find_hoplessd: $HOPLESSD when given; else builds build-bench (Release)
# and uses it. Always through cmake, which rebuilds only what changed: a
# binary left from an older tree must never be what gets measured.
hb_find_hoplessd() {
    if [[ -n "${HOPLESSD:-}" ]]; then
        [[ -x $HOPLESSD ]] || hb_die "HOPLESSD=$HOPLESSD is not an executable"
        HB_HOPLESSD=$HOPLESSD
        return 0
    fi
    local dir=$HB_REPO/build-bench
    hb_log "building hoplessd in $dir (Release)"
    cmake -S "$HB_REPO" -B "$dir" -DCMAKE_BUILD_TYPE=Release >"$HB_TMP/hoplessd-build.log" 2>&1 &&
        cmake --build "$dir" -j"$(nproc)" --target hoplessd >>"$HB_TMP/hoplessd-build.log" 2>&1 ||
        { tail -n 30 "$HB_TMP/hoplessd-build.log" >&2; hb_die "cannot build hoplessd in $dir"; }
    HB_HOPLESSD=$dir/hoplessd
}

hb_build_connect_latency() {
    local c
    for c in "${CONNECT_LATENCY:-}" "$HB_REPO/build-bench/tests/bench/connect_latency" "$HB_REPO/build/tests/bench/connect_latency"; do
        [[ -n $c && -x $c && $c -nt $HB_REPO/tests/bench/connect_latency.cpp ]] && { HB_CL=$c; return 0; }
    done
    local dir=$HB_REPO/build-bench/bench-tools
    cmake -S "$HB_REPO/tests/bench" -B "$dir" -DCMAKE_BUILD_TYPE=Release >"$HB_TMP/cl-build.log" 2>&1 &&
        cmake --build "$dir" --target connect_latency >>"$HB_TMP/cl-build.log" 2>&1 ||
        { cat "$HB_TMP/cl-build.log" >&2; hb_die "cannot build connect_latency"; }
    HB_CL=$dir/connect_latency
}

# ---- namespaces, cgroups -------------------------------------------------

hb_sysctls() {  # NS: the TIME_WAIT settings of BENCHMARKING.md, in that netns only
    ip netns exec "$1" sysctl -qw net.ipv4.tcp_max_tw_buckets=1024 net.ipv4.tcp_tw_reuse=1 \
        net.ipv4.ip_local_port_range="1024 65000" net.core.somaxconn=4096 \
        net.ipv4.tcp_max_syn_backlog=4096 >/dev/null
}

hb_switch() {  # the bridge, in a namespace of its own
    HB_SW=${HB_ID}sw
    ip netns add "$HB_SW"
    HB_NETNS+=("$HB_SW")
    ip -n "$HB_SW" link set lo up
    ip -n "$HB_SW" link add br0 type bridge
    ip -n "$HB_SW" link set br0 up
    HB_PORTS=0
}

# hb_netns NAME HOSTPART -> namespace ${HB_ID}NAME with $HB_NET.HOSTPART/24 on
# a veth into the bridge; no default route.
hb_netns() {
    local ns=${HB_ID}$1 host=$2 port
    HB_PORTS=$((HB_PORTS + 1))
    port=p$HB_PORTS
    ip netns add "$ns"
    HB_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip -n "$HB_SW" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$HB_SW" link set "$port" master br0 up
    ip -n "$ns" addr add "$HB_NET.$host/24" dev eth0
    ip -n "$ns" link set eth0 up
    hb_sysctls "$ns"
}

# hb_cgroup NAME VAR: makes a cgroup under ours and stores its path in VAR.
# (Not $(hb_cgroup ...): a subshell would lose the record that cleanup needs.)
hb_cgroup() {
    local cg=$HB_CG2/$HB_ID
    if [[ ! -d $cg ]]; then
        mkdir "$cg"
        HB_CGROUPS+=("$cg")
    fi
    mkdir "$cg/$1"
    HB_CGROUPS+=("$cg/$1")
    printf -v "$2" '%s' "$cg/$1"
}

# hb_run CGROUP NS CPU CMD...: runs CMD in cgroup CGROUP (first, while /sys is
# still the host's) and then in netns NS, pinned to CPU ("" = no pinning).
# The shell execs into CMD, so the pid of hb_run is the pid of CMD.
HB_RUN_SH='echo $$ > "$1/cgroup.procs" && shift 2 && exec ip netns exec "$0" "$@"'
hb_pinning() {  # CPU -> HB_PINCMD (array)
    HB_PINCMD=()
    [[ -n $1 && ${HB_PIN:-1} == 1 ]] && HB_PINCMD=(taskset -c "$1")
    return 0
}
hb_run() {
    local cg=$1 ns=$2
    hb_pinning "$3"
    shift 3
    bash -c "$HB_RUN_SH" "$ns" "$cg" x "${HB_PINCMD[@]}" "$@"
}

# hb_bg LOG CGROUP NS CPU CMD...: hb_run in the background; the pid is recorded.
hb_bg() {
    local log=$1 cg=$2 ns=$3
    hb_pinning "$4"
    shift 4
    bash -c "$HB_RUN_SH" "$ns" "$cg" x "${HB_PINCMD[@]}" "$@" >"$log" 2>&1 &
    HB_LAST_PID=$!
    HB_PIDS+=("$HB_LAST_PID")
}

hb_wait_tcp() {  # NS ADDR PORT: until something listens (bounded: 10 s)
    local i
    for ((i = 0; i < 100; i++)); do
        ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.1
    done
    hb_die "nothing listens on $2:$3 in $1"
}

# ---- servers ---------------------------------------------------------------

# hb_nginx NS ADDR IDENT CGROUP: one worker on $ADDR:8080 answering "IDENT\n".
hb_nginx() {
    local ns=$1 addr=$2 ident=$3 cg=$4 dir=$HB_TMP/nginx-$3
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    server {
        listen $addr:8080 backlog=4096;
        location / { default_type text/plain; return 200 "$ident\n"; }
    }
}
EOF
    hb_bg "$dir/stdout.log" "$cg" "$ns" "${HB_SERVER_CPU-1}" nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log"
    hb_wait_tcp "$ns" "$addr" 8080
}

hb_iperf_server() {  # NS ADDR CGROUP
    hb_bg "$HB_TMP/iperf-$2.log" "$3" "$1" "${HB_SERVER_CPU-1}" iperf3 -s -B "$2" -p 5201
    hb_wait_tcp "$1" "$2" 5201
}

# ---- hoplessd ----------------------------------------------------------------

# hb_hoplessd NAME CONFIG: starts a daemon with pin dir /sys/fs/bpf/$HB_ID-NAME,
# waits for its first "applied" line. Sets HB_DPID, HB_DLOG.
hb_hoplessd() {
    local name=$1 cfg=$2 pin=/sys/fs/bpf/$HB_ID-$1 i
    HB_PINS+=("$pin")
    HB_DLOG=$HB_TMP/hoplessd-$name.log HB_SOCK=$HB_TMP/$name.sock
    "$HB_HOPLESSD" --config "$cfg" --pin-dir "$pin" --socket "$HB_TMP/$name.sock" --state-dir "$HB_TMP/$name.state" >"$HB_DLOG" 2>&1 &
    HB_DPID=$!
    HB_PIDS+=("$HB_DPID")
    for ((i = 0; i < 1200; i++)); do  # bounded: 120 s (65536 services load slowly)
        grep -qs 'applied in' "$HB_DLOG" && return 0
        kill -0 "$HB_DPID" 2>/dev/null || { tail -c 2000 "$HB_DLOG" >&2; hb_die "hoplessd $name exited"; }
        sleep 0.1
    done
    cat "$HB_DLOG" >&2
    hb_die "hoplessd $name did not apply its config in 120 s"
}

hb_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hb_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Kernel memory of the maps under a pin dir, as bpftool reports it (bytes).
hb_map_bytes() {
    local pin=$1 f total=0 b
    for f in "$pin"/*; do
        [[ -f $f ]] || continue
        b=$(bpftool -j map show pinned "$f" 2>/dev/null | jq -r '.bytes_memlock // 0' 2>/dev/null) || continue
        [[ $b =~ ^[0-9]+$ ]] && total=$((total + b))
    done
    echo "$total"
}

# "config ... applied in N us ... M map writes" -> "N M" (the last such line)
hb_applied() {
    grep 'applied in' "$1" | tail -1 | sed -E 's/.*applied in ([0-9]+) us.* ([0-9]+) map writes.*/\1 \2/'
}

# ---- load generators and their figures ----------------------------------------

# wrk output -> "reqs p50_us p99_us errors"
hb_parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v + 0 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v * 1000 }
            if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60e6 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1e6 }
            return v + 0
        }
        /Requests\/sec:/ { reqs = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
        /Non-2xx/ { err += $5 }
        END { printf "%s %s %s %d\n", (reqs == "" ? 0 : reqs), (p50 == "" ? 0 : p50), (p99 == "" ? 0 : p99), err }'
}

# Median of numbers on stdin (one per line).
hb_median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

hb_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# key=value line -> value of KEY
hb_kv() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

hb_machine() {
    local model
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "nproc $(nproc), kernel $(uname -r), CPU ${model:-unknown}, $(awk '/MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
