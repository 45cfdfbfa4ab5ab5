#!/usr/bin/env bash
# Many hosts (issue 10): how long a registration on one host takes to reach
# another host's kernel map through etcd. A real etcd (one member, Debian's
# etcd-server, on a loopback port, its data dir under the run's temp dir)
# and three hoplessd "hosts" a, b and c on this machine: a defines the
# service, b registers and deregisters COUNT endpoints one after another, and
# etcd_propagation times each from b's API call until c's pinned backends
# map holds it (and, deregistered, no longer does). p50/p99/max as JSON and
# a markdown row; the load average before and after (others may be
# compiling on the same cores: say so when quoting the figures).
#
# At scale (SCALE_SERVICES=N): every host's file has N services (the timed
# one is `target`), and after the timed run b registers SCALE_REGS endpoints
# spread over them; then the time until c holds them all, b's and c's
# VmRSS/VmHWM, and a fresh host d's start (its list of everything) and memory.
#
#   sudo tests/bench/etcd_latency.sh
#   COUNT=1000 LEASE_TTL=10 HOPLESSD=build/hoplessd sudo -E tests/bench/etcd_latency.sh
#   SCALE_SERVICES=65536 SCALE_REGS=262144 HOPLESSD=build/hoplessd sudo -E tests/bench/etcd_latency.sh
set -euo pipefail
# shellcheck source=tests/bench/common.sh
source "$(dirname "$0")/common.sh"
hb_init etcd
hb_find_hoplessd
COUNT=${COUNT:-1000}
LEASE_TTL=${LEASE_TTL:-10}
SCALE_SERVICES=${SCALE_SERVICES:-0}
SCALE_REGS=${SCALE_REGS:-0}
LOAD="$(dirname "$0")/api_load.py"
command -v etcd >/dev/null || hb_die "etcd is not installed (tools/install-deps.sh: etcd-server)"
BUILD=$(dirname "$HB_HOPLESSD")
cmake --build "$BUILD" --target etcd_propagation >"$HB_TMP/prop-build.log" 2>&1 ||
    { tail -n 20 "$HB_TMP/prop-build.log" >&2; hb_die "cannot build etcd_propagation in $BUILD"; }
PROP=$BUILD/tests/bench/etcd_propagation

free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 12700))
        ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return 0; }
    done
    hb_die "no free port"
}
CPORT=$(free_port) PPORT=$(free_port)
EP=http://127.0.0.1:$CPORT
etcd --name m0 --data-dir "$HB_TMP/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
    --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "m0=http://127.0.0.1:$PPORT" --logger zap --log-outputs stderr --log-level warn \
    >"$HB_TMP/etcd.log" 2>&1 </dev/null &
HB_PIDS+=($!)
for ((i = 0; i < 100; i++)); do
    curl -s --max-time 1 "$EP/health" | grep -q '"health":"true"' && break
    sleep 0.1
done
curl -s --max-time 1 "$EP/health" | grep -q '"health":"true"' || hb_die "etcd did not start: $(tail -n 5 "$HB_TMP/etcd.log")"

declare -A SOCK DPID
config() {  # HOST
    echo "metrics: { listen: \"127.0.0.1:0\" }"
    echo "etcd: { endpoints: [ \"$EP\" ], prefix: /$HB_ID, host: host-$1, lease_ttl: $LEASE_TTL }"
    if ((SCALE_SERVICES)); then
        awk -v n="$SCALE_SERVICES" 'BEGIN {
            print "maps: { max_services: 65536, max_backends: 400000 }"
            print "services:"
            print "  - { name: target, vip: 127.255.77.1, port: 80, backends: [] }"
            for (i = 1; i < n; i++) printf "  - { name: s%d, vip: 127.254.%d.%d, port: 80, backends: [] }\n", i, int(i / 256), i % 256
        }'
    else
        echo "services: []"
    fi
}
for h in a b c; do
    config "$h" >"$HB_TMP/$h.yaml"
    hb_hoplessd "$h" "$HB_TMP/$h.yaml"
    SOCK[$h]=$HB_SOCK DPID[$h]=$HB_DPID
done
PIN_C=/sys/fs/bpf/$HB_ID-c
SVC=default/target
if ((!SCALE_SERVICES)); then
    SVC=default/web
    curl -s --fail --unix-socket "${SOCK[a]}" -X PUT http://h/v1/services/default/web \
        -d '{"vip": "127.255.77.1", "port": 80}' >/dev/null || hb_die "a cannot define web"
