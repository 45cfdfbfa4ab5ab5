#!/usr/bin/env bash
# hopless side-by-side benchmark: one command, one run, every way interleaved.
#
#   sudo tests/bench/run.sh                      # default: 3 rounds, ~6 min
#   ROUNDS=5 DURATION=10 sudo tests/bench/run.sh # longer, steadier
#
# A 2-backend nginx service lives in network namespaces on a bridge (the bridge
# in a namespace of its own). A client namespace + cgroup reaches it:
#
#   direct        wrk -> backend 1's own address (the physical limit)
#   direct+hook   the same from the hopless-attached cgroup: what the connect
#                 hook costs traffic that is not for a VIP
#   hopless-1     VIP of a 1-backend service (compare with direct)
#   nft-1         nftables DNAT of a ClusterIP-style address, 1 backend
#   haproxy-1     haproxy on the client's loopback (sidecar model), 1 backend
#   hopless-2     VIP of the 2-backend service, round robin
#   nft-2         nftables DNAT, numgen round robin over 2 backends (own netns:
#                 its conntrack must not tax the other ways)
#   haproxy-2     haproxy sidecar, round robin over 2 backends
#
# Figures per way and round: short-connection req/s (wrk, Connection: close),
# keep-alive req/s, p50/p99 (wrk --latency), bulk throughput (iperf3, to a
# 1-backend service of each way: iperf3 needs its two connections on one
# server), connect() and connect+GET latency (connect_latency). Rounds run
# the ways in turn (rotating the start) and the table shows medians and the
# ratio to direct.
#
# Knobs (env): ROUNDS (3), DURATION (4 s per wrk run), IPERF_TIME (3 s),
# CONNECTS (2000 per connect_latency run), CONNS (16 wrk connections),
# WAYS (space-separated subset, default all), HAPROXY_MODE (http|tcp),
# EXTRA_SERVICES / EXTRA_CGROUPS (0: more services and attached cgroups in
# the daemon's maps, to show the datapath's cost stays flat at scale),
# HB_PIN (1: client side on CPU 0, servers on CPU 1; 0: no pinning),
# RESULTS (file to write the markdown to, besides stdout), HOPLESSD.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/common.sh
source "$HERE/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
IPERF_TIME=${IPERF_TIME:-3}
CONNECTS=${CONNECTS:-2000}
CONNS=${CONNS:-16}
HAPROXY_MODE=${HAPROXY_MODE:-http}
ALL_WAYS="direct direct+hook hopless-1 nft-1 haproxy-1 hopless-2 nft-2 haproxy-2"
WAYS=${WAYS:-$ALL_WAYS}
EXTRA_SERVICES=${EXTRA_SERVICES:-0}
EXTRA_CGROUPS=${EXTRA_CGROUPS:-0}
CLIENT_CPU=0
# shellcheck disable=SC2034  # read by common.sh
HB_SERVER_CPU=1
((EXTRA_SERVICES >= 0 && EXTRA_SERVICES <= 65533 && EXTRA_CGROUPS >= 0 && EXTRA_CGROUPS <= 8192)) ||
    { echo "run.sh: EXTRA_SERVICES 0-65533, EXTRA_CGROUPS 0-8192" >&2; exit 2; }
((ROUNDS >= 1 && ROUNDS <= 50 && DURATION >= 1 && DURATION <= 120 && IPERF_TIME >= 1 && IPERF_TIME <= 60)) ||
    { echo "run.sh: ROUNDS 1-50, DURATION 1-120, IPERF_TIME 1-60" >&2; exit 2; }

hb_init bench
HB_KEEP_TMP=${HB_KEEP_TMP:-0}
hb_find_hoplessd
hb_build_connect_latency
START=$(date -u '+%Y-%m-%d %H:%M UTC')
MACHINE=$(hb_machine)
hb_log "run $HB_ID: rounds=$ROUNDS duration=${DURATION}s iperf=${IPERF_TIME}s connects=$CONNECTS ways: $WAYS"

# ---- topology ----------------------------------------------------------------
hb_switch
hb_netns c 2     # the client task (direct, hopless, haproxy sidecar)
hb_netns n 3     # the client task of the nftables ways (conntrack stays here)
hb_netns b1 11
hb_netns b2 12
C=${HB_ID}c N=${HB_ID}n B1=$HB_NET.11 B2=$HB_NET.12
hb_cgroup servers SRV
hb_cgroup plain PLAIN   # a task without hopless
hb_cgroup task HL       # a task with hopless attached

