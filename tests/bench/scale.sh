#!/usr/bin/env bash
# hopless at scale: 1, 1000, 10000, 65536 services, side by side with an
# nftables chain of one DNAT rule per service (iptables-mode kube-proxy) and
# an nftables map (one lookup), in one interleaved run.
#
#   sudo tests/bench/scale.sh                   # default ~6 min
#   SCALE_NS="1 10000" ROUNDS=5 sudo tests/bench/scale.sh
#
# What it measures:
#   - connect() latency (connect_latency) and short-connection req/s (wrk,
#     Connection: close) to one target service, with N services loaded:
#     hopless (one daemon per N, each on its own cgroup, all running at once),
#     an nftables chain of N rules in its own netns (the target's rule is the
#     last one: the worst case, which every new connection of a busy node
#     approaches), an nftables map of N elements in its own netns, and direct.
#   - cold reconcile time and map writes per N (the daemon's "applied" line);
#   - time from a config change (the target's one backend moves between a
#     listening and a closed port) to the first connect() that sees it, p50
#     and p99, through the file watcher and through SIGHUP; the map writes of
#     that one-backend change;
#   - hoplessd VmRSS/VmHWM with 0 and N services, the kernel memory of its
#     maps (bpftool memlock), and haproxy's VmRSS with 1 and 1000 services.
#
# Knobs (env): SCALE_NS ("1 1000 10000 65536"), ROUNDS (3), DURATION (3 s per
# wrk run), CONNECTS (2000), CONNS (16), CHANGES (20 samples per path for
# N <= 10000), CHANGES_BIG (4 samples for larger N), HB_PIN, RESULTS,
# HOPLESSD.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/common.sh
source "$HERE/common.sh"

SCALE_NS=${SCALE_NS:-1 1000 10000 65536}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
CONNECTS=${CONNECTS:-2000}
CONNS=${CONNS:-16}
CHANGES=${CHANGES:-20}
CHANGES_BIG=${CHANGES_BIG:-4}
CLIENT_CPU=0
# shellcheck disable=SC2034  # read by common.sh
HB_SERVER_CPU=1
for n in $SCALE_NS; do ((n >= 1 && n <= 200000)) || { echo "scale.sh: N must be 1-200000" >&2; exit 2; }; done
((ROUNDS >= 1 && ROUNDS <= 50 && DURATION >= 1 && DURATION <= 120 && CHANGES >= 1 && CHANGES <= 1000)) ||
    { echo "scale.sh: ROUNDS 1-50, DURATION 1-120, CHANGES 1-1000" >&2; exit 2; }
MAXN=1
for n in $SCALE_NS; do ((n > MAXN)) && MAXN=$n; done
# max_services is how many services fit; every daemon gets the same size
# so the hash tables compare like with like.
MAX_SERVICES=131072
((MAXN < MAX_SERVICES)) || MAX_SERVICES=$((MAXN * 2))

hb_init scale
HB_KEEP_TMP=${HB_KEEP_TMP:-0}
hb_find_hoplessd
hb_build_connect_latency
START=$(date -u '+%Y-%m-%d %H:%M UTC')
MACHINE=$(hb_machine)
hb_log "run $HB_ID: N in {$SCALE_NS}, rounds=$ROUNDS duration=${DURATION}s connects=$CONNECTS"

hb_switch
hb_netns c 2
hb_netns b1 11
B1=$HB_NET.11 C=${HB_ID}c
hb_cgroup servers SRV
hb_cgroup plain PLAIN
hb_nginx "${HB_ID}b1" "$B1" be1 "$SRV"
TARGET_VIP=127.255.255.1
TARGET_CIP=$HB_SVC_NET.255.1