fi
for ((i = 0; i < 100; i++)); do
    "$BUILD/hopless" --pin-dir "$PIN_C" service show 127.255.77.1:80 >/dev/null 2>&1 && break
    sleep 0.05
done

hb_log "machine: $(hb_machine | tr '\n' ';')"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
hb_log "$COUNT registrations on b, each timed until c's kernel map holds it (load average $load_before)"
out=$("$PROP" "${SOCK[b]}" "$PIN_C" "$SVC" 10.9.0.1 20000 "$COUNT" 600)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$out"
echo
echo "| registrations | register -> c's map p50 | p99 | max | deregister -> gone p50 | p99 | b's API p50 | p99 | load before / after |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
jq -r --arg lb "$load_before" --arg la "$load_after" \
    '"| \(.registrations) | \(.register_p50_ms) ms | \(.register_p99_ms) ms | \(.register_max_ms) ms | \(.deregister_p50_ms) ms | \(.deregister_p99_ms) ms | \(.api_p50_ms) ms | \(.api_p99_ms) ms | \($lb) / \($la) |"' <<<"$out"

((SCALE_SERVICES && SCALE_REGS)) || exit 0
echo
hb_log "$SCALE_REGS registrations on b over $SCALE_SERVICES services"
remote_on() { curl -s --max-time 5 --unix-socket "${SOCK[$1]}" http://h/v1/health | jq -r '.etcd.remote_endpoints'; }
t0=$(date +%s%N)
bulk=$(python3 "$LOAD" "${SOCK[b]}" "$SCALE_SERVICES" "$SCALE_REGS" 1200)
t1=$(date +%s%N)
hb_log "b's API: $bulk"
for ((i = 0; i < 1200; i++)); do
    [[ "$(remote_on c)" == "$SCALE_REGS" ]] && break
    sleep 0.5
done
t2=$(date +%s%N)
[[ "$(remote_on c)" == "$SCALE_REGS" ]] || hb_die "c holds $(remote_on c) of b's $SCALE_REGS endpoints"
sleep 2.5  # the daemons give freed heap back every 2 s
echo "b: $SCALE_REGS registrations through its API in $(( (t1 - t0) / 1000000 )) ms; c held them all $(( (t2 - t1) / 1000000 )) ms after the last reply"
for h in b c; do
    echo "host $h: VmRSS $(( $(hb_rss_kb "${DPID[$h]}") / 1024 )) MB, VmHWM $(( $(hb_hwm_kb "${DPID[$h]}") / 1024 )) MB"
done
# The same file and registrations on a daemon without etcd, for comparison
# (COMPARE=0 leaves it out).
if [[ "${COMPARE:-1}" == 1 ]]; then
    grep -v '^etcd:' "$HB_TMP/b.yaml" >"$HB_TMP/n.yaml"
    hb_hoplessd n "$HB_TMP/n.yaml"
    nbulk=$(python3 "$LOAD" "$HB_SOCK" "$SCALE_SERVICES" "$SCALE_REGS" 1200)
    sleep 2.5
    echo "host n (no etcd), the same $SCALE_REGS registrations ($(jq -c '{seconds, p50_ms, p99_ms}' <<<"$nbulk")): VmRSS $(( $(hb_rss_kb "$HB_DPID") / 1024 )) MB, VmHWM $(( $(hb_hwm_kb "$HB_DPID") / 1024 )) MB"
    hb_kill_pid "$HB_DPID"
fi
config d >"$HB_TMP/d.yaml"
t0=$(date +%s%N)
hb_hoplessd d "$HB_TMP/d.yaml"
SOCK[d]=$HB_SOCK
for ((i = 0; i < 1200; i++)); do
    [[ "$(remote_on d)" == "$SCALE_REGS" ]] && break
    sleep 0.1
done
t1=$(date +%s%N)
sleep 2.5
echo "host d started after them: it held all $SCALE_REGS endpoints $(( (t1 - t0) / 1000000 )) ms after its start; $(grep -o 'etcd: listed.*' "$HB_DLOG" | head -n 1)"
echo "host d: VmRSS $(( $(hb_rss_kb "$HB_DPID") / 1024 )) MB, VmHWM $(( $(hb_hwm_kb "$HB_DPID") / 1024 )) MB; etcd's data dir $(du -sm "$HB_TMP/etcd" | cut -f1) MB"
