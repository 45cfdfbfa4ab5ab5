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
#   ROUNDS=100                                     # rounds of the breakdown (where the time goes)
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
    breakdown
}

# Where a poststart's time goes, ways interleaved in one run (ROUNDS 100):
# the hopless process alone (--version), a hook with nothing to do (no
# io.hopless.* annotation), a hook that only registers, one that only
# attaches, one that does both. Each poststart is undone by its poststop
# while the process still runs (not timed).
breakdown() {
    local rounds=${ROUNDS:-100} r cg pid j kind t0 id ann state
    local -A ann_of=([none]='{"org.example":"x"}'
        [register]='{"io.hopless.register":"web:8080","io.hopless.address":"10.206.0.1"}'
        [attach]='{"io.hopless.namespace":"default"}'
        [both]='{"io.hopless.namespace":"default","io.hopless.register":"web:8080","io.hopless.address":"10.206.0.1"}')
    cg="$OCI_LOOP_PARENT/breakdown"
    mkdir "$cg" || hl_fail "cannot make $cg"
    bash -c 'echo $$ >"$1/cgroup.procs" || exit 125; exec sleep 600' oci-breakdown "$cg" &
    pid=$!
    hl_defer hl_stop_pid "$pid" KILL
    for ((j = 0; j < 100; j++)); do
        grep -q "^0::.*/breakdown\$" "/proc/$pid/cgroup" 2>/dev/null && break
        sleep 0.01
    done
    for ((r = 0; r < rounds; r++)); do
        t0=$(date +%s%N)
        "$HOPLESS" --version >/dev/null
        echo $((($(date +%s%N) - t0) / 1000)) >>"$DIR/bd.process"
        for kind in none register attach both; do
            id="hopless-e2e-$HL_ID-bd-$kind"
            ann="${ann_of[$kind]}"
            state="{\"ociVersion\":\"1.0.2\",\"id\":\"$id\",\"status\":\"running\",\"pid\":$pid,\"annotations\":$ann}"
            t0=$(date +%s%N)
            oci_hook "$SOCK" poststart "$state" >/dev/null || hl_fail "breakdown: poststart ($kind) failed"
            echo $((($(date +%s%N) - t0) / 1000)) >>"$DIR/bd.$kind"
            oci_hook "$SOCK" poststop "{\"ociVersion\":\"1.0.2\",\"id\":\"$id\",\"status\":\"stopped\"}" >/dev/null ||
                hl_fail "breakdown: poststop ($kind) failed"
        done
    done
    for kind in process none register attach both; do
        sort -n "$DIR/bd.$kind" | awk '{ print $1 / 1000 }' >"$DIR/bd.$kind.sorted"
        hl_info "$(printf 'poststart %-9s p50 %7s ms  p99 %7s ms' "$kind" "$(_oci_pctl "$DIR/bd.$kind.sorted" 50)" \
            "$(_oci_pctl "$DIR/bd.$kind.sorted" 99)")"
    done
}

hl_run_test oci_attach bench
hl_summary
