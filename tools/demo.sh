#!/usr/bin/env bash
# hopless demo: two nginx "containers" and a client on one host; the client
# dials `web` and hopless spreads its connections over both, with no proxy.
#
#   sudo tools/demo.sh            # set up, show, tear down
#   sudo tools/demo.sh --keep     # ...and leave it running until Ctrl-C
#                                 # (or HOPLESS_DEMO_KEEP=1)
#
# What it builds (all of it removed at the end, on Ctrl-C, and on failure):
#
#   netns hopless-demo-<pid>-c1   nginx on 10.200.0.11:80  "hello from container 1"
#   netns hopless-demo-<pid>-c2   nginx on 10.200.0.12:80  "hello from container 2"
#   netns hopless-demo-<pid>-cli  the client, 10.200.0.2, no default route,
#                                 /etc/netns/<it>/hosts: "127.255.0.1 web"
#   a bridge joining the three (no address on the host: nothing leaves the box)
#   cgroup <cgroup2>/hopless-demo-<pid>/client: the client runs in it
#   hoplessd with its own config and pin dir (/sys/fs/bpf/hopless-demo-<pid>)
#
# Environment: HOPLESSD, HOPLESS (binaries; default <repo>/build/...),
# HOPLESS_DEMO_KEEP=1 (like --keep), HOPLESS_DEMO_KEEP_SECS (how long --keep
# waits at most, default 3600).
set -uo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
KEEP="${HOPLESS_DEMO_KEEP:-0}"
KEEP_SECS="${HOPLESS_DEMO_KEEP_SECS:-3600}"

for arg in "$@"; do
    case "$arg" in
    --keep | -k) KEEP=1 ;;
    -h | --help)
        sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "demo: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

# ------------------------------------------------------------------ presentation

if [[ -t 1 ]]; then
    B=$'\e[1m' DIM=$'\e[2m' GRN=$'\e[32m' RED=$'\e[31m' CYN=$'\e[36m' RST=$'\e[0m'
else
    B="" DIM="" GRN="" RED="" CYN="" RST=""
fi
STEP=0
step() {
    STEP=$((STEP + 1))
    printf '\n%s==> %d. %s%s\n' "$B" "$STEP" "$*" "$RST"
}
say()  { printf '    %s\n' "$*"; }
note() { printf '    %s%s%s\n' "$DIM" "$*" "$RST"; }
cmd()  { printf '    %s$ %s%s\n' "$CYN" "$*" "$RST"; }
ok()   { printf '    %s%s%s\n' "$GRN" "$*" "$RST"; }
die()  {
    printf '\n%sdemo: %s%s\n' "$RED" "$*" "$RST" >&2
    exit 1
}
indent() { sed 's/^/      /'; }

[[ $EUID -eq 0 ]] || die "run me as root (sudo $0): the demo makes network namespaces, a cgroup and loads BPF"

# ------------------------------------------------------------------ names (unique per run)

ID=$$
NS_C1="hopless-demo-$ID-c1"
NS_C2="hopless-demo-$ID-c2"
NS_C3="hopless-demo-$ID-c3"
NS_CLI="hopless-demo-$ID-cli"
BR="hld${ID}br"
PIN="/sys/fs/bpf/hopless-demo-$ID"
VIP=127.255.0.1
TMP=""
CG_PARENT=""
CG=""
DAEMON_PID=""
NGINX_PIDS=()
KEEP_PID=""
CLEANED=0

# ------------------------------------------------------------------ teardown (always)