# Service i (1..N-1) of a config: 16 ports per address, 250 addresses per /24.
# gen_hopless N CGROUP TARGET_PORT > yaml
gen_hopless() {
    awk -v n="$1" -v cg="$2" -v tport="$3" -v be="$B1" -v tvip="$TARGET_VIP" -v tmp="$HB_TMP" -v maxs="$MAX_SERVICES" 'BEGIN {
        printf "metrics: { listen: \"127.0.0.1:0\" }\ncontrol: { socket: %s/ctl-%d.sock }\n", tmp, n
        printf "maps: { max_services: %d }\nattach: [ { cgroup: %s } ]\nservices:\n", maxs, cg
        if (n == 0) { print "  []"; exit }
        printf "  - { name: target, vip: %s, port: 80, backends: [ { address: %s, port: %d } ] }\n", tvip, be, tport
        for (i = 1; i < n; i++) {
            j = int(i / 16)
            printf "  - { name: s%d, vip: 127.255.%d.%d, port: %d, backends: [ { address: %s, port: 8080 } ] }\n",
                i, 1 + int(j / 250), 1 + j % 250, 1000 + i % 16, be
        }
    }'
}
gen_chain() {  # N: one rule per service, the target's last
    awk -v n="$1" -v be="$B1" -v net="$HB_SVC_NET" -v tcip="$TARGET_CIP" 'BEGIN {
        print "table ip hbscale {\n chain out {\n  type nat hook output priority -100; policy accept;"
        for (i = 1; i < n; i++) { j = int(i / 16); printf "  ip daddr %s.%d.%d tcp dport %d dnat to %s:8080\n", net, 1 + int(j / 250), 1 + j % 250, 1000 + i % 16, be }
        printf "  ip daddr %s tcp dport 80 dnat to %s:8080\n }\n}\n", tcip, be
    }'
}
gen_map() {  # N: one element per service, one rule
    awk -v n="$1" -v be="$B1" -v net="$HB_SVC_NET" -v tcip="$TARGET_CIP" 'BEGIN {
        print "table ip hbscale {\n map svc {\n  type ipv4_addr . inet_service : ipv4_addr . inet_service\n  elements = {"
        for (i = 1; i < n; i++) { j = int(i / 16); printf "   %s.%d.%d . %d : %s . 8080,\n", net, 1 + int(j / 250), 1 + j % 250, 1000 + i % 16, be }
        printf "   %s . 80 : %s . 8080\n  }\n }\n", tcip, be
        print " chain out {\n  type nat hook output priority -100; policy accept;\n  dnat ip to ip daddr . tcp dport map @svc\n }\n}"
    }'
}

declare -A DPID DLOG DDIR DCG COLD_US COLD_WRITES RSS HWM MAPB NFT_MS RSS_AFTER HWM_AFTER
host=20
for n in $SCALE_NS; do
    # hopless: its own daemon, pin dir and cgroup per N.
    hb_cgroup "hl$n" DCG[$n]
    DDIR[$n]=$HB_TMP/hl$n
    mkdir -p "${DDIR[$n]}"
    gen_hopless "$n" "${DCG[$n]}" 8080 >"${DDIR[$n]}/hopless.yaml"
    hb_log "hopless: loading $n services"
    hb_hoplessd "n$n" "${DDIR[$n]}/hopless.yaml"
    DPID[$n]=$HB_DPID DLOG[$n]=$HB_DLOG
    read -r COLD_US[$n] COLD_WRITES[$n] < <(hb_applied "$HB_DLOG")
    sleep 0.5
    RSS[$n]=$(hb_rss_kb "$HB_DPID") HWM[$n]=$(hb_hwm_kb "$HB_DPID") MAPB[$n]=$(hb_map_bytes "/sys/fs/bpf/$HB_ID-n$n")
    # nftables chain and map, each in a netns of its own.
    for kind in chain map; do
        host=$((host + 1))
        hb_netns "$kind$n" "$host"
        ip -n "${HB_ID}$kind$n" route add "$HB_SVC_NET.0.0/16" dev eth0
        "gen_$kind" "$n" >"$HB_TMP/$kind$n.nft"
        t0=$(date +%s%N)
        ip netns exec "${HB_ID}$kind$n" nft -f "$HB_TMP/$kind$n.nft"
        NFT_MS[$kind$n]=$((($(date +%s%N) - t0) / 1000000))
    done
done

