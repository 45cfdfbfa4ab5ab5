# shellcheck shell=bash
# Helpers for the OCI hook's tests (tests/e2e/test_oci.sh) and benchmark
# (tests/bench/oci_attach.sh); sourced after lib.sh and hl_init.
#
#   oci_rootfs DIR                     a busybox-static rootfs (sh, httpd, wget, nc, sleep, ...)
#   oci_bundle VAR NAME NETNS SOCK ANNOTATIONS-JSON ARG...
#                                      a runc bundle (runc spec + jq), hooks -> $HOPLESS oci-hook
#   oci_run ID BUNDLE                  runc run -d; registers runc delete -f
#   oci_delete ID                      runc kill KILL, wait until stopped, runc delete (poststop runs here)
#   oci_loop SOCK N OUT ADDR_PREFIX    N containers attached and detached by the hook without runc
#
# runc keeps its state under $OCI_RUNC_ROOT (this run's temp dir), never in
# /run/runc; the hook keeps its records under $OCI_RECORDS.

OCI_RUNC_ROOT=""
OCI_RECORDS=""
OCI_ROOTFS=""

oci_init() {
    OCI_RUNC_ROOT="$HL_TMP/runc"
    mkdir -p "$OCI_RUNC_ROOT" || hl_fail "cannot make $OCI_RUNC_ROOT"
    oci_records "$HL_TMP/oci-records"
    # runc runs hooks by absolute path (its working directory is the bundle).
    HOPLESS="$(readlink -f "$HOPLESS")" || hl_fail "no hopless binary at $HOPLESS"
}

# oci_records DIR: where the hook keeps its records from now on (bundles made
# after this, and oci_hook, use it).
oci_records() {
    OCI_RECORDS="$1"
    mkdir -p "$OCI_RECORDS" || hl_fail "cannot make $OCI_RECORDS"
    export HOPLESS_OCI_STATE_DIR="$OCI_RECORDS"
}

oci_runc() { runc --root "$OCI_RUNC_ROOT" "$@"; }

# oci_rootfs DIR: bin/busybox and its applets as symlinks; /www for httpd.
oci_rootfs() {
    local dir="$1" a bb
    bb="$(command -v busybox)" || hl_fail "busybox is not installed (busybox-static)"
    mkdir -p "$dir/bin" "$dir/etc" "$dir/www" "$dir/tmp" || hl_fail "cannot make rootfs $dir"
    cp "$bb" "$dir/bin/busybox" || hl_fail "cannot copy $bb"
    for a in sh httpd wget nc sleep cat ls ip ps echo timeout; do ln -sf busybox "$dir/bin/$a"; done
    echo "127.0.0.1 localhost" >"$dir/etc/hosts"
    OCI_ROOTFS="$dir"
}

# oci_bundle VAR NAME NETNS SOCK ANNOTATIONS-JSON ARG...: a bundle dir for
# container NAME: the shared rootfs read-only, no terminal, the network
# namespace /var/run/netns/NETNS, its own cgroup (cgroupsPath /NAME: NAME
# starts with hopless-e2e-<pid>-, so the stale sweep knows it), and the hook
# at poststart and poststop talking to SOCK. Sets VAR to the dir.
oci_bundle() {
    local var="$1" name="$2" netns="$3" sock="$4" ann="$5" dir args
    shift 5
    [[ "$name" == "hopless-e2e-$HL_ID-"* ]] || hl_fail "container name $name does not start with hopless-e2e-$HL_ID-"
    dir="$HL_TMP/bundle-$name"
    mkdir -p "$dir" || hl_fail "cannot make $dir"
    (cd "$dir" && rm -f config.json && runc spec) || hl_fail "runc spec failed in $dir"
    args="$(printf '%s\n' "$@" | jq -R . | jq -cs .)"
    jq --arg root "$OCI_ROOTFS" --arg netns "/var/run/netns/$netns" --arg cg "/$name" \
        --argjson ann "$ann" --argjson args "$args" --arg hopless "$HOPLESS" --arg sock "$sock" \
        --arg records "$OCI_RECORDS" '
        ({path: $hopless, args: ["hopless", "--socket", $sock, "oci-hook"],
          env: ["HOPLESS_OCI_STATE_DIR=" + $records], timeout: 15}) as $hook
        | .root = {path: $root, readonly: true}
        | .process.terminal = false
        | .process.args = $args
        | .annotations = $ann
        | .linux.namespaces = [.linux.namespaces[] | if .type == "network" then {type: "network", path: $netns} else . end]
        | .linux.cgroupsPath = $cg
        | .hooks = {poststart: [$hook], poststop: [$hook]}' \
        "$dir/config.json" >"$dir/config.json.new" || hl_fail "jq could not edit $dir/config.json"
    mv "$dir/config.json.new" "$dir/config.json"
    printf -v "$var" '%s' "$dir"
}

