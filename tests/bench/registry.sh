#!/usr/bin/env bash
# Live discovery at scale (issue 8 §1): how long a registration takes to
# reach the kernel, how long a one-service edit of the config file takes,
# and hoplessd's memory with many registrations.
#
#   sudo tests/bench/registry.sh
#   REG_NS="1 65536" REG_COUNT=1000 REG_BULK=262144 EDITS=5 sudo tests/bench/registry.sh
#
# For each N of REG_NS: a daemon with N services (the first named `target`,
# none with backends of their own), then
#   1. REG_COUNT registrations spread over the N services, each timed from
#      the API call to its reply (hoplessd replies after the map writes);
#      a sample is then checked in the kernel maps with the CLI;
#   2. (largest N) EDITS one-service edits of the config file, each timed
#      from the rename to the daemon's "config applied" log line;
#   3. (largest N) REG_BULK registrations in all (4 per service at 65,536),
#      then hoplessd's VmRSS / VmHWM and the journal's size.
# Prints a markdown table. Builds hoplessd (Release) unless HOPLESSD is set.
set -euo pipefail
source "$(dirname "$0")/common.sh"
hb_init registry
hb_find_hoplessd
HOPLESS_CLI=${HOPLESS:-$(dirname "$HB_HOPLESSD")/hopless}
[[ -x $HOPLESS_CLI ]] || { cmake --build "$(dirname "$HB_HOPLESSD")" --target hopless_cli >/dev/null 2>&1 || true; }
REG_NS=${REG_NS:-"1 65536"}
REG_COUNT=${REG_COUNT:-1000}
REG_BULK=${REG_BULK:-262144}
EDITS=${EDITS:-5}
LOAD="$(dirname "$0")/api_load.py"

gen() {  # N > yaml
    awk -v n="$1" 'BEGIN {
        print "metrics: { listen: \"127.0.0.1:0\" }"
        print "maps: { max_services: 65536, max_backends: 400000 }"
        print "services:"
        print "  - { name: target, vip: 127.253.255.254, port: 80, backends: [] }"
        for (i = 1; i < n; i++) printf "  - { name: s%d, vip: 127.254.%d.%d, port: 80, backends: [] }\n", i, int(i / 256), i % 256
    }'
}

declare -A P50 P99 MAX
largest=0
for n in $REG_NS; do ((n > largest)) && largest=$n; done
for n in $REG_NS; do
    cfg=$HB_TMP/hl$n.yaml
    gen "$n" >"$cfg"
    hb_log "hoplessd with $n services"
    hb_hoplessd "n$n" "$cfg"
    pin=/sys/fs/bpf/$HB_ID-n$n
    if ((n == largest)); then
        sleep 2.5  # the daemon gives freed heap back every 2 s
        START_RSS=$(hb_rss_kb "$HB_DPID") START_HWM=$(hb_hwm_kb "$HB_DPID")
    fi
    out=$(python3 "$LOAD" "$HB_SOCK" "$n" "$REG_COUNT" 300)
    hb_log "registrations at $n services: $out"
    P50[$n]=$(jq .p50_ms <<<"$out") P99[$n]=$(jq .p99_ms <<<"$out") MAX[$n]=$(jq .max_ms <<<"$out")
    [[ $(jq .bad <<<"$out") == 0 ]] || hb_die "registrations refused: $out"
    # In the kernel: endpoint i is 10.3.(i>>8).(i&255) of service i % n.
    for i in 0 $((REG_COUNT / 2)) $((REG_COUNT - 1)); do
        svc=$((i % n)); [[ $svc == 0 ]] && name=target || name=s$svc
        want="10.3.$(((i >> 8) & 255)).$((i & 255))"
        "$HOPLESS_CLI" --pin-dir "$pin" -j backend list service "$name" | jq -e --arg a "$want" 'any(.[]; .address == $a)' >/dev/null ||
            hb_die "endpoint $i ($want) of $name is not in the kernel maps"
    done
    if ((n == largest)); then
        # One-service edits of the file: rename a new version over it.
        edits=()
        for ((e = 1; e <= EDITS; e++)); do
            sed "s/name: s1, vip: 127.254.0.1, port: 80, backends: \[[^]]*\]/name: s1, vip: 127.254.0.1, port: 80, backends: [ { address: 10.9.0.$e, port: 80 } ]/" "$cfg" >"$cfg.new"
            before=$(grep -c 'config applied in' "$HB_DLOG" || true)
            t0=$(date +%s%N)
            mv -f "$cfg.new" "$cfg"
            for ((w = 0; w < 600; w++)); do
                (( $(grep -c 'config applied in' "$HB_DLOG" || true) > before )) && break
                sleep 0.005
            done
            t1=$(date +%s%N)
            edits+=("$(( (t1 - t0) / 1000000 ))")
            sleep 0.5
        done
        EDIT_MS=$(printf '%s\n' "${edits[@]}" | hb_median)
        hb_log "one-service edits at $n services (ms, rename -> applied): ${edits[*]}"
        # Bulk: REG_BULK registrations in all, 4 per service.
        more=$((REG_BULK - REG_COUNT))
        out=$(python3 - "$HB_SOCK" "$n" "$REG_COUNT" "$more" <<'PY'
import json, socket, sys, time, http.client
class U(http.client.HTTPConnection):
    def __init__(s, p): super().__init__("localhost", timeout=30); s.p = p
    def connect(s):
        k = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); k.connect(s.p); s.sock = k
sock, n, first, more = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c, bad, t = U(sock), 0, time.monotonic()
for j in range(more):
    i = first + j
    svc = i % n
    name = "target" if svc == 0 else f"s{svc}"
    c.request("PUT", f"/v1/services/default/{name}/endpoints/e{i}",
              body=json.dumps({"address": f"10.{4 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}", "port": 8080}))
    r = c.getresponse(); r.read(); bad += r.status // 100 != 2
    if time.monotonic() - t > 900: break
print(json.dumps({"count": j + 1, "bad": bad, "seconds": round(time.monotonic() - t, 1)}))
PY
)
        hb_log "bulk registrations: $out"
        sleep 2.5  # the daemon gives freed heap back every 2 s
        BULK_RSS=$(hb_rss_kb "$HB_DPID") BULK_HWM=$(hb_hwm_kb "$HB_DPID")
        BULK_N=$(( $(jq .count <<<"$out") + REG_COUNT ))
        JOURNAL=$(stat -c %s "$HB_TMP/n$n.state/registry.journal")
    fi
done

echo
echo "| services | registrations timed | API call -> in kernel p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|"
for n in $REG_NS; do echo "| $n | $REG_COUNT | ${P50[$n]} | ${P99[$n]} | ${MAX[$n]} |"; done
echo
echo "One-service edit of the file at $largest services, rename -> applied, median of $EDITS: ${EDIT_MS} ms"
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo "hoplessd at $largest services, started: VmRSS $(mb "$START_RSS") MB, VmHWM $(mb "$START_HWM") MB"
echo "hoplessd at $largest services with $BULK_N registrations: VmRSS $(mb "$BULK_RSS") MB, VmHWM $(mb "$BULK_HWM") MB; journal $((JOURNAL / 1024 / 1024)) MB"
hb_machine