# 0 services: memory only.
hb_cgroup hl0 CG0
mkdir -p "$HB_TMP/hl0"
gen_hopless 0 "$CG0" 8080 >"$HB_TMP/hl0/hopless.yaml"
hb_hoplessd n0 "$HB_TMP/hl0/hopless.yaml"
sleep 0.5
RSS0=$(hb_rss_kb "$HB_DPID") HWM0=$(hb_hwm_kb "$HB_DPID") MAPB0=$(hb_map_bytes "/sys/fs/bpf/$HB_ID-n0")
hb_kill_pid "$HB_DPID"

# ---- haproxy, one per task, for comparison ---------------------------------------
haproxy_rss() {  # SERVICES -> VmRSS kB after a short warm-up request
    local k=$1 cfg=$HB_TMP/haproxy-$1.cfg i pid rss
    {
        printf 'global\n    maxconn 4096\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n'
        for ((i = 0; i < k; i++)); do
            printf 'listen s%d\n    bind 127.0.0.1:%d\n    server be1 %s:8080\n' "$i" $((20000 + i)) "$B1"
        done
    } >"$cfg"
    hb_bg "$HB_TMP/haproxy-$k.log" "$PLAIN" "$C" "" haproxy -f "$cfg" -db
    pid=$HB_LAST_PID
    for ((i = 0; i < 100; i++)); do
        ip netns exec "$C" bash -c 'exec 3<>/dev/tcp/127.0.0.1/20000' 2>/dev/null && break
        sleep 0.1
    done
    if ((i == 100)); then
        hb_log "haproxy with $k services did not start: $(tail -3 "$HB_TMP/haproxy-$k.log" | tr '\n' ' ')"
        hb_kill_pid "$pid"
        echo 0
        return 0
    fi
    hb_run "$PLAIN" "$C" "" curl -s --max-time 2 -o /dev/null http://127.0.0.1:20000/ || true
    sleep 0.3
    rss=$(hb_rss_kb "$pid")
    hb_kill_pid "$pid"
    echo "$rss"
}
HAP1=$(haproxy_rss 1)
HAP1000=$(haproxy_rss 1000)
# way -> "cgroup netns addr port"
way_def() {
    case $1 in
        direct) echo "$PLAIN $C $B1 8080" ;;
        hopless-*) echo "${DCG[${1#hopless-}]} $C $TARGET_VIP 80" ;;
        chain-*) echo "$PLAIN ${HB_ID}chain${1#chain-} $TARGET_CIP 80" ;;
        map-*) echo "$PLAIN ${HB_ID}map${1#map-} $TARGET_CIP 80" ;;
    esac
}
WAY_LIST=(direct)
for n in $SCALE_NS; do WAY_LIST+=("hopless-$n" "chain-$n" "map-$n"); done
for w in "${WAY_LIST[@]}"; do
    read -r cg ns a p < <(way_def "$w")
    got=$(hb_run "$cg" "$ns" "" curl -s --max-time 2 "http://$a:$p/" || true)
    [[ $got == be1 ]] || hb_die "way $w: the target does not answer ('$got')"
done
hb_log "all ways answer; measuring"

