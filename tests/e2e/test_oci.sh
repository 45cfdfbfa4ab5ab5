#!/usr/bin/env bash
# End-to-end tests of `hopless oci-hook` with a real OCI runtime: runc runs
# containers from a busybox-static rootfs, joined to network namespaces on a
# bridge made here, with the hook at poststart and poststop talking to this
# test's hoplessd over its control socket.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_oci.sh [TEST...]
#   HOPLESS_OCI_N=1000 ... test_oci.sh scale     # the attach/detach loop's size (200)
#
# Each test has its own daemon, pin dir, cgroups and containers, and removes
# them (runc delete -f) when it ends. The last line is "N passed, M failed";
# exit status non-zero on a failure, 77 without root/BPF/runc (1 under
# HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/lib_oci.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_oci.sh"

hl_init runc busybox jq ip bpftool timeout
[[ -x "$HOPLESS" ]] || { echo "FAIL: HOPLESS=$HOPLESS is not an executable (build it first)" >&2; exit 1; }
oci_init

# ------------------------------------------------------------------ shared fixtures

NET="10.204.$((RANDOM % 200 + 20))"     # the bridge's /24, only inside our namespaces
WEB_ADDR="$NET.11"
CLIENT_ADDR="$NET.12"
NS_WEB="hopless-e2e-$HL_ID-web"
NS_CLIENT="hopless-e2e-$HL_ID-client"
BODY="oci-web-$HL_ID"

hl_bridge_make "hle${HL_ID}o"
hl_netns_make "$NS_WEB"
hl_netns_make "$NS_CLIENT"
hl_netns_join_bridge "$NS_WEB" "hle${HL_ID}o" "$WEB_ADDR/24" "hle${HL_ID}w"
hl_netns_join_bridge "$NS_CLIENT" "hle${HL_ID}o" "$CLIENT_ADDR/24" "hle${HL_ID}c"
oci_rootfs "$HL_TMP/rootfs"
echo "$BODY" >"$OCI_ROOTFS/www/index.html"
hl_info "runc $(runc --version | head -n 1 | awk '{print $3}'), rootfs $OCI_ROOTFS, bridge $NET.0/24"

# ------------------------------------------------------------------ per-test helpers

# setup NAME: a daemon with one service `web` (VIP:80, no backends of its own)
# and its control socket $SOCK.
setup() {
    local name="$1"
    hl_test_env "$name"
    SOCK="$DIR/hopless.sock"
    oci_records "$DIR/records"
    VIP="127.255.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))"
    cat >"$CFG" <<CFG
metrics: { listen: "127.0.0.1:$MPORT" }
control: { socket: "$SOCK" }
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    backends: []
CFG
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_wait_for 10 test -S "$SOCK" || hl_fail "no control socket at $SOCK: $(tail -n 5 "$LOG")"
}

cli() { "$HOPLESS" --pin-dir "$PIN" --socket "$SOCK" "$@"; }

# backends_of_web: "ADDR:PORT ..." of web's backends, from the pinned maps.
backends_of_web() {
    cli -j service show web | jq -r '[.backends[] | "\(.address):\(.port)"] | join(" ")'
}

# endpoint_ids: the ids of web's registered endpoints, from the daemon.
endpoint_ids() {
    cli -j endpoint list service web | jq -r '[.. | objects | select(has("id") and has("address")) | .id] | join(" ")'
}

# start_web ID: the server container: busybox httpd on 8080 in NS_WEB, registered as web:8080.
start_web() {
    local id="$1" bundle
    oci_bundle bundle "$id" "$NS_WEB" "$SOCK" '{"io.hopless.register": "web:8080"}' httpd -f -p 8080 -h /www
    oci_run "$id" "$bundle" || hl_fail "runc run $id failed: $(cat "$bundle/runc.log")"
}

# ------------------------------------------------------------------ tests

