#!/usr/bin/env bash
# A /metrics scrape at scale (issue 11 §4): hoplessd's resident memory before
# and during a scrape, how long a scrape takes, and how much of the daemon's
# RSS is BPF maps mapped into it (issue 8: none should be).
#
#   sudo tests/bench/scrape.sh
#   SERVICES=10000 PER=4 SCRAPES=5 HOPLESSD=build/hoplessd sudo tests/bench/scrape.sh
#
# SERVICES services: SERVICES-1 of PER backends each (idle: no connection,
# as most of 65,536 services are), and one service "ej" with outlier_detection whose
# one backend is a closed port on loopback: a client in an attached cgroup
# dials it until the backend is ejected, so the daemon's ejection path (it
# resets the kernel's failure count) has run before the last figures.
# For each scrape: VmHWM is reset (clear_refs 5) just before it, so the
# peak is the scrape's own. Prints a markdown table.
set -euo pipefail
# shellcheck source=tests/bench/common.sh
source "$(dirname "$0")/common.sh"
hb_init scrape
hb_find_hoplessd
SERVICES=${SERVICES:-65536}
PER=${PER:-4}
SCRAPES=${SCRAPES:-3}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
hb_cgroup client CG

PIN=/sys/fs/bpf/hopless-$HB_ID
HB_PINS+=("$PIN")
DIR=$HB_TMP/d
mkdir -p "$DIR"
awk -v n="$SERVICES" -v per="$PER" -v port="$PORT" -v cg="$CG" -v closed="$CLOSED" 'BEGIN {
    printf "metrics: { listen: \"127.0.0.1:%d\" }\nattach: [ { cgroup: %s } ]\nservices:\n", port, cg
    printf "  - { name: ej, vip: 127.255.255.1, port: 80, outlier_detection: { consecutive_failures: 3, base_ejection_time: 60 }, backends: [ { address: 127.0.0.1, port: %d } ] }\n", closed
    for (i = 0; i < n - 1; i++) {
        j = int(i / 16)
        printf "  - { name: s%d, vip: 127.255.%d.%d, port: %d, backends: [", i, int(j / 256), j % 256, 1000 + i % 16
        for (k = 0; k < per; k++) {
            b = i * per + k
            printf "%s { address: 127.%d.%d.%d, port: 8080 }", k ? "," : "", 1 + int(b / 65536), int(b / 256) % 256, b % 256
        }
        printf " ] }\n"
    } }' >"$DIR/hopless.yaml"
LOG=$DIR/hoplessd.log
"$HB_HOPLESSD" --config "$DIR/hopless.yaml" --pin-dir "$PIN" --socket "$DIR/sock" --state-dir "$DIR/state" \
    --log-level debug >"$LOG" 2>&1 &
DPID=$!
HB_PIDS+=("$DPID")
for ((i = 0; i < 1200; i++)); do
    grep -q "hoplessd running" "$LOG" 2>/dev/null && break
    kill -0 "$DPID" 2>/dev/null || hb_die "hoplessd exited: $(tail -n 3 "$LOG")"
    sleep 0.1
done
grep -q "hoplessd running" "$LOG" || hb_die "hoplessd did not start within 120 s"
sleep 5  # the heap trim runs every 2 s: steady state

status() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$DPID/status"; }
# RSS of BPF maps mapped into the daemon (anon_inode:bpf-map), MB.
mapped() { awk '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 == "anon_inode:bpf-map") } m && $1 == "Rss:" { s += $2 } END { printf "%.1f", s / 1024 }' "/proc/$DPID/smaps"; }

RSS0=$(status VmRSS) HWM0=$(status VmHWM) MAP0=$(mapped)
hb_log "$SERVICES services x $PER backends; steady: VmRSS $RSS0 MB, VmHWM $HWM0 MB, mapped BPF maps $MAP0 MB; load: $(cut -d' ' -f1-3 /proc/loadavg)"

rows=()
for ((s = 1; s <= SCRAPES; s++)); do
    sleep 3
    before=$(status VmRSS)
    echo 5 >"/proc/$DPID/clear_refs"  # VmHWM := VmRSS now
    read -r secs bytes < <(curl -s -o "$DIR/metrics.txt" -w '%{time_total} %{size_download}\n' --max-time 120 "http://127.0.0.1:$PORT/metrics")
    peak=$(status VmHWM)
    series=$(grep -vc '^#' "$DIR/metrics.txt" || true)
    rows+=("| $s | $before | $peak | $(awk -v p="$peak" -v b="$before" 'BEGIN { printf "%.2f", p / b }') | $secs | $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') | $series | $(mapped) |")
done
sleep 3
RSS1=$(status VmRSS)

# The event loop during scrapes: the control API's latency (GET /v1/health,
# SAMPLES sequential) with no scrape, then while scrapes run back to back.
SAMPLES=${SAMPLES:-200}
latency() {
    local i
    for ((i = 0; i < SAMPLES; i++)); do
        curl -s -o /dev/null -w '%{time_total}\n' --max-time 10 --unix-socket "$DIR/sock" http://hopless/v1/health
    done | sort -n | awk '{ a[NR] = $1 * 1000 } END { printf "%.2f / %.2f / %.2f", a[int(NR * 0.5)], a[int(NR * 0.99)], a[NR] }'
}
LAT0=$(latency)
(for ((i = 0; i < 30; i++)); do curl -s -o /dev/null --max-time 120 "http://127.0.0.1:$PORT/metrics"; done) &
SCRAPER=$!
HB_PIDS+=("$SCRAPER")
sleep 0.5
LAT1=$(latency)
kill "$SCRAPER" 2>/dev/null || true
wait "$SCRAPER" 2>/dev/null || true
sleep 3

# The ejection path: 6 refused connects to ej's closed backend from the
# attached cgroup (the first 3 eject it).
bash -c 'echo $$ > "$1/cgroup.procs"; for i in 1 2 3 4 5 6; do (exec 3<>/dev/tcp/127.255.255.1/80) 2>/dev/null; done; true' x "$CG"
for ((i = 0; i < 50; i++)); do
    grep -q "backend 127.0.0.1:$CLOSED ejected" "$LOG" && break
    sleep 0.1
done
EJECTED=$(grep -c "backend 127.0.0.1:$CLOSED ejected" "$LOG" || true)
sleep 3
RSS2=$(status VmRSS) MAP2=$(mapped)

echo
echo "hoplessd $SERVICES services x $PER backends: steady VmRSS $RSS0 MB (VmHWM since start $HWM0 MB); mapped BPF maps $MAP0 MB"
echo
echo "| scrape | VmRSS before MB | VmHWM during MB | peak / before | time s | text MB | samples | mapped BPF maps MB |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "after the scrapes: VmRSS $RSS1 MB; after $EJECTED ejection(s): VmRSS $RSS2 MB, mapped BPF maps $MAP2 MB"
echo "GET /v1/health p50 / p99 / max ms ($SAMPLES sequential): $LAT0 without a scrape, $LAT1 during scrapes"
echo "the daemon's own account of its scrapes (the longest step is the longest the event loop waited on a scrape):"
grep -o 'metrics: a scrape of .*' "$LOG" | tail -n 2
grep -o 'the longest step [0-9.]* ms' "$LOG" | awk '{ v = $4 + 0; if (v > m) m = v; s += v; n++ } END { if (n) printf "longest step over %d scrapes: max %.2f ms, mean %.2f ms\n", n, m, s / n }'
[[ -z ${KEEP_LOG:-} ]] || cp "$LOG" "$KEEP_LOG"  # the daemon log, kept for a look