hb_nginx "${HB_ID}b1" "$B1" be1 "$SRV"
hb_nginx "${HB_ID}b2" "$B2" be2 "$SRV"
hb_iperf_server "${HB_ID}b1" "$B1" "$SRV"

# hopless: VIPs in 127.255.0.0/16.
cat >"$HB_TMP/hopless.yaml" <<EOF
metrics: { listen: "127.0.0.1:0" }
control: { socket: $HB_TMP/hopless.sock }
attach:
  - { cgroup: $HL, namespace: default }
services:
  - { name: web1, vip: 127.255.0.1, port: 80, backends: [ { address: $B1, port: 8080 } ] }
  - name: web2
    vip: 127.255.0.2
    port: 80
    algorithm: round_robin
    backends: [ { address: $B1, port: 8080 }, { address: $B2, port: 8080 } ]
  - { name: bulk, vip: 127.255.0.3, port: 5201, backends: [ { address: $B1, port: 5201 } ] }
EOF
# At scale (issue 12: the ratio must stay flat): EXTRA_SERVICES more services
# (one backend each, VIPs 127.255.16-143.X, ports 81-82) and EXTRA_CGROUPS more attached cgroups
# beside the task's, all in the daemon's maps while the ways run.
if ((EXTRA_SERVICES > 0 || EXTRA_CGROUPS > 0)); then
    for ((i = 0; i < EXTRA_CGROUPS; i++)); do hb_cgroup "x$i" XCG; echo "  - { cgroup: $XCG, namespace: default }"; done >"$HB_TMP/attach.yaml"
    awk -v n="$EXTRA_SERVICES" -v b="$B2" 'BEGIN { for (i = 0; i < n; i++)
        printf "  - { name: x%d, vip: 127.255.%d.%d, port: %d, backends: [ { address: %s, port: 8080 } ] }\n", i, 16 + int(i / 256) % 128, i % 256, 81 + int(i / 32768), b }' \
        >"$HB_TMP/extra.yaml"
    awk -v a="$HB_TMP/attach.yaml" -v x="$HB_TMP/extra.yaml" -v m=$((EXTRA_SERVICES + 16)) '
        /^control:/ { print; print "maps: { max_services: " m ", max_backends: " m + 16 " }"; next }
        /^attach:/ { print; while ((getline l < a) > 0) print l; next }
        { print }
        END { while ((getline l < x) > 0) print l }' "$HB_TMP/hopless.yaml" >"$HB_TMP/hopless.scaled.yaml"
    mv "$HB_TMP/hopless.scaled.yaml" "$HB_TMP/hopless.yaml"
    hb_log "scale: $EXTRA_SERVICES more services, $EXTRA_CGROUPS more attached cgroups"
fi
hb_hoplessd main "$HB_TMP/hopless.yaml"
HL_PID=$HB_DPID

# nftables: ClusterIP-style addresses in 10.202.0.0/16, routed only inside $N;
# kube-proxy's shape (a service rule, a per-endpoint chain that DNATs).
ip -n "$N" route add "$HB_SVC_NET.0.0/16" dev eth0
cat >"$HB_TMP/nat.nft" <<EOF
table ip hbnat {
    chain ep1 { meta l4proto tcp dnat to $B1:8080; }
    chain ep2 { meta l4proto tcp dnat to $B2:8080; }
    chain out {
        type nat hook output priority -100; policy accept;
        ip daddr $HB_SVC_NET.0.1 tcp dport 80 dnat to $B1:8080
        ip daddr $HB_SVC_NET.0.2 tcp dport 80 numgen inc mod 2 vmap { 0 : jump ep1, 1 : jump ep2 }
        ip daddr $HB_SVC_NET.0.3 tcp dport 5201 dnat to $B1:5201
    }
}
EOF
ip netns exec "$N" nft -f "$HB_TMP/nat.nft"

# haproxy: one process on the client task's loopback (the sidecar).
cat >"$HB_TMP/haproxy.cfg" <<EOF
global
    maxconn 4096
    nbthread 1
    pidfile $HB_TMP/haproxy.pid
defaults
    mode $HAPROXY_MODE
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend web1
    bind 127.0.0.1:18001
    default_backend web1
backend web1
    server be1 $B1:8080
frontend web2
    bind 127.0.0.1:18002
    default_backend web2
backend web2
    balance roundrobin
    server be1 $B1:8080
    server be2 $B2:8080
listen bulk
    mode tcp
    bind 127.0.0.1:15201
    server be1 $B1:5201
EOF
hb_bg "$HB_TMP/haproxy.log" "$PLAIN" "$C" "$CLIENT_CPU" haproxy -f "$HB_TMP/haproxy.cfg" -db
HAPROXY_PID=$HB_LAST_PID
hb_wait_tcp "$C" 127.0.0.1 18002