# (a) a server container becomes a backend of web when it starts (its first
# global address, port 8080, id CONTAINER:8080:tcp) and leaves at runc delete.
t_server_registers() {
    setup server
    local id="hopless-e2e-$HL_ID-srv"
    local t0 t1
    t0=$(hl_now_ms)
    start_web "$id"
    t1=$(hl_now_ms)
    hl_log "runc run with the poststart hook: $((t1 - t0)) ms"
    hl_assert_eq running "$(oci_status "$id")" "container state"
    hl_assert_eq "$WEB_ADDR:8080" "$(backends_of_web)" "web's backends after poststart"
    hl_assert_contains "$(endpoint_ids)" "$id:8080:tcp" "registered endpoint id"
    [[ -f "$OCI_RECORDS/$id.json" ]] || hl_fail "no record of what poststart did in $OCI_RECORDS"
    hl_log "record: $(cat "$OCI_RECORDS/$id.json")"
    oci_delete "$id" || hl_fail "runc delete $id failed"
    hl_assert_eq "" "$(backends_of_web)" "web's backends after runc delete"
    hl_assert_not_contains "$(endpoint_ids)" "$id" "endpoint after runc delete"
    [[ ! -e "$OCI_RECORDS/$id.json" ]] || hl_fail "the record outlived poststop"
}

# (b) a client container of namespace default reaches web by VIP and by name
# (a hosts file from `hopless hosts` in its rootfs), from inside the container;
# after runc delete its cgroup has no namespace entry and no link left.
t_client_reaches_web() {
    setup client
    local srv="hopless-e2e-$HL_ID-srv2" cli_id="hopless-e2e-$HL_ID-cli" bundle body cgid
    start_web "$srv"
    cli hosts namespace default >"$OCI_ROOTFS/etc/hosts" || hl_fail "hopless hosts failed"
    hl_assert_contains "$(cat "$OCI_ROOTFS/etc/hosts")" "$VIP" "hosts file"
    oci_bundle bundle "$cli_id" "$NS_CLIENT" "$SOCK" '{"io.hopless.namespace": "default"}' sleep 300
    oci_run "$cli_id" "$bundle" || hl_fail "runc run $cli_id failed: $(cat "$bundle/runc.log")"
    cgid="$(hl_cgroup_id "$HL_CG_ROOT/$cli_id")" || hl_fail "no cgroup for $cli_id"
    hl_assert_contains "$(cli -j cgroup list | jq -r '.[].id')" "$cgid" "the client's cgroup in cgroup list"
    body="$(timeout 10 runc --root "$OCI_RUNC_ROOT" exec "$cli_id" timeout 5 wget -q -O - "http://$VIP/")"
    hl_assert_eq "$BODY" "$body" "wget http://$VIP/ from the client container"
    body="$(timeout 10 runc --root "$OCI_RUNC_ROOT" exec "$cli_id" timeout 5 wget -q -O - "http://web/")"
    hl_assert_eq "$BODY" "$body" "wget http://web/ from the client container"
    hl_log "client container -> web by VIP $VIP and by name: '$body'"
    # A task outside the container's cgroup is not redirected.
    body="$(ip netns exec "$NS_CLIENT" timeout 5 busybox wget -q -O - "http://$VIP/" 2>&1)"
    hl_assert_not_contains "$body" "$BODY" "a process in the netns but outside the container's cgroup"
    oci_delete "$cli_id" || hl_fail "runc delete $cli_id failed"
    oci_delete "$srv" || hl_fail "runc delete $srv failed"
    hl_assert_eq "" "$(backends_of_web)" "web's backends after both are deleted"
    echo "$cgid" >"$DIR/ids"
    local left
    left="$(oci_leftovers "$PIN" "$DIR/ids")"
    hl_assert_eq "" "$left" "left behind after runc delete of both containers"
}

