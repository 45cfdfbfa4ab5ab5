#!/usr/bin/env bash
# Reliability under load (issue 4 §4), bounded in time (~1 min) and in count.
#
#   sudo HOPLESSD=build/hoplessd bash tests/e2e/test_reliability.sh
#
# A client task (a cgroup the daemon attaches, in a netns with no default
# route) dials a VIP in a steady loop; four backends (one nginx in a netns of
# ours, one address each) answer with their identity. While it runs:
#
#   1. kill -9:      the daemon is killed twice (once idle, once right after a
#                    config change) and restarted; expect 0 failed connects and
#                    0 connects outside the old and new backend sets.
#   2. churn:        the backend set changes CHURN_STEPS times; each connect
#                    notes the epoch before and after it, and must land in the
#                    union of the sets that could be in force: 0 misroutes,
#                    0 failed connects.
#   3. bad configs:  a stream of invalid configs; each must be rejected (one
#                    "config rejected" line each, no "applied"), 0 failed
#                    connects, and the last good set stays in force.
#
# Self-contained (its own helpers). The last line is "N passed, M failed"; exit
# status 1 on any failure, 77 when not root or without BPF/tools (1 under
# HOPLESS_REQUIRE_BPF=1).
set -uo pipefail

REPO=${HOPLESS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HOPLESSD=${HOPLESSD:-$REPO/build/hoplessd}
CHURN_STEPS=${CHURN_STEPS:-24}
PASSED=0 FAILED=0

say() { printf '[reliability %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
skip() {
    if [[ ${HOPLESS_REQUIRE_BPF:-0} == 1 ]]; then
        say "FAIL (HOPLESS_REQUIRE_BPF=1): $*"
        echo "0 passed, 1 failed"
        exit 1
    fi
    say "SKIP: $*"
    echo "0 passed, 0 failed"
    exit 77
}
check() {  # NAME CONDITION-STATUS DETAIL
    if [[ $2 == 0 ]]; then
        PASSED=$((PASSED + 1))
        say "PASS $1 ($3)"
    else
        FAILED=$((FAILED + 1))
        say "FAIL $1 ($3)"
    fi
}

[[ $EUID -eq 0 ]] || skip "needs root (netns, cgroups, BPF)"
[[ -x $HOPLESSD ]] || skip "no hoplessd at $HOPLESSD (set HOPLESSD)"
for t in ip nginx timeout awk; do command -v "$t" >/dev/null || skip "missing $t"; done
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[[ -n $CG2 ]] || skip "no cgroup2 mount in /proc/mounts"
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || skip "cannot mount bpffs"

# ---- resources of this run, all removed by cleanup ---------------------------------
ID=hlr$$
TMP=$(mktemp -d "/tmp/hopless-reliability-XXXXXX")
PIN=/sys/fs/bpf/$ID
CG=$CG2/$ID
NS_SW=${ID}sw NS_C=${ID}c NS_S=${ID}s
NET=10.201.7
VIP=127.255.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
CFG=$TMP/cfg/hopless.yaml
PIDS=()
DPID=

cleanup() {
    set +e
    exec 2>/dev/null  # no job-status noise after the result line
    local p
    [[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in $(ip netns pids "$NS_C" 2>/dev/null) $(ip netns pids "$NS_S" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    for p in $(cat "$CG/client/cgroup.procs" "$CG/servers/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    [[ -d $PIN ]] && "$HOPLESSD" --cleanup --pin-dir "$PIN" >/dev/null 2>&1
    [[ -d $PIN ]] && rm -rf "$PIN"
    ip netns del "$NS_C" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    ip netns del "$NS_SW" 2>/dev/null
    for p in "$CG/client" "$CG/servers" "$CG"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -d $p ]] || break; rmdir "$p" 2>/dev/null && break; sleep 0.1; done
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM HUP

# ---- topology: client and servers on a bridge that lives in its own netns -----------
setup() {
    ip netns add "$NS_SW" && ip netns add "$NS_C" && ip netns add "$NS_S" || return 1
    ip -n "$NS_SW" link add br0 type bridge && ip -n "$NS_SW" link set br0 up || return 1
    local ns i=0
    for ns in "$NS_C" "$NS_S"; do
        i=$((i + 1))
        ip -n "$NS_SW" link add "p$i" type veth peer name eth0 netns "$ns" || return 1
        ip -n "$NS_SW" link set "p$i" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        ip netns exec "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=1024 net.ipv4.tcp_tw_reuse=1 \
            net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_syn_retries=2 >/dev/null
    done
    ip -n "$NS_C" addr add "$NET.2/24" dev eth0
    for i in 1 2 3 4; do ip -n "$NS_S" addr add "$NET.1$i/24" dev eth0 || return 1; done
    mkdir -p "$CG/client" "$CG/servers" "$TMP/cfg" "$TMP/nginx" || return 1
    {
        echo "daemon off; worker_processes 1; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/error.log warn;"
        echo "events { worker_connections 4096; }"
        echo "http { access_log off; client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx;"
        echo "  fastcgi_temp_path $TMP/nginx; uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;"
        for i in 1 2 3 4; do
            echo "  server { listen $NET.1$i:8080 backlog=4096; location / { default_type text/plain; return 200 \"be$i\\n\"; } }"
        done
        echo "}"
    } >"$TMP/nginx/nginx.conf"
    bash -c 'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$0" nginx -c "$2" -p "$3" -e "$3/error.log"' \
        "$NS_S" "$CG/servers" "$TMP/nginx/nginx.conf" "$TMP/nginx" >"$TMP/nginx/stdout.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        ip netns exec "$NS_C" bash -c "exec 3<>/dev/tcp/$NET.14/8080" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# write_cfg FILE BACKEND-NUMBER...: the one service, round robin over be<n>.
write_cfg() {
    local f=$1 b
    shift
    {
        echo "metrics: { listen: \"127.0.0.1:0\" }"
        echo "control: { socket: $TMP/hopless.sock }"
        echo "attach: [ { cgroup: $CG/client, namespace: default } ]"
        echo "services:"
        echo "  - name: web"
        echo "    vip: $VIP"
        echo "    port: 80"
        echo "    algorithm: round_robin"
        echo "    backends:"
        for b in "$@"; do echo "      - { address: $NET.1$b, port: 8080 }"; done
    } >"$f"
}
# set_cfg BACKEND-NUMBER...: atomically replaces the live config (one inotify event).
set_cfg() { write_cfg "$CFG.next" "$@" && mv -f "$CFG.next" "$CFG"; }

LOG=$TMP/hoplessd.log
count_log() { grep -c "$1" "$LOG" 2>/dev/null || true; }
wait_log() {  # PATTERN MORE-THAN [TIMEOUT-S]: until the log has more than N such lines
    local i n=$((${3:-15} * 20))
    for ((i = 0; i < n; i++)); do
        (($(count_log "$1") > $2)) && return 0
        sleep 0.05
    done
    return 1
}
start_daemon() {
    "$HOPLESSD" --config "$CFG" --pin-dir "$PIN" --state-dir "$TMP/state" >>"$LOG" 2>&1 &
    DPID=$!
}

# ---- the load: a bash loop in the client cgroup and netns, no fork per connect ------
# Each line: epoch-before epoch-after ok|fail identity
write_load_script() {
    cat >"$TMP/load.sh" <<'EOF'
end=$((SECONDS + MAXS)) i=0
exec 4>>"$OUT"
while ((i < MAXN && SECONDS < end)) && [[ ! -e $STOP ]]; do
    i=$((i + 1))
    read -r e1 <"$EPOCH"
    id=
    if { exec 3<>"/dev/tcp/$VIP/80"; } 2>/dev/null; then
        printf 'GET / HTTP/1.0\r\n\r\n' >&3
        while IFS= read -r -t 2 line <&3; do id=$line; done
        exec 3<&-
    fi
    read -r e2 <"$EPOCH"
    if [[ $id == be[0-9] ]]; then echo "$e1 $e2 ok $id" >&4; else echo "$e1 $e2 fail -" >&4; fi
done
EOF
}
set_epoch() { echo "$1" >"$TMP/epoch.tmp" && mv -f "$TMP/epoch.tmp" "$TMP/epoch"; }
start_load() {  # NAME MAX-SECONDS
    : >"$TMP/$1.out"
    set_epoch 0
    rm -f "$TMP/stop"
    OUT=$TMP/$1.out EPOCH=$TMP/epoch STOP=$TMP/stop VIP=$VIP MAXN=400000 MAXS=$2 \
        bash -c 'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$0" bash "$2"' "$NS_C" "$CG/client" "$TMP/load.sh" \
        >"$TMP/$1.err" 2>&1 &
    LOADPID=$!
    PIDS+=("$LOADPID")
}
stop_load() {
    touch "$TMP/stop"
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$LOADPID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$LOADPID" 2>/dev/null
    wait "$LOADPID" 2>/dev/null
}
# count FILE ALLOWED-AWK-SETS -> "total failed misrouted"
# SETS is "epoch:backends,...;..." e.g. "0:12;1:23"; a connect between epochs
# e1 and e2 may land in any set from e1 to e2+1.
count() {
    awk -v sets="$2" '
        BEGIN { n = split(sets, s, ";"); for (k = 1; k <= n; k++) { split(s[k], kv, ":"); S[kv[1]] = kv[2]; if (kv[1] + 0 > maxe) maxe = kv[1] + 0 } }
        { total++
          if ($3 != "ok") { failed++; next }
          b = substr($4, 3); okk = 0
          hi = $2 + 1; if (hi > maxe) hi = maxe
          for (e = $1; e <= hi; e++) if (index(S[e], b)) okk = 1
          if (!okk) { mis++; if (mis <= 5) printf "misroute: %s\n", $0 > "/dev/stderr" } }
        END { printf "%d %d %d\n", total, failed, mis }' "$1"
}

setup || { say "setup failed"; echo "0 passed, 1 failed"; exit 1; }
write_load_script
say "hoplessd $HOPLESSD; VIP $VIP:80; backends $NET.11-14:8080; pin dir $PIN"

# ---- 1. kill -9 under load ------------------------------------------------------------
write_cfg "$CFG" 1 2
start_daemon
if ! wait_log 'applied in' 0 30; then
    cat "$LOG" >&2
    check "daemon starts" 1 "no 'applied' line in 30 s"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
start_load kill 40
sleep 1.5
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; DPID=
say "killed hoplessd (-9); the load goes on for 1.5 s without a daemon"
sleep 1.5
n=$(count_log 'applied in')
start_daemon
wait_log 'applied in' "$n" 30
restart_line=$(grep 'applied in' "$LOG" | tail -1)
adopted=$(grep -c 'adopted 1 services' "$LOG")
sleep 1
# a change, and a kill -9 while the daemon is (about to be) applying it
set_cfg 2 3
sleep 0.17
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; DPID=
say "killed hoplessd (-9) right after a config change"
sleep 1
n=$(count_log 'applied in')
start_daemon
wait_log 'applied in' "$n" 30
sleep 1
set_epoch 1   # from here the new set must be in force
sleep 1.5
stop_load
read -r total failed mis < <(count "$TMP/kill.out" "0:123;1:23")
say "kill -9: $total connects, $failed failed, $mis misrouted; restart: ${restart_line#*applied in }"
check "kill -9: connects were made" $((total < 100)) "$total connects"
check "kill -9: 0 failed connects" $((failed != 0)) "$failed failed of $total"
check "kill -9: 0 misroutes (after the restart only be2/be3)" $((mis != 0)) "$mis misrouted"
check "kill -9: restarted daemon adopted the pinned service" $((adopted < 1)) "$adopted adoption lines"
[[ $restart_line == *"0 added, 0 changed, 0 removed"* ]]
check "kill -9: restart with an unchanged config changes nothing" $? "${restart_line#*applied in }"

# ---- 2. backend churn under load ------------------------------------------------------------
SETS=(23 1 12 2 34 3 4 41 13 24 1234 1 2 3 4 12 23 34 41 123 234 341 412 1 2)
((CHURN_STEPS > ${#SETS[@]} - 1)) && CHURN_STEPS=$((${#SETS[@]} - 1))
# epoch 0 is the set in force now (2 3, from part 1)
spec="0:${SETS[0]}"
start_load churn 60
sleep 0.5
rejected_before=$(count_log 'config rejected')
terminated_before=$(grep -o '[0-9]* redirected sockets terminated' "$LOG" | awk '{s+=$1} END {print s+0}')
churn_ok=0
for ((k = 1; k <= CHURN_STEPS; k++)); do
    set=${SETS[k]}
    spec+=";$k:$set"
    n=$(count_log 'applied in')
    # shellcheck disable=SC2046
    set_cfg $(grep -o . <<<"$set")
    if ! wait_log 'applied in' "$n" 15; then churn_ok=1; say "change $k was not applied"; break; fi
    set_epoch "$k"
    sleep 0.35   # more than the watcher's debounce: no reload of step k is still pending
done
sleep 0.5
stop_load
read -r total failed mis < <(count "$TMP/churn.out" "$spec")
extra=$(($(count_log 'config rejected') - rejected_before))
say "churn: $CHURN_STEPS changes, $total connects, $failed failed, $mis misrouted"
check "churn: every change applied" $churn_ok "$CHURN_STEPS changes"
check "churn: connects were made" $((total < 100)) "$total connects"
check "churn: 0 misroutes (outside old and new sets)" $((mis != 0)) "$mis misrouted of $total"
# A request still in flight on a backend that left the set is ended on purpose
# (socket termination, issue 3): such failures are allowed, as many as the
# daemon says it terminated; any other failure is not.
terminated=$(($(grep -o '[0-9]* redirected sockets terminated' "$LOG" | awk '{s+=$1} END {print s+0}') - terminated_before))
say "churn: $terminated sockets terminated by the daemon because their backend left the set"
check "churn: 0 failed connects beyond terminated sockets" $((failed > terminated)) "$failed failed of $total, $terminated terminated"
check "churn: no config rejected" $((extra != 0)) "$extra rejected"

# ---- 3. a stream of bad configs under load ----------------------------------------------------
last=${SETS[CHURN_STEPS]}
good=$(cat "$CFG")
tmpbad=$TMP/bad
mkdir -p "$tmpbad"
nb=0
bad() { nb=$((nb + 1)); BADF=$tmpbad/$nb.yaml; }  # then: CMD >"$BADF"
svc="  - { name: web, vip: $VIP, port: 80, backends: [ { address: $NET.11, port: 8080 } ] }"
head="attach: [ { cgroup: $CG/client } ]"
bad; printf '%s\nservices:\n%s\nbogus_key: 1\n' "$head" "$svc" >"$BADF"                      # unknown key
bad; printf '%s\nservices:\n  - { name: web, vip: [unclosed\n' "$head" >"$BADF"                 # YAML syntax
bad; printf '%s\nservices:\n  - { name: web, vip: %s, port: 80, backends: [ { address: %s.11, port: 0 } ] }\n' "$head" "$VIP" "$NET" >"$BADF"
bad; printf '%s\nservices:\n  - { name: web, vip: %s, port: 80, backends: [ { address: 10.201.7.300, port: 8080 } ] }\n' "$head" "$VIP" >"$BADF"
bad; printf '%s\nservices:\n%s\n%s\n' "$head" "$svc" "$svc" >"$BADF"                           # defined twice
bad; printf '%s\nservices:\n%s\n  - { name: web2, vip: %s, port: 80 }\n' "$head" "$svc" "$VIP" >"$BADF"   # VIP twice
bad; printf 'attach: [ { cgroup: %s/no-such-cgroup } ]\nservices:\n%s\n' "$CG" "$svc" >"$BADF"  # missing cgroup
bad; : >"$BADF"                                                                                 # empty file
bad; printf '%s\nservices: web\n' "$head" >"$BADF"                                              # not a list
bad; printf '%s\nservices:\n  - { name: web, vip: %s, port: 80, backends: [ { address: %s.11, port: 8080 }, { address: %s.11, port: 8080 } ] }\n' "$head" "$VIP" "$NET" "$NET" >"$BADF"
bad; printf '%s\nservices:\n  - { name: web, vip: %s, port: 80, algorithm: fastest, backends: [] }\n' "$head" "$VIP" >"$BADF"
bad; printf '%s\nservices:\n  - { name: web, vip: %s, port: 80, backends: [ { address: %s.11, port: 8080, weight: 70000 } ] }\n' "$head" "$VIP" "$NET" >"$BADF"
bad; printf '%s\nservices:\n  - { name: "we b", namespace: "a/b", vip: %s, port: 80 }\n' "$head" "$VIP" >"$BADF"
bad; printf '%s\nservices:\n  - { name: web, vip: %s, port: 80, backends: [ { address: %s.11, port: 8080, state: quarantined } ] }\n' "$head" "$VIP" "$NET" >"$BADF"
bad; { printf '%s\nmaps: { max_services: 16 }\nservices:\n%s\n' "$head" "$svc"
  for i in $(seq 16); do printf '  - { name: x%d, vip: 127.255.1.%d, port: 80 }\n' "$i" "$i"; done; } >"$BADF"  # too many
bad; printf '\x00\x01\xff\xfe binary \x7f garbage\n' >"$BADF"
start_load bad 40
sleep 0.5
nbad=0 rejected=0 applied_bad=0
for ((f = 1; f <= nb; f++)); do
    nbad=$((nbad + 1))
    r=$(count_log 'config rejected') a=$(count_log 'applied in')
    cp "$tmpbad/$f.yaml" "$CFG.next" && mv -f "$CFG.next" "$CFG"
    if wait_log 'config rejected' "$r" 10; then rejected=$((rejected + 1)); else say "bad config $f was not rejected"; fi
    (($(count_log 'applied in') > a)) && { applied_bad=$((applied_bad + 1)); say "bad config $f was applied"; }
done
sleep 0.5
# the good config back: must apply, and the set must still be the last good one
a=$(count_log 'applied in')
printf '%s\n' "$good" >"$CFG.next" && mv -f "$CFG.next" "$CFG"
wait_log 'applied in' "$a" 10
sleep 0.5
stop_load
read -r total failed mis < <(count "$TMP/bad.out" "0:$last")
say "bad configs: $nbad written, $rejected rejected, $applied_bad applied; $total connects, $failed failed, $mis misrouted"
check "bad configs: each rejected" $((rejected != nbad)) "$rejected of $nbad"
check "bad configs: none applied" $((applied_bad != 0)) "$applied_bad applied"
check "bad configs: 0 failed connects" $((failed != 0)) "$failed failed of $total"
check "bad configs: the last good backends stay in force" $((mis != 0 || total < 100)) "$mis outside {$last} of $total"
kill -0 "$DPID" 2>/dev/null
check "bad configs: the daemon is still running" $? "pid $DPID"

kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; DPID=
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