# way -> "cgroup netns http-host:port iperf-host iperf-port backends"
way_def() {
    case $1 in
        direct)      echo "$PLAIN $C $B1:8080 $B1 5201 1" ;;
        direct+hook) echo "$HL $C $B1:8080 $B1 5201 1" ;;
        hopless-1)   echo "$HL $C 127.255.0.1:80 127.255.0.3 5201 1" ;;
        nft-1)       echo "$PLAIN $N $HB_SVC_NET.0.1:80 $HB_SVC_NET.0.3 5201 1" ;;
        haproxy-1)   echo "$PLAIN $C 127.0.0.1:18001 127.0.0.1 15201 1" ;;
        hopless-2)   echo "$HL $C 127.255.0.2:80 127.255.0.3 5201 2" ;;
        nft-2)       echo "$PLAIN $N $HB_SVC_NET.0.2:80 $HB_SVC_NET.0.3 5201 2" ;;
        haproxy-2)   echo "$PLAIN $C 127.0.0.1:18002 127.0.0.1 15201 2" ;;
        *) hb_die "unknown way '$1' (ways: $ALL_WAYS)" ;;
    esac
}
for w in $WAYS; do way_def "$w" >/dev/null; done

# Every way must answer, and the 2-backend ways must reach both backends.
for w in $WAYS; do
    read -r cg ns hp _ _ nb < <(way_def "$w")
    seen=$(for _ in 1 2 3 4; do hb_run "$cg" "$ns" "" curl -s --max-time 2 "http://$hp/"; done | sort -u | tr '\n' ' ')
    [[ $(wc -w <<<"$seen") -eq $nb ]] || hb_die "way $w: expected $nb backend(s), saw '$seen'"
done
hb_log "all ways answer; measuring"