RAW=$HB_TMP/raw.tsv
: >"$RAW"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }
NW=${#WAY_LIST[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    order=()
    for ((k = 0; k < NW; k++)); do order+=("${WAY_LIST[(k + r - 1) % NW]}"); done
    hb_log "round $r/$ROUNDS"
    for w in "${order[@]}"; do
        read -r cg ns a p < <(way_def "$w")
        line=$(hb_run "$cg" "$ns" "$CLIENT_CPU" timeout 60 "$HB_CL" -n "$CONNECTS" -t 30 "$a" "$p" || true)
        for k in p50 p90 p99; do record "$r" "$w" "conn_$k" "$(hb_kv "${k}_ns" <<<"$line")"; done
        record "$r" "$w" conn_failed "$(hb_kv failed <<<"$line")"
        read -r rps _ _ err < <(hb_run "$cg" "$ns" "$CLIENT_CPU" timeout $((DURATION + 20)) \
            wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Connection: close' "http://$a:$p/" | hb_parse_wrk)
        record "$r" "$w" short_rps "$rps"
        record "$r" "$w" short_err "$err"
        sleep 1
    done
done

# ---- config change -> kernel ----------------------------------------------------
applied_count() { grep -c 'applied in' "$1" || true; }
wait_applied() {  # LOG COUNT: until the log has more than COUNT applied lines (bounded 120 s)
    local i
    for ((i = 0; i < 1200; i++)); do
        (($(applied_count "$1") > $2)) && return 0
        sleep 0.1
    done
    return 1
}
CHG=$HB_TMP/changes.tsv  # n path change_ns writes
: >"$CHG"
for n in $SCALE_NS; do
    samples=$CHANGES
    ((n > 10000)) && samples=$CHANGES_BIG
    dir=${DDIR[$n]} log=${DLOG[$n]} pid=${DPID[$n]}
    hb_log "config changes with $n services: $samples per path"
    port=8080
    for path in file sighup; do
        if [[ $path == sighup ]]; then
            # The config becomes a symlink into a directory the watcher does not
            # see, so only the signal triggers a reload.
            mkdir -p "$dir/real"
            cp "$dir/hopless.yaml" "$dir/real/cur.yaml"
            before=$(applied_count "$log")
            ln -s "$dir/real/cur.yaml" "$dir/link.tmp"
            mv -T "$dir/link.tmp" "$dir/hopless.yaml"
            wait_applied "$log" "$before" || hb_die "daemon $n did not reload"
        fi
        for ((s = 1; s <= samples; s++)); do
            if [[ $port == 8080 ]]; then port=8081 want=refused; else port=8080 want=ok; fi
            before=$(applied_count "$log")
            if [[ $path == file ]]; then
                gen_hopless "$n" "${DCG[$n]}" "$port" >"$dir/.next.yaml"
                trig=(--rename "$dir/.next.yaml" "$dir/hopless.yaml")
            else
                gen_hopless "$n" "${DCG[$n]}" "$port" >"$dir/real/next.yaml"
                trig=(--rename "$dir/real/next.yaml" "$dir/real/cur.yaml" --signal "$pid:1")
            fi
            line=$(hb_run "${DCG[$n]}" "$C" "$CLIENT_CPU" timeout 150 "$HB_CL" --until "$want" -t 120 \
                --interval-us 200 "${trig[@]}" "$TARGET_VIP" 80 || true)
            wait_applied "$log" "$before" || hb_die "daemon $n: no applied line after a change"
            writes=$(hb_applied "$log" | awk '{ print $2 }')
            printf '%s\t%s\t%s\t%s\n' "$n" "$path" "$(hb_kv change_ns <<<"$line")" "$writes" >>"$CHG"
            sleep 0.3
        done
    done
    RSS_AFTER[$n]=$(hb_rss_kb "$pid") HWM_AFTER[$n]=$(hb_hwm_kb "$pid")
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ------------------------------------------------------------------------
med() { awk -F'\t' -v w="$1" -v m="$2" '$2 == w && $3 == m { print $4 }' "$RAW" | hb_median; }
sum() { awk -F'\t' -v w="$1" -v m="$2" '$2 == w && $3 == m { s += $4 } END { print s + 0 }' "$RAW"; }
us() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
mb() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
pctl() {  # N PATH P -> ms (nearest rank)
    awk -F'\t' -v n="$1" -v p="$2" '$1 == n && $2 == p && $3 >= 0 { print $3 }' "$CHG" | sort -g |
        awk -v q="$3" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } i = int(q / 100 * (NR - 1) + 0.5) + 1; if (i > NR) i = NR; printf "%.1f", v[i] / 1e6 }'
}
FIRST=${SCALE_NS%% *}
report() {
    echo "### hopless at scale ($START)"
    echo
    echo "Machine: ${MACHINE%%$'\n'*}; ${MACHINE#*$'\n'}, at end: $LOAD_END."
    echo "Run: $ROUNDS rounds x $NW ways, interleaved; connect_latency -n $CONNECTS; wrk -t1 -c$CONNS -d${DURATION}s -H 'Connection: close'."
    echo "Target: one service with one backend; nft chain: its rule is the last of N; x = ratio to the same way with N=$FIRST."
    echo "direct (no service layer at all): $(awk -v v="$(med direct short_rps)" 'BEGIN { printf "%.0f", v }') req/s, connect() p50 $(us "$(med direct conn_p50)") us, p99 $(us "$(med direct conn_p99)") us."
    echo
    echo "| services | hopless req/s | x | nft chain req/s | x | nft map req/s | x |"
    echo "|---|---|---|---|---|---|---|"
    local n w line b
    for n in $SCALE_NS; do
        line="| $n "
        for w in hopless chain map; do
            b=$(med "$w-$FIRST" short_rps)
            line+="| $(awk -v v="$(med "$w-$n" short_rps)" 'BEGIN { printf "%.0f", v }') | $(hb_ratio "$(med "$w-$n" short_rps)" "$b") "
        done
        echo "$line|"
    done
    echo
    echo "| services | hopless connect() p50 / p99 us | x p50 | nft chain p50 / p99 us | x p50 | nft map p50 / p99 us | x p50 |"
    echo "|---|---|---|---|---|---|---|"
    for n in $SCALE_NS; do
        line="| $n "
        for w in hopless chain map; do
            line+="| $(us "$(med "$w-$n" conn_p50)") / $(us "$(med "$w-$n" conn_p99)") | $(hb_ratio "$(med "$w-$n" conn_p50)" "$(med "$w-$FIRST" conn_p50)") "
        done
        echo "$line|"
    done
    local errs=0
    for w in "${WAY_LIST[@]}"; do errs=$((errs + $(sum "$w" short_err) + $(sum "$w" conn_failed))); done
    echo
    echo "Errors (wrk socket errors + failed connects, all ways): $errs."
    echo
    echo "| services | hopless cold reconcile ms | map writes | nft load ms (chain / map) | hoplessd VmRSS MB | VmHWM MB | after reloads: VmRSS / VmHWM MB | kernel map memory MB |"
    echo "|---|---|---|---|---|---|---|---|"
    echo "| 0 | - | - | - | $(mb "$RSS0") | $(mb "$HWM0") | - | $(awk -v v="$MAPB0" 'BEGIN { printf "%.1f", v / 1048576 }') |"
    for n in $SCALE_NS; do
        echo "| $n | $(awk -v v="${COLD_US[$n]}" 'BEGIN { printf "%.1f", v / 1000 }') | ${COLD_WRITES[$n]} | ${NFT_MS[chain$n]} / ${NFT_MS[map$n]} | $(mb "${RSS[$n]}") | $(mb "${HWM[$n]}") | $(mb "${RSS_AFTER[$n]:-0}") / $(mb "${HWM_AFTER[$n]:-0}") | $(awk -v v="${MAPB[$n]}" 'BEGIN { printf "%.1f", v / 1048576 }') |"
    done
    echo
    echo "haproxy sidecar VmRSS (one per task): 1 service $(mb "$HAP1") MB, 1000 services $(mb "$HAP1000") MB."
    echo
    echo "Config change -> first connect() that sees it (one backend of the target moves; ms):"
    echo
    echo "| services | trigger | p50 | p99 | max | samples | map writes per change |"
    echo "|---|---|---|---|---|---|---|"
    for n in $SCALE_NS; do
        for path in file sighup; do
            local cnt wr
            cnt=$(awk -F'\t' -v n="$n" -v p="$path" '$1 == n && $2 == p && $3 >= 0' "$CHG" | wc -l)
            wr=$(awk -F'\t' -v n="$n" -v p="$path" '$1 == n && $2 == p { print $4 }' "$CHG" | sort -u | tr '\n' ' ')
            echo "| $n | $([[ $path == file ]] && echo 'file write (inotify)' || echo 'SIGHUP') | $(pctl "$n" "$path" 50) | $(pctl "$n" "$path" 99) | $(pctl "$n" "$path" 100) | $cnt | ${wr% } |"
        done
    done
}
report | tee "${RESULTS:-/dev/null}"
if [[ -n ${RAW_OUT:-} ]]; then cp "$RAW" "$RAW_OUT"; cp "$CHG" "$RAW_OUT.changes"; fi
