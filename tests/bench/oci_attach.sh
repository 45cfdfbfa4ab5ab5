#!/usr/bin/env bash
# The OCI hook at scale: N containers (1000) attached and detached one after
# the other, as runc would do it but without runc (the hook is fed the state
# JSON runc passes, for real processes in real cgroups; each cgroup is
# removed before poststop, as runc does). Reports the time of one hook run
# at poststart (read the state, find the cgroup, attach it to namespace
# default, register web:8080) and at poststop (deregister, detach), p50 and
# p99, and checks that nothing is left: no cgroup_ns entry, no pinned or
# kernel link, no record, no endpoint, no dying cgroup.
#
#   sudo tests/bench/oci_attach.sh                 # N=1000
#   N=200 sudo tests/bench/oci_attach.sh
#   OCI_LOOP_ORDER=live ...                        # poststop while the cgroup still exists
#
# Uses $HOPLESSD and $HOPLESS (default build/hoplessd, build/hopless): build
# them Release for figures that mean something.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$HERE/../e2e/lib.sh"
# shellcheck source=tests/e2e/lib_oci.sh
source "$HERE/../e2e/lib_oci.sh"

N=${N:-1000}
if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 1 || N > 100000)); then echo "oci_attach.sh: N must be 1-100000" >&2; exit 2; fi
hl_init jq bpftool
[[ -x "$HOPLESS" ]] || { echo "oci_attach.sh: HOPLESS=$HOPLESS is not an executable" >&2; exit 1; }
oci_init

bench() {
    hl_test_env ocibench
    SOCK="$DIR/hopless.sock"
    oci_records "$DIR/records"
    cat >"$CFG" <<CFG
control: { socket: "$SOCK" }
metrics: { listen: "127.0.0.1:$MPORT" }
services:
  - { name: web, vip: 127.255.$((RANDOM % 200 + 20)).1, port: 80, backends: [] }
CFG
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_cgroup_make OCI_LOOP_PARENT "hopless-e2e-$HL_ID-oci-bench"
    local t0 t1 left dying i
    hl_info "hopless $HOPLESS, hoplessd $HOPLESSD, N=$N, order ${OCI_LOOP_ORDER:-runc}"
    t0=$(hl_now_ms)
    oci_loop "$SOCK" "$N" "$DIR/loop" "10.205.$((RANDOM % 200))"
    t1=$(hl_now_ms)
    hl_info "$N containers attached and detached in $((t1 - t0)) ms ($(((t1 - t0) / N)) ms per container, with its process and cgroup)"
    oci_loop_report "$DIR/loop" | while read -r line; do hl_info "$line"; done
    left="$(oci_leftovers "$PIN" "$DIR/loop.ids")"
    [[ -z "$left" ]] || hl_fail "left behind: $(head -n 5 <<<"$left") ($(wc -l <<<"$left") lines)"
    for ((i = 0; i < 100; i++)); do
        dying="$(awk '$1 == "nr_dying_descendants" { print $2 }' "$OCI_LOOP_PARENT/cgroup.stat")"
        [[ "$dying" == 0 ]] && break
        sleep 0.1
    done
    hl_info "left behind: nothing (cgroup_ns, links, records); dying cgroups: $dying"
    hl_info "hoplessd VmRSS after: $(awk '/VmRSS/ { print $2, $3 }' "/proc/$HL_DAEMON_PID/status")"
}

hl_run_test oci_attach bench
hl_summary