RAW=$HB_TMP/raw.tsv  # round way metric value
: >"$RAW"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }
read -r -a WAY_LIST <<<"$WAYS"
NW=${#WAY_LIST[@]}

for ((r = 1; r <= ROUNDS; r++)); do
    order=()
    for ((k = 0; k < NW; k++)); do order+=("${WAY_LIST[(k + r - 1) % NW]}"); done
    hb_log "round $r/$ROUNDS: ${order[*]}"
    for w in "${order[@]}"; do  # short connections
        read -r cg ns hp _ _ _ < <(way_def "$w")
        read -r rps p50 p99 err < <(hb_run "$cg" "$ns" "$CLIENT_CPU" timeout $((DURATION + 20)) \
            wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Connection: close' "http://$hp/" | hb_parse_wrk)
        record "$r" "$w" short_rps "$rps"; record "$r" "$w" short_p50 "$p50"; record "$r" "$w" short_p99 "$p99"
        record "$r" "$w" short_err "$err"
        sleep 1
    done
    for w in "${order[@]}"; do  # keep-alive
        read -r cg ns hp _ _ _ < <(way_def "$w")
        read -r rps p50 p99 err < <(hb_run "$cg" "$ns" "$CLIENT_CPU" timeout $((DURATION + 20)) \
            wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://$hp/" | hb_parse_wrk)
        record "$r" "$w" ka_rps "$rps"; record "$r" "$w" ka_p50 "$p50"; record "$r" "$w" ka_p99 "$p99"
        record "$r" "$w" ka_err "$err"
    done
    for w in "${order[@]}"; do  # bulk
        read -r cg ns _ ih ip _ < <(way_def "$w")
        bps=$(hb_run "$cg" "$ns" "$CLIENT_CPU" timeout $((IPERF_TIME + 20)) \
            iperf3 -c "$ih" -p "$ip" -t "$IPERF_TIME" -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0' || echo 0)
        record "$r" "$w" gbps "$(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }')"
    done
    for w in "${order[@]}"; do  # connect() and connect+GET latency
        read -r cg ns hp _ _ _ < <(way_def "$w")
        line=$(hb_run "$cg" "$ns" "$CLIENT_CPU" timeout 60 "$HB_CL" -n "$CONNECTS" -t 30 --http "${hp%:*}" "${hp##*:}" || true)
        for k in p50 p90 p99; do
            record "$r" "$w" "conn_$k" "$(hb_kv "${k}_ns" <<<"$line")"
            record "$r" "$w" "http_$k" "$(hb_kv "http_${k}_ns" <<<"$line")"
        done
        record "$r" "$w" conn_failed "$(hb_kv failed <<<"$line")"
    done
done

HAPROXY_RSS=$(hb_rss_kb "$HAPROXY_PID")
HOPLESSD_RSS=$(hb_rss_kb "$HL_PID")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------
med() { awk -F'\t' -v w="$1" -v m="$2" '$2 == w && $3 == m { print $4 }' "$RAW" | hb_median; }
sum() { awk -F'\t' -v w="$1" -v m="$2" '$2 == w && $3 == m { s += $4 } END { print s + 0 }' "$RAW"; }
fmt0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
fmt1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
us() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
has() { [[ " $WAYS " == *" $1 "* ]]; }
# The median over rounds of way A's metric against way B's of the same round
# (a ratio, or a difference in us of ns figures): a round that disturbed
# both ways alike cancels out, which a ratio of medians does not promise.
round_med() {
    awk -F'\t' -v a="$1" -v b="$2" -v m="$3" -v how="$4" '
        $3 == m && ($2 == a || $2 == b) { v[$1, $2] = $4; r[$1] = 1 }
        END { for (k in r) if ((k, a) in v && (k, b) in v && v[k, b] + 0 != 0)
                  print (how == "ratio" ? v[k, a] / v[k, b] : (v[k, a] - v[k, b]) / 1000) }' "$RAW" |
        hb_median | awk -v how="$4" '{ printf(how == "ratio" ? "%.3f" : "%+.2f", $1) }'
}

BASE=direct
has direct || BASE=${WAY_LIST[0]}
report() {
    echo "### hopless side-by-side benchmark ($START)"
    echo
    echo "Machine: ${MACHINE%%$'\n'*}; ${MACHINE#*$'\n'}, at end: $LOAD_END."
    ((EXTRA_SERVICES + EXTRA_CGROUPS == 0)) || echo "Scale: $((EXTRA_SERVICES + 3)) services and $((EXTRA_CGROUPS + 1)) attached cgroups in the daemon's maps."
    echo "Run: $ROUNDS rounds x $NW ways, interleaved; wrk -t1 -c$CONNS -d${DURATION}s; iperf3 -t $IPERF_TIME;"
    echo "connect_latency -n $CONNECTS --http; haproxy mode $HAPROXY_MODE; pinning $([[ ${HB_PIN:-1} == 1 ]] && echo 'client CPU 0, servers CPU 1' || echo off)."
    echo "Medians over rounds; x = ratio to $BASE (for latency, >1 is slower)."
    echo
    echo "| way | backends | short-conn req/s | x | keep-alive req/s | x | iperf3 Gbit/s | x | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    local w nb s k g bs bk bg
    bs=$(med "$BASE" short_rps); bk=$(med "$BASE" ka_rps); bg=$(med "$BASE" gbps)
    for w in "${WAY_LIST[@]}"; do
        read -r _ _ _ _ _ nb < <(way_def "$w")
        s=$(med "$w" short_rps); k=$(med "$w" ka_rps); g=$(med "$w" gbps)
        echo "| $w | $nb | $(fmt0 "$s") | $(hb_ratio "$s" "$bs") | $(fmt0 "$k") | $(hb_ratio "$k" "$bk") | $(awk -v v="$g" 'BEGIN { printf "%.2f", v }') | $(hb_ratio "$g" "$bg") | $(( $(sum "$w" short_err) + $(sum "$w" ka_err) + $(sum "$w" conn_failed) )) |"
    done
    echo
    echo "| way | keep-alive p50 / p99 us | short-conn p50 / p99 us | connect() p50 / p90 / p99 us | x p50 | connect+GET p50 / p90 / p99 us | x p50 |"
    echo "|---|---|---|---|---|---|---|"
    local bc bh c h
    bc=$(med "$BASE" conn_p50); bh=$(med "$BASE" http_p50)
    for w in "${WAY_LIST[@]}"; do
        c=$(med "$w" conn_p50); h=$(med "$w" http_p50)
        echo "| $w | $(fmt0 "$(med "$w" ka_p50)") / $(fmt0 "$(med "$w" ka_p99)") | $(fmt0 "$(med "$w" short_p50)") / $(fmt0 "$(med "$w" short_p99)") | $(us "$c") / $(us "$(med "$w" conn_p90)") / $(us "$(med "$w" conn_p99)") | $(hb_ratio "$c" "$bc") | $(us "$h") / $(us "$(med "$w" http_p90)") / $(us "$(med "$w" http_p99)") | $(hb_ratio "$h" "$bh") |"
    done
    echo
    echo "Against the targets of issue 4 (like with like):"
    echo
    if has hopless-1 && has direct; then
        echo "- short-conn hopless-1 / direct = $(hb_ratio "$(med hopless-1 short_rps)" "$(med direct short_rps)") (target >= 0.97)"
        echo "- keep-alive hopless-1 / direct = $(hb_ratio "$(med hopless-1 ka_rps)" "$(med direct ka_rps)") (target >= 0.99)"
    fi
    if has hopless-2 && has haproxy-2; then
        echo "- short-conn hopless-2 / haproxy-2 = $(hb_ratio "$(med hopless-2 short_rps)" "$(med haproxy-2 short_rps)") (target >= 2)"
        echo "- keep-alive hopless-2 / haproxy-2 = $(hb_ratio "$(med hopless-2 ka_rps)" "$(med haproxy-2 ka_rps)")"
    fi
    has hopless-2 && has nft-2 &&
        echo "- short-conn hopless-2 / nft-2 = $(hb_ratio "$(med hopless-2 short_rps)" "$(med nft-2 short_rps)")"
    has direct+hook && has direct &&
        echo "- short-conn direct+hook / direct = $(hb_ratio "$(med direct+hook short_rps)" "$(med direct short_rps)") (the hook's cost on non-VIP connects)"
    if has hopless-1 && has direct+hook && has direct; then
        echo
        echo "Against the targets of issue 12 (the VIP connect at the speed of a direct connect):"
        echo
        echo "- short-conn hopless-1 / direct+hook (direct from the same attached cgroup) = $(hb_ratio "$(med hopless-1 short_rps)" "$(med direct+hook short_rps)"); median of per-round ratios $(round_med hopless-1 direct+hook short_rps ratio) (target >= 0.98)"
        echo "- connect() p50 hopless-1 - direct+hook = $(awk -v a="$(med hopless-1 conn_p50)" -v b="$(med direct+hook conn_p50)" 'BEGIN { printf "%+.2f", (a - b) / 1000 }') us; median of per-round differences $(round_med hopless-1 direct+hook conn_p50 diff_us) us (target <= +0.5 us)"
        echo "- short-conn direct+hook / direct (non-VIP from an attached cgroup vs an unattached one) = $(hb_ratio "$(med direct+hook short_rps)" "$(med direct short_rps)"); median of per-round ratios $(round_med direct+hook direct short_rps ratio) (target >= 0.99)"
        echo
        echo "Per round (short-conn req/s; connect() p50 us):"
        echo
        echo "| round | direct | direct+hook | hopless-1 | hopless-1 / direct+hook | direct+hook / direct | connect p50 direct+hook / hopless-1 |"
        echo "|---|---|---|---|---|---|---|"
        local r d dh h1 cd ch
        for ((r = 1; r <= ROUNDS; r++)); do
            d=$(awk -F'\t' -v r="$r" '$1 == r && $2 == "direct" && $3 == "short_rps" { print $4 }' "$RAW")
            dh=$(awk -F'\t' -v r="$r" '$1 == r && $2 == "direct+hook" && $3 == "short_rps" { print $4 }' "$RAW")
            h1=$(awk -F'\t' -v r="$r" '$1 == r && $2 == "hopless-1" && $3 == "short_rps" { print $4 }' "$RAW")
            cd=$(awk -F'\t' -v r="$r" '$1 == r && $2 == "direct+hook" && $3 == "conn_p50" { print $4 }' "$RAW")
            ch=$(awk -F'\t' -v r="$r" '$1 == r && $2 == "hopless-1" && $3 == "conn_p50" { print $4 }' "$RAW")
            echo "| $r | $(fmt0 "$d") | $(fmt0 "$dh") | $(fmt0 "$h1") | $(hb_ratio "$h1" "$dh") | $(hb_ratio "$dh" "$d") | $(us "$cd") / $(us "$ch") |"
        done
    fi
    echo
    echo "Memory: hoplessd VmRSS $((HOPLESSD_RSS / 1024)) MB for the whole host ($((EXTRA_SERVICES + 3)) services); haproxy sidecar VmRSS $((HAPROXY_RSS / 1024)) MB per task."
    echo
    echo "Spread (min-max over rounds, short-conn req/s): $(for w in "${WAY_LIST[@]}"; do
        awk -F'\t' -v w="$w" '$2 == w && $3 == "short_rps" { v = $4 + 0; if (min == "" || v < min) min = v; if (v > max) max = v }
            END { printf "%s %.0f-%.0f; ", w, min, max }' "$RAW"; done)"
}
report | tee "${RESULTS:-/dev/null}"
if [[ -n ${RAW_OUT:-} ]]; then cp "$RAW" "$RAW_OUT"; fi