# oci_run ID BUNDLE: starts the container detached (the poststart hook runs
# before runc returns); its output goes to BUNDLE/runc.log. Returns runc's status.
oci_run() {
    local id="$1" bundle="$2"
    hl_defer oci_runc delete -f "$id"
    timeout 30 runc --root "$OCI_RUNC_ROOT" run -d --bundle "$bundle" "$id" </dev/null >"$bundle/runc.log" 2>&1
}

oci_status() { oci_runc state "$1" 2>/dev/null | jq -r .status; }

# oci_delete ID: kills the container, waits (bounded) until it stopped, then
# runc delete, which runs the poststop hook. Returns runc delete's status.
oci_delete() {
    local id="$1" i
    oci_runc kill "$id" KILL >/dev/null 2>&1
    for ((i = 0; i < 100; i++)); do
        [[ "$(oci_status "$id")" == stopped ]] && break
        sleep 0.05
    done
    timeout 30 runc --root "$OCI_RUNC_ROOT" delete "$id"
}

# oci_hook SOCK STAGE STATE-JSON: runs the hook as a runtime would.
oci_hook() { printf '%s' "$3" | "$HOPLESS" --socket "$1" oci-hook "$2"; }

_oci_pctl() {  # SORTED-FILE P: the P-th percentile (nearest rank) of a sorted column
    awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }' "$1"
}

# oci_loop SOCK N OUT ADDR_PREFIX: N times, one after the other, what runc does
# with a container, without runc: a cgroup (under this run's parent cgroup
# OCI_LOOP_PARENT), a process in it, the hook at poststart (namespace default,
# registered as web:8080 at ADDR_PREFIX.<n>), the process killed and the
# cgroup removed (runc removes it before poststop), the hook at poststop.
# OCI_LOOP_ORDER=live runs poststop before the cgroup is removed instead.
# Appends "<poststart ms> <poststop ms>" per container to OUT; prints each
# cgroup id to OUT.ids. Fails on the first hook that fails.
oci_loop() {
    local sock="$1" n="$2" out="$3" prefix="$4" i cg pid state t0 t1 t2 t3 id j
    [[ -d "$OCI_LOOP_PARENT" ]] || hl_fail "OCI_LOOP_PARENT is not a cgroup"
    for ((i = 0; i < n; i++)); do
        cg="$OCI_LOOP_PARENT/c$i"
        mkdir "$cg" || hl_fail "cannot make cgroup $cg"
        # Not hl_in_cgroup with &: that backgrounds a subshell, and $! would
        # be the subshell, not the process in the cgroup.
        bash -c 'echo $$ >"$1/cgroup.procs" || exit 125; exec sleep 60' oci-loop "$cg" &
        pid=$!
        for ((j = 0; j < 100; j++)); do
            grep -q "^0::.*/c$i\$" "/proc/$pid/cgroup" 2>/dev/null && break
            sleep 0.01
        done
        grep -q "^0::.*/c$i\$" "/proc/$pid/cgroup" 2>/dev/null || hl_fail "process $pid did not enter $cg"
        id="hopless-e2e-$HL_ID-loop-$i"
        state="{\"ociVersion\":\"1.0.2\",\"id\":\"$id\",\"status\":\"running\",\"pid\":$pid,\"bundle\":\"/nonexistent\",\"annotations\":{\"io.hopless.namespace\":\"default\",\"io.hopless.register\":\"web:8080\",\"io.hopless.address\":\"$prefix.$((i % 250 + 1))\"}}"
        hl_cgroup_id "$cg" >>"$out.ids"
        t0=$(date +%s%N)
        oci_hook "$sock" poststart "$state" >/dev/null || { kill -9 "$pid"; hl_fail "poststart of $id failed"; }
        t1=$(date +%s%N)
        kill -9 "$pid"
        wait "$pid" 2>/dev/null
        state="{\"ociVersion\":\"1.0.2\",\"id\":\"$id\",\"status\":\"stopped\",\"bundle\":\"/nonexistent\",\"annotations\":{}}"
        if [[ "${OCI_LOOP_ORDER:-runc}" == live ]]; then
            t2=$(date +%s%N)
            oci_hook "$sock" poststop "$state" >/dev/null || hl_fail "poststop of $id failed"
            t3=$(date +%s%N)
            _oci_rmdir "$cg"
        else
            _oci_rmdir "$cg"
            t2=$(date +%s%N)
            oci_hook "$sock" poststop "$state" >/dev/null || hl_fail "poststop of $id failed"
            t3=$(date +%s%N)
        fi
        echo "$(((t1 - t0) / 1000)) $(((t3 - t2) / 1000))" >>"$out"
    done
}

