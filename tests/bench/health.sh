#!/usr/bin/env bash
# Active health checks at scale (issue 11 §2): thousands of backends probed
# from the daemon's one event loop, which must keep serving the control API.
#
#   sudo tests/bench/health.sh
#   SERVICES=100 PER=50 INTERVAL=1 SAMPLES=200 sudo tests/bench/health.sh
#
# One network namespace holds one nginx on 0.0.0.0:8080, so every address of
# 127.0.0.0/8 in it answers: SERVICES services of PER backends each
# (127.1.X.Y:8080) are all real. hoplessd probes them from inside that
# namespace (health_check.netns, HTTP GET, every INTERVAL s). Two runs, same
# services, with and without health_check:
#   - time until every backend has been probed once (checks on);
#   - hoplessd's CPU over 10 s (utime + stime, % of one core);
#   - the control API's latency: SAMPLES sequential GET /v1/health, p50/p99;
# then (checks on) nginx is stopped: the time until every service fails
# open (each backend judged and applied, service by service).
# Prints a markdown table. Builds hoplessd (Release) unless HOPLESSD is set.
set -euo pipefail
# shellcheck source=tests/bench/common.sh
source "$(dirname "$0")/common.sh"
hb_init health
hb_find_hoplessd
SERVICES=${SERVICES:-100}
PER=${PER:-50}
INTERVAL=${INTERVAL:-1}
SAMPLES=${SAMPLES:-200}
TOTAL=$((SERVICES * PER))

NS=${HB_ID}hc
ip netns add "$NS"
HB_NETNS+=("$NS")
ip -n "$NS" link set lo up
hb_cgroup srv SRV_CG
HB_SERVER_CPU="" hb_nginx "$NS" 0.0.0.0 probe-target "$SRV_CG"
NGINX_PID=$HB_LAST_PID

gen() {  # CHECKS(0|1) > yaml
    awk -v s="$SERVICES" -v per="$PER" -v chk="$1" -v iv="$INTERVAL" -v ns="$NS" 'BEGIN {
        print "metrics: { listen: \"127.0.0.1:0\" }"
        print "services:"
        for (i = 0; i < s; i++) {
            printf "  - name: s%d\n    vip: 127.254.%d.%d\n    port: 80\n", i, int(i / 250), i % 250 + 1
            if (chk) printf "    health_check: { protocol: http, path: /, interval: %s, timeout: %s, netns: %s }\n", iv, iv / 2, ns
            printf "    backends:\n"
            for (j = 0; j < per; j++) { n = i * per + j; printf "      - { address: 127.1.%d.%d, port: 8080 }\n", int(n / 250), n % 250 + 1 }
        }
    }'
}

api() { curl -s --max-time 10 --unix-socket "$SOCK" "http://hopless$1"; }

# start CHECKS: a daemon on a fresh pin dir; sets DPID, SOCK, LOG
start() {
    local pin=/sys/fs/bpf/hopless-$HB_ID-$1 dir=$HB_TMP/d$1
    mkdir -p "$dir"
    HB_PINS+=("$pin")
    gen "$1" >"$dir/hopless.yaml"
    SOCK=$dir/sock LOG=$dir/hoplessd.log
    "$HB_HOPLESSD" --config "$dir/hopless.yaml" --pin-dir "$pin" --socket "$SOCK" --state-dir "$dir/state" >"$LOG" 2>&1 &
    DPID=$!
    HB_PIDS+=("$DPID")
    local i
    for ((i = 0; i < 600; i++)); do
        grep -q "hoplessd running" "$LOG" 2>/dev/null && return 0
        sleep 0.05
    done
    hb_die "hoplessd did not start: $(tail -n 3 "$LOG")"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

latency() {  # SAMPLES GETs of /v1/health: "p50 p99" in ms
    local i
    for ((i = 0; i < SAMPLES; i++)); do
        curl -s -o /dev/null -w '%{time_total}\n' --max-time 10 --unix-socket "$SOCK" http://hopless/v1/health
    done | sort -n | awk '{ a[NR] = $1 * 1000 } END { printf "%.2f %.2f", a[int(NR * 0.5)], a[int(NR * 0.99)] }'
}

measure() {  # CHECKS -> sets CPU, LAT
    local t0 t1 hz
    hz=$(getconf CLK_TCK)
    t0=$(cpu_ticks "$DPID")
    sleep 10
    t1=$(cpu_ticks "$DPID")
    CPU=$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.1f", d / hz / 10 * 100 }')
    LAT=$(latency)
}

hb_log "services: $SERVICES x $PER = $TOTAL backends, interval $INTERVAL s; load: $(cut -d' ' -f1-3 /proc/loadavg)"

start 0
measure 0
CPU0=$CPU LAT0=$LAT
hb_kill_pid "$DPID"

start 1
T0=$(date +%s%3N)
probed() { api /v1/health/backends | jq '[.services[].backends[] | select(.last_probe.ok == true)] | length'; }
for ((i = 0; i < 600; i++)); do
    (($(probed) >= TOTAL)) && break
    sleep 0.1
done
FIRST=$(($(date +%s%3N) - T0))
if [[ -n ${PERF:-} ]]; then  # where the loop's time goes, with checks on
    perf record -g -p "$DPID" -o "$HB_TMP/perf.data" -- sleep 5 >/dev/null 2>&1
    perf report -i "$HB_TMP/perf.data" --stdio --no-children --percent-limit 1.5 2>/dev/null | grep -v '^$' | head -n 120 >&2
fi
measure 1
CPU1=$CPU LAT1=$LAT

hb_kill_pid "$NGINX_PID"
T0=$(date +%s%3N)
panics() { curl -s "$(grep -o 'http://[^ ]*/metrics' "$LOG" | head -1)" | awk '$1 ~ /^hopless_service_panic\{/ { s += $2 } END { print s + 0 }'; }
for ((i = 0; i < 600; i++)); do
    (($(panics) >= SERVICES)) && break
    sleep 0.1
done
OPEN=$(($(date +%s%3N) - T0))
QUAR=$(grep -c "is unhealthy:" "$LOG" || true)

echo
echo "| $TOTAL backends, HTTP check every $INTERVAL s from a netns | without checks | with checks |"
echo "| --- | --- | --- |"
echo "| hoplessd CPU (10 s, % of one core) | $CPU0 | $CPU1 |"
echo "| GET /v1/health p50 / p99 (ms, $SAMPLES sequential) | ${LAT0/ / \/ } | ${LAT1/ / \/ } |"
echo "| every backend probed once after start | - | $FIRST ms |"
echo "| nginx stopped -> all $SERVICES services failing open | - | $OPEN ms ($QUAR backends judged unhealthy) |"