# (c) a container without io.hopless.* annotations: the hook does nothing
# (no record, no call to the daemon: it works with no daemon at all).
t_no_annotations() {
    hl_test_env noann
    SOCK="$DIR/absent.sock"
    oci_records "$DIR/records"
    local id="hopless-e2e-$HL_ID-plain" bundle
    oci_bundle bundle "$id" "$NS_WEB" "$SOCK" '{"org.opencontainers.image.title": "plain"}' sleep 300
    oci_run "$id" "$bundle" || hl_fail "runc run $id failed: $(cat "$bundle/runc.log")"
    hl_assert_eq running "$(oci_status "$id")" "container state"
    [[ -z "$(ls -A "$OCI_RECORDS")" ]] || hl_fail "records for a container without annotations: $(ls "$OCI_RECORDS")"
    oci_delete "$id" || hl_fail "runc delete $id failed"
}

# (d) a bad annotation fails the start with the hook's one-line error, and
# nothing is registered or left.
t_bad_annotation_fails_start() {
    setup bad
    local id="hopless-e2e-$HL_ID-bad" bundle rc
    oci_bundle bundle "$id" "$NS_WEB" "$SOCK" '{"io.hopless.register": "web:http"}' sleep 300
    oci_run "$id" "$bundle"
    rc=$?
    ((rc != 0)) || hl_fail "runc run succeeded with io.hopless.register 'web:http'"
    hl_assert_contains "$(cat "$bundle/runc.log")" "io.hopless.register[0]: port 'http' is not 1-65535" "runc's error"
    hl_log "runc run: exit $rc: $(grep -o 'hopless: .*' "$bundle/runc.log" | head -n 1)"
    [[ "$(oci_status "$id")" != running ]] || hl_fail "the container runs after a failed poststart"
    hl_assert_eq "" "$(backends_of_web)" "web's backends"
    [[ -z "$(ls -A "$OCI_RECORDS")" ]] || hl_fail "records after a failed start: $(ls "$OCI_RECORDS")"
}

# (e) scale: HOPLESS_OCI_N (200) containers, one after the other, attached
# and registered at poststart and undone at poststop (the hook fed the state
# runc would pass; real processes in real cgroups; each cgroup removed before
# poststop, as runc does). Nothing is left: no cgroup_ns entry, no pinned or
# kernel link, no record, no endpoint, no dying cgroup held by a link. The
# sanitizer pass of tools/test.sh runs 20: each hook run there starts a
# Debug + ASan binary (~0.3 s), and 200 took 150 s for the same paths.
t_scale() {
    setup scale
    local n=200 t0 left dying i
    [[ "${HOPLESS_SANITIZER_PASS:-0}" == 1 ]] && n=20
    n="${HOPLESS_OCI_N:-$n}"
    hl_cgroup_make OCI_LOOP_PARENT "hopless-e2e-$HL_ID-oci-loop"
    t0=$(hl_now_ms)
    oci_loop "$SOCK" "$n" "$DIR/loop" "10.205.$((RANDOM % 200))"
    hl_log "$n containers attached and detached in $(($(hl_now_ms) - t0)) ms"
    oci_loop_report "$DIR/loop" | while read -r line; do hl_log "$line"; done
    left="$(oci_leftovers "$PIN" "$DIR/loop.ids")"
    hl_assert_eq "" "$left" "left behind after $n attach/detach cycles"
    hl_assert_eq "" "$(endpoint_ids)" "web's endpoints after the loop"
    hl_assert_eq "" "$(backends_of_web)" "web's backends after the loop"
    # A link still holding a removed cgroup keeps it "dying" for ever.
    for ((i = 0; i < 100; i++)); do
        dying="$(awk '$1 == "nr_dying_descendants" { print $2 }' "$OCI_LOOP_PARENT/cgroup.stat")"
        [[ "$dying" == 0 ]] && break
        sleep 0.1
    done
    hl_assert_eq 0 "$dying" "dying cgroups under the loop's parent (references held)"
}

ALL=(
    "server_registers:t_server_registers"
    "client_reaches_web:t_client_reaches_web"
    "no_annotations:t_no_annotations"
    "bad_annotation_fails_start:t_bad_annotation_fails_start"
    "scale:t_scale"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