stop_pid() {  # PID: a process this script started; TERM, wait (bounded), then KILL
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

teardown() {
    local rc=$?
    # A second Ctrl-C (or a TERM) must not cut the teardown short.
    trap - EXIT
    trap '' INT TERM
    ((CLEANED)) && exit "$rc"
    CLEANED=1
    printf '\n%s==> Tearing down%s\n' "$B" "$RST"
    [[ -n "$KEEP_PID" ]] && kill "$KEEP_PID" 2>/dev/null
    if [[ -n "$DAEMON_PID" ]]; then
        stop_pid "$DAEMON_PID"
        say "stopped hoplessd (pid $DAEMON_PID)"
    fi
    if [[ -e "$PIN" && -n "${HOPLESSD:-}" && -x "$HOPLESSD" ]]; then
        "$HOPLESSD" --cleanup --pin-dir "$PIN" >/dev/null 2>&1 && say "hoplessd --cleanup: detached and unpinned $PIN"
    fi
    [[ -e "$PIN" ]] && rm -rf "$PIN"
    local pid
    for pid in "${NGINX_PIDS[@]}"; do stop_pid "$pid"; done
    ((${#NGINX_PIDS[@]})) && say "stopped the demo's nginx instances"
    local cg i
    for cg in "$CG" "$CG_PARENT"; do
        [[ -n "$cg" && -d "$cg" ]] || continue
        for ((i = 0; i < 20; i++)); do  # only the demo's own clients can be in it
            [[ -s "$cg/cgroup.procs" ]] || break
            while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$cg/cgroup.procs"
            sleep 0.1
        done
        rmdir "$cg" 2>/dev/null
    done
    [[ -n "$CG_PARENT" ]] && say "removed cgroup $CG_PARENT"
    local ns
    for ns in "$NS_CLI" "$NS_C1" "$NS_C2" "$NS_C3"; do
        if [[ -e "/run/netns/$ns" ]]; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
            ip netns del "$ns" 2>/dev/null
        fi
        rm -rf "/etc/netns/$ns"
    done
    local l
    for l in "$BR" "hld${ID}v0" "hld${ID}v1" "hld${ID}v2" "hld${ID}v3"; do ip link del "$l" 2>/dev/null; done
    say "removed the network namespaces, the bridge and /etc/netns/$NS_CLI"
    [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
    if ((rc == 0)); then ok "done: nothing of the demo is left on this host"; fi
    exit "$rc"
}
trap teardown EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ 1. prerequisites

step "Checking prerequisites"
say "installing what is missing (tools/install-deps.sh; a no-op when all is there)"
"$SCRIPT_DIR/install-deps.sh" || die "tools/install-deps.sh failed"

HOPLESSD="${HOPLESSD:-$REPO/build/hoplessd}"
HOPLESS="${HOPLESS:-$REPO/build/hopless}"
if [[ ! -x "$HOPLESSD" || ! -x "$HOPLESS" ]]; then
    say "building hoplessd and hopless into $REPO/build (first run only; a few minutes)"
    BUILD_LOG="$(mktemp /tmp/hopless-demo-build.XXXXXX)"
    if ! { cmake -S "$REPO" -B "$REPO/build" &&
        cmake --build "$REPO/build" -j "$(nproc)" --target hoplessd hopless_cli; } >"$BUILD_LOG" 2>&1; then
        tail -n 30 "$BUILD_LOG" | indent
        die "the build failed (full log: $BUILD_LOG)"
    fi
    rm -f "$BUILD_LOG"
    HOPLESSD="$REPO/build/hoplessd" HOPLESS="$REPO/build/hopless"
fi
say "hoplessd: $HOPLESSD"
say "hopless:  $HOPLESS"

CGROOT=""
while read -r _ dir type _; do
    if [[ "$type" == cgroup2 ]]; then CGROOT="$dir"; break; fi
done </proc/mounts
[[ -n "$CGROOT" ]] || die "no cgroup v2 mount in /proc/mounts: hopless attaches to cgroup v2"
say "cgroup v2 is mounted at $CGROOT"
if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { found = 1 } END { exit !found }' /proc/mounts; then
    mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs at /sys/fs/bpf"
    say "mounted bpffs at /sys/fs/bpf"
fi
[[ -e "/run/netns/$NS_CLI" || -e "$PIN" ]] && die "names of this run are taken (pid $ID): try again"

MPORT=""
for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { MPORT=$p; break; }
done
[[ -n "$MPORT" ]] || die "no free port for metrics"
TMP="$(mktemp -d "/tmp/hopless-demo-$ID.XXXXXX")"

# ------------------------------------------------------------------ 2. the host

step "Building a small container host: two web tasks and a client"
note "Each task is a network namespace on one Linux bridge (10.200.0.0/24, which exists"
note "only inside those namespaces). The client has no default route: it can reach the"
note "bridge and nothing else."
ip link add "$BR" type bridge || die "cannot create bridge $BR"
ip link set "$BR" up
# The host's own address on the bridge: where hoplessd's name responder
# listens (dns.listen), reached by tasks only through dns.vip:53.
ip addr add 10.200.0.1/24 dev "$BR"
add_task() {  # NS ADDR VETH
    local ns="$1" addr="$2" veth="$3"
    ip netns add "$ns" || die "cannot create netns $ns"
    ip -n "$ns" link set lo up
    ip link add "$veth" type veth peer name "${veth}p" || die "cannot create veth $veth"
    ip link set "${veth}p" netns "$ns" name eth0
    ip link set "$veth" master "$BR" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
}
add_task "$NS_C1" 10.200.0.11 "hld${ID}v1"
add_task "$NS_C2" 10.200.0.12 "hld${ID}v2"
add_task "$NS_CLI" 10.200.0.2 "hld${ID}v0"
add_task "$NS_C3" 10.200.0.13 "hld${ID}v3"
say "netns $NS_C1   10.200.0.11   (container 1)"
say "netns $NS_C2   10.200.0.12   (container 2)"
say "netns $NS_CLI  10.200.0.2    (the client)"

start_nginx() {  # N NS ADDR
    local n="$1" ns="$2" addr="$3" dir="$TMP/nginx-$1"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $dir/tmp-body;
  server {
    listen $addr:80;
    location / { return 200 "hello from container $n (nginx at $addr)\n"; }
  }
}
EOF
    ip netns exec "$ns" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
        >"$dir/stdout.log" 2>&1 &
    NGINX_PIDS+=($!)
}
start_nginx 1 "$NS_C1" 10.200.0.11
start_nginx 2 "$NS_C2" 10.200.0.12
start_nginx 3 "$NS_C3" 10.200.0.13
for n in 1 2 3; do
    up=0
    for ((i = 0; i < 100; i++)); do
        if ip netns exec "$NS_CLI" curl -s --max-time 2 "http://10.200.0.1$n/" 2>/dev/null | grep -q "container $n"; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) || die "nginx of container $n did not come up: $(cat "$TMP/nginx-$n/error.log" 2>/dev/null)"
done
say "nginx runs in each web task (its own config in $TMP, not the system's nginx)"

CG_PARENT="$CGROOT/hopless-demo-$ID"
CG="$CG_PARENT/client"
mkdir -p "$CG" || die "cannot create cgroup $CG"
say "cgroup $CG holds the client's processes"

mkdir -p "/etc/netns/$NS_CLI"
printf '127.0.0.1 localhost\n%s web\n' "$VIP" >"/etc/netns/$NS_CLI/hosts"
say "/etc/netns/$NS_CLI/hosts says '$VIP web' (as ECS writes hosts entries into a task)"

# Runs a command as the client: into the cgroup first (ip netns exec remounts
# /sys and would hide the cgroup tree), then into the client's netns.
as_client() {
    bash -c 'echo $$ >"$1/cgroup.procs" || exit 125; ns="$2"; shift 2; exec ip netns exec "$ns" "$@"' \
        as-client "$CG" "$NS_CLI" "$@"
}

# ------------------------------------------------------------------ 3. before

step "Before hopless: the client dials web"
cmd "curl -s web      (in the client's netns and cgroup)"
out="$(as_client curl -sS --connect-timeout 2 --max-time 3 web 2>&1)"
printf '%s\n' "${out:-(nothing)}" | indent
note "web is $VIP, an address nothing listens on: without hopless the connect goes nowhere."
note "Today a task would need a sidecar proxy (an Envoy per task) or DNS round-robin to get here."

# ------------------------------------------------------------------ 4. hoplessd

step "Starting hoplessd"
CFG="$TMP/hopless.yaml"
cat >"$CFG" <<EOF
# hopless demo config
metrics: { listen: "127.0.0.1:$MPORT" }
control: { socket: "$TMP/hopless.sock" }
state_dir: "$TMP/state"
dns: { listen: [ "10.200.0.1:53" ], vip: 127.255.255.254, zone: hopless.internal }
attach:
  - { cgroup: "$CG", namespace: default }
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    algorithm: round_robin
    backends:
      - { address: 10.200.0.11, port: 80 }
      - { address: 10.200.0.12, port: 80 }
EOF
say "config $CFG:"
grep -v '^#' "$CFG" | indent
LOG="$TMP/hoplessd.log"
cmd "hoplessd --config $CFG --pin-dir $PIN &"
"$HOPLESSD" --config "$CFG" --pin-dir "$PIN" >"$LOG" 2>&1 &
DAEMON_PID=$!
running=0
for ((i = 0; i < 100; i++)); do
    if grep -q "hoplessd running" "$LOG"; then running=1; break; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
((running)) || die "hoplessd did not start: $(tail -n 5 "$LOG")"
sed -E 's/^\[[^]]*\] \[hoplessd\] //' "$LOG" | indent
note "The BPF programs are now attached to the client's cgroup: its connect() to $VIP:80"
note "is rewritten, in the kernel, to one of the backends. No proxy, no extra hop."

# ------------------------------------------------------------------ 5. after

step "With hopless: the client dials web six times"
cmd "for i in 1 2 3 4 5 6; do curl -s web; done      (in the client's netns and cgroup)"
answers=()
for ((i = 1; i <= 6; i++)); do
    a="$(as_client curl -s --connect-timeout 2 --max-time 3 web 2>&1)"
    answers+=("$a")
    printf '      %d: %s\n' "$i" "${a:-(no answer)}"
done
alternates=1
for ((i = 0; i < 6; i++)); do
    case "${answers[i]}" in
    *"container 1"* | *"container 2"*) ;;
    *) alternates=0 ;;
    esac
    if ((i > 0)) && [[ "${answers[i]}" == "${answers[i - 1]}" ]]; then alternates=0; fi
done
if ((alternates)); then
    ok "round robin: container 1, container 2, container 1, ... each connection went straight to a backend"
else
    printf '    %sthe answers do not alternate between container 1 and container 2%s\n' "$RED" "$RST"
fi

step "What hopless sees"
cli() {
    cmd "hopless --pin-dir $PIN $*"
    local out rc
    out="$("$HOPLESS" --pin-dir "$PIN" "$@" 2>&1)"
    rc=$?
    if ((rc != 0)); then
        printf '%s\n' "$out" | indent
        note "(the CLI exited $rc)"
    elif [[ -z "$out" ]]; then
        note "(no output)"
    else
        printf '%s\n' "$out" | indent
    fi
}
cli service list
cli stats
cmd "curl -s http://127.0.0.1:$MPORT/metrics | grep connections_total"
curl -s --max-time 3 "http://127.0.0.1:$MPORT/metrics" | grep -E '^hopless_(service|backend)_connections_total' | indent
note "The CLI reads the pinned maps directly: it works while hoplessd is down, too."

((alternates)) || die "the demo did not alternate between the two containers (hoplessd log: $LOG)"

step "hopless top while the client dials web"
note "The client dials web in a loop for a few seconds (bounded: 5 s, 500 connects); hopless top"
note "shows what the kernel sees of it, per service: new connects/s, active, errors/s, bytes/s, RTT."
load_end=$((SECONDS + 5))
( for ((i = 0; i < 500 && SECONDS < load_end; i++)); do as_client curl -s -o /dev/null --max-time 1 web; done ) &
LOAD_PID=$!
if [[ -t 1 && -t 0 ]]; then
    cmd "hopless --pin-dir $PIN top      (live for 4 s; q quits it when you run it yourself)"
    sleep 0.5
    timeout -s INT 4 "$HOPLESS" --pin-dir "$PIN" top || true
fi
cmd "hopless --pin-dir $PIN top interval 2 | cat      (not a terminal: one sample)"
sleep 0.5
"$HOPLESS" --pin-dir "$PIN" top interval 2 2>&1 | indent
wait "$LOAD_PID" 2>/dev/null || true

# ------------------------------------------------------------------ 6. live

step "A task that starts registers itself; a new service is found by name"
note "Container 3 (10.200.0.13) starts. Its runtime hook (hopless oci-hook) or the task"
note "itself registers it with hoplessd's control API, with a TTL it keeps alive:"
SOCK="$TMP/hopless.sock"
cmd "hopless endpoint register web address 10.200.0.13 port 80 ttl 60"
"$HOPLESS" --socket "$SOCK" endpoint register web address 10.200.0.13 port 80 ttl 60 2>&1 | indent
cmd "for i in 1 2 3; do curl -s web; done      (the client, at once)"
for ((i = 1; i <= 3; i++)); do
    printf '      %d: %s\n' "$i" "$(as_client curl -s --connect-timeout 2 --max-time 3 web 2>&1)"
done
cmd "hopless endpoint list service web"
"$HOPLESS" --socket "$SOCK" endpoint list service web 2>&1 | indent

note "Names: the client's resolv.conf comes from hopless; the name responder is reached"
note "through the datapath at dns.vip:53, so the client needs no route to it."
"$HOPLESS" --config "$CFG" resolv namespace default >"/etc/netns/$NS_CLI/resolv.conf"
cmd "hopless resolv namespace default > /etc/netns/$NS_CLI/resolv.conf"
indent <"/etc/netns/$NS_CLI/resolv.conf"
note "A new service 'api' is defined through the API, after the client started:"
cmd "echo '{name: api, port: 80, backends: [{address: 10.200.0.13, port: 80}]}' | hopless service apply -"
echo '{name: api, port: 80, backends: [{address: 10.200.0.13, port: 80}]}' |
    "$HOPLESS" --socket "$SOCK" service apply - 2>&1 | indent
cmd "curl -s api      (the client, by its short name, at once)"
api_answer="$(as_client curl -s --connect-timeout 2 --max-time 3 api 2>&1)"
printf '      %s\n' "${api_answer:-(no answer)}"
cmd "dig +short api.default.hopless.internal      (from the client)"
as_client dig +short +time=2 +tries=1 api.default.hopless.internal 2>&1 | indent
if [[ "$api_answer" == *"container 3"* ]]; then
    ok "container 3 registered itself and 'api' resolved and connected the moment it was defined"
else
    die "the client did not reach 'api' by name (hoplessd log: $LOG)"
fi

# ------------------------------------------------------------------ 7. keep?

if [[ "$KEEP" == 1 ]]; then
    step "Leaving it running (--keep): press Ctrl-C to tear everything down"
    say "try it yourself (as root):"
    say "  bash -c 'echo \$\$ > $CG/cgroup.procs; exec ip netns exec $NS_CLI curl -s web'"
    say "  $HOPLESS --pin-dir $PIN service list"
    say "  curl -s http://127.0.0.1:$MPORT/metrics | grep ^hopless_"
    note "(it tears down by itself after ${KEEP_SECS}s)"
    sleep "$KEEP_SECS" &
    KEEP_PID=$!
    wait "$KEEP_PID"
    kill "$KEEP_PID" 2>/dev/null
fi
exit 0
