#!/usr/bin/env bash
# Short-connection req/s with and without the lifecycle program, from one
# daemon in one run: two attached cgroups, one of which has its hl_sockops
# link removed after the daemon attached it, so the two differ by the
# sockops program alone.
#
#   sudo tests/bench/lifecycle_ab.sh            # ROUNDS=7 DURATION=4
#
#   direct       wrk -> the backend's own address, from an unattached cgroup
#   hopless      wrk -> a one-backend VIP, from the attached cgroup (lifecycle on)
#   hopless-nolc the same VIP from the cgroup without hl_sockops (lifecycle off)
#
# Ways run interleaved (rotating start); medians and per-round ratios.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/common.sh
source "$HERE/common.sh"

ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-4}
CONNS=${CONNS:-16}
# shellcheck disable=SC2034  # read by common.sh
HB_SERVER_CPU=1

hb_init lifecycle-ab
hb_find_hoplessd
hb_switch
hb_netns c 2
hb_netns b1 11
C=${HB_ID}c B1=$HB_NET.11
hb_cgroup servers SRV
hb_cgroup plain PLAIN
hb_cgroup lc LC
hb_cgroup nolc NOLC
hb_nginx "${HB_ID}b1" "$B1" be1 "$SRV"
cat >"$HB_TMP/hopless.yaml" <<EOF
metrics: { listen: "127.0.0.1:0" }
control: { socket: $HB_TMP/hopless.sock }
attach:
  - { cgroup: $LC, namespace: default }
  - { cgroup: $NOLC, namespace: default }
services:
  - { name: web1, vip: 127.255.0.1, port: 80, backends: [ { address: $B1, port: 8080 } ] }
EOF
hb_hoplessd main "$HB_TMP/hopless.yaml"
PIN=/sys/fs/bpf/$HB_ID-main
NOLC_ID=$(stat -c %i "$NOLC")
[[ -e $PIN/links/$NOLC_ID/hl_sockops ]] || hb_die "no hl_sockops link pinned for $NOLC"
rm "$PIN/links/$NOLC_ID/hl_sockops"  # the last reference: detached
bpftool cgroup show "$NOLC" | grep -q sock_ops && hb_die "hl_sockops still attached to $NOLC"
bpftool cgroup show "$LC" | grep -q sock_ops || hb_die "hl_sockops not attached to $LC"

way_def() {
    case $1 in
        direct) echo "$PLAIN $B1:8080" ;;
        hopless) echo "$LC 127.255.0.1:80" ;;
        hopless-nolc) echo "$NOLC 127.255.0.1:80" ;;
    esac
}
WAYS=(direct hopless hopless-nolc)
RAW=$HB_TMP/raw.tsv
: >"$RAW"
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < 3; k++)); do
        w=${WAYS[(k + r - 1) % 3]}
        read -r cg hp < <(way_def "$w")
        read -r rps _ _ err < <(hb_run "$cg" "$C" 0 timeout $((DURATION + 20)) \
            wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Connection: close' "http://$hp/" | hb_parse_wrk)
        printf '%s\t%s\t%s\t%s\n' "$r" "$w" "$rps" "$err" >>"$RAW"
        sleep 1
    done
    hb_log "round $r/$ROUNDS done"
done

med() { awk -F'\t' -v w="$1" '$2 == w { print $3 }' "$RAW" | hb_median; }
echo "### lifecycle on/off, short connections ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "hoplessd $HB_HOPLESSD; $ROUNDS rounds x 3 ways interleaved; wrk -t1 -c$CONNS -d${DURATION}s -H 'Connection: close';"
echo "kernel.bpf_stats_enabled=$(cat /proc/sys/kernel/bpf_stats_enabled); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| way | req/s (median) | x direct |"
echo "|---|---|---|"
for w in "${WAYS[@]}"; do
    echo "| $w | $(awk -v v="$(med "$w")" 'BEGIN { printf "%.0f", v }') | $(hb_ratio "$(med "$w")" "$(med direct)") |"
done
echo
echo "Per round (req/s): direct / hopless / hopless-nolc; hopless/nolc"
awk -F'\t' '{ v[$1, $2] = $3; n = $1 > n ? $1 : n } END {
    for (r = 1; r <= n; r++)
        printf "- round %d: %.0f / %.0f / %.0f; %.3f\n", r, v[r, "direct"], v[r, "hopless"], v[r, "hopless-nolc"],
            v[r, "hopless"] / v[r, "hopless-nolc"] }' "$RAW"
echo "- errors: $(awk -F'\t' '{ s += $4 } END { print s + 0 }' "$RAW")"
