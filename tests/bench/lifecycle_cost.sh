#!/usr/bin/env bash
# What the datapath's programs cost per connection, from the kernel's own
# run-time statistics (kernel.bpf_stats_enabled=1, turned back off at the
# end): the run time and run count of hl_connect4 and hl_sockops over wrk's
# short connections (Connection: close), divided by the connections made.
#
#   sudo tests/bench/lifecycle_cost.sh
#   HOPLESSD=/path/to/older/hoplessd sudo tests/bench/lifecycle_cost.sh   # the same for another build
#
#   vip          connects to a one-backend service's VIP from the attached cgroup
#   direct+hook  connects from the same cgroup straight to the backend: what
#                the hooks cost a connection that is not for a VIP
# With INBOUND=1 the backend's cgroup is attached too, and hl_sockops also
# follows the accepted side (its figures then hold both sides).
#
# Knobs (env): ROUNDS (3), DURATION (4 s), CONNS (16), INBOUND (0), HOPLESSD.
# The run time includes the programs' own instructions and helper calls, not
# what they make the kernel do later (freeing socket storage at close).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/common.sh
source "$HERE/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
CONNS=${CONNS:-16}
INBOUND=${INBOUND:-0}
# shellcheck disable=SC2034  # read by common.sh
HB_SERVER_CPU=1

hb_init lifecycle-cost
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
restore() { sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"; hb_cleanup; }
trap restore EXIT
hb_find_hoplessd
hb_switch
hb_netns c 2
hb_netns b1 11
C=${HB_ID}c B1=$HB_NET.11
hb_cgroup servers SRV
hb_cgroup task HL
hb_nginx "${HB_ID}b1" "$B1" be1 "$SRV"
{
    echo "metrics: { listen: \"127.0.0.1:0\" }"
    echo "control: { socket: $HB_TMP/hopless.sock }"
    echo "attach:"
    echo "  - { cgroup: $HL, namespace: default }"
    ((INBOUND)) && echo "  - { cgroup: $SRV, namespace: default }"
    echo "services:"
    echo "  - { name: web1, vip: 127.255.0.1, port: 80, backends: [ { address: $B1, port: 8080 } ] }"
} >"$HB_TMP/hopless.yaml"
hb_hoplessd main "$HB_TMP/hopless.yaml"
PIN=/sys/fs/bpf/$HB_ID-main
sysctl -qw kernel.bpf_stats_enabled=1

# prog_stats NAME: "run_cnt run_time_ns" of a pinned program ("0 0" when absent).
prog_stats() {
    local p=$PIN/progs/$1
    [[ -e $p ]] || { echo "0 0"; return; }
    bpftool -j prog show pinned "$p" | jq -r '"\(.run_cnt // 0) \(.run_time_ns // 0)"'
}

RAW=$HB_TMP/raw.tsv
: >"$RAW"
for ((r = 1; r <= ROUNDS; r++)); do
    for way in vip direct+hook; do
        [[ $way == vip ]] && url=http://127.255.0.1/ || url=http://$B1:8080/
        read -r c4n0 c4t0 < <(prog_stats hl_connect4)
        read -r son0 sot0 < <(prog_stats hl_sockops)
        out=$(hb_run "$HL" "$C" 0 timeout $((DURATION + 20)) wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Connection: close' "$url")
        read -r c4n1 c4t1 < <(prog_stats hl_connect4)
        read -r son1 sot1 < <(prog_stats hl_sockops)
        reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$way" "$reqs" $((c4n1 - c4n0)) $((c4t1 - c4t0)) \
            $((son1 - son0)) $((sot1 - sot0)) >>"$RAW"
        hb_log "round $r $way: $reqs connections; connect4 $((c4n1 - c4n0)) runs, sockops $((son1 - son0)) runs"
        sleep 1
    done
done

med() { awk -F'\t' -v w="$1" -v c="$2" '$2 == w && $3 > 0 { print $c / $3 }' "$RAW" | hb_median; }
echo "### per-connection cost of the programs ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "hoplessd: $HB_HOPLESSD; $ROUNDS rounds of wrk -t1 -c$CONNS -d${DURATION}s (Connection: close); inbound followed: $INBOUND;"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Medians over rounds, per connection."
echo
echo "| way | connections/s | connect4 runs | connect4 ns | sockops runs | sockops ns | both ns |"
echo "|---|---|---|---|---|---|---|"
for way in vip direct+hook; do
    rps=$(awk -F'\t' -v w="$way" -v d="$DURATION" '$2 == w { print $3 / d }' "$RAW" | hb_median)
    c4r=$(med "$way" 4); c4t=$(med "$way" 5); sor=$(med "$way" 6); sot=$(med "$way" 7)
    printf '| %s | %.0f | %.2f | %.0f | %.2f | %.0f | %.0f |\n' "$way" "$rps" "$c4r" "$c4t" "$sor" "$sot" \
        "$(awk -v a="$c4t" -v b="$sot" 'BEGIN { print a + b }')"
done