_oci_rmdir() {  # CGROUP: removes it once its killed process is gone (bounded: 1 s)
    local j
    for ((j = 0; j < 100; j++)); do
        rmdir "$1" 2>/dev/null && return 0
        sleep 0.01
    done
    hl_fail "cannot remove cgroup $1"
}

# oci_loop_report OUT: "poststart p50 p99 max, poststop p50 p99 max" in ms from oci_loop's file.
oci_loop_report() {
    local out="$1" s
    sort -n -k1,1 "$out" | awk '{ print $1 / 1000 }' >"$out.start"
    sort -n -k2,2 "$out" | awk '{ print $2 / 1000 }' >"$out.stop"
    for s in start stop; do
        printf 'post%s: n=%d p50=%s ms p99=%s ms max=%s ms\n' "$s" "$(wc -l <"$out.$s")" \
            "$(_oci_pctl "$out.$s" 50)" "$(_oci_pctl "$out.$s" 99)" "$(tail -n 1 "$out.$s")"
    done
}

# oci_leftovers PIN IDS-FILE: prints what the hook left behind for the cgroup
# ids in IDS-FILE: cgroup_ns entries, pinned link dirs, kernel links,
# records. Nothing printed means nothing left.
oci_leftovers() {
    local pin="$1" ids="$2" id idsj left cgroups links
    idsj="$(jq -cs . <"$ids")" || { echo "cannot read ids from $ids"; return 0; }
    cgroups="$("$HOPLESS" -j --pin-dir "$pin" cgroup list 2>&1)" || echo "hopless cgroup list failed: $cgroups"
    jq -r --argjson ids "$idsj" '.[] | select(.id as $i | $ids | index($i)) | "cgroup_ns entry for cgroup \(.id)"' \
        <<<"$cgroups" 2>/dev/null
    links="$(bpftool -j link show 2>&1)" || echo "bpftool link show failed: $links"
    jq -r --argjson ids "$idsj" \
        '.[] | select(.cgroup_id? as $i | $i != null and ($ids | index($i))) | "kernel link \(.id) on cgroup \(.cgroup_id)"' \
        <<<"$links" 2>/dev/null
    while read -r id; do
        [[ -n "$id" && -e "$pin/links/$id" ]] && echo "pinned links of cgroup $id ($pin/links/$id)"
    done <"$ids"
    left="$(find "$OCI_RECORDS" -type f 2>/dev/null)"
    [[ -z "$left" ]] || echo "records: $left"
}
