#!/usr/bin/env bash
# End-to-end tests of hoplessd, run as a user runs it: the real binary, the real
# kernel, real HTTP servers (one nginx of our own on loopback 127.0.0.x, and one
# in a network namespace), clients in a cgroup the daemon attaches to.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_daemon.sh [TEST...]
#
# Each test has its own cgroup, pin dir, config dir, metrics port and daemon,
# and undoes them when it ends. The last line is "N passed, M failed"; the exit
# status is non-zero when a test failed, 77 when there is no root or BPF here
# (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init curl nginx ip ss bpftool awk

# ------------------------------------------------------------------ shared fixtures

PORT="$(hl_free_port)" || hl_fail "no free port"
B1="127.0.0.21:$PORT" B2="127.0.0.22:$PORT" B3="127.0.0.23:$PORT" B4="127.0.0.24:$PORT"
VIPNET="127.255.$((RANDOM % 200 + 20))"   # VIPs of this run: $VIPNET.<n>
VPORT="$(hl_free_port)" || hl_fail "no free port"
CGROOT="$(hl_cgroup2_mount)"

hl_info "hoplessd: $HOPLESSD"
hl_info "backends: $B1 $B2 $B3 $B4 (nginx), VIPs $VIPNET.x:$VPORT, cgroup v2 at $CGROOT"
hl_nginx_start NGINX_PID "$HL_TMP/nginx" "$B1=backend-1" "$B2=backend-2" "$B3=backend-3" "$B4=backend-4"
for b in 1 2 3 4; do
    v="B$b"
    hl_wait_http "http://${!v}/" "backend-$b" 10
done

# ------------------------------------------------------------------ per-test helpers

# write_cfg FILE BACKEND... : the config of the current test (CG, MPORT, VIP), one
# round-robin service `web` with these backends (ADDR:PORT; none = no backends).
write_cfg() {
    local file="$1" b
    shift
    {
        echo "metrics: { listen: \"127.0.0.1:$MPORT\" }"
        echo "attach:"
        echo "  - { cgroup: \"${CG_IN_CFG:-$CG}\", namespace: default }"
        echo "services:"
        echo "  - name: web"
        echo "    vip: $VIP"
        echo "    port: $VPORT"
        echo "    protocol: tcp"
        echo "    algorithm: round_robin"
        if (($# == 0)); then
            echo "    backends: []"
        else
            echo "    backends:"
            for b in "$@"; do echo "      - { address: ${b%:*}, port: ${b##*:} }"; done
        fi
    } >"$file"
}

# replace_cfg BACKEND...: writes a new config beside the live one and renames it over.
replace_cfg() {
    write_cfg "$CFG.new" "$@"
    mv -f "$CFG.new" "$CFG"
}

# setup NAME BACKEND...: cgroup, pin dir, config, metrics port, daemon for one test.
setup() {
    local name="$1"
    shift
    hl_test_env "$name"
    VIP="$VIPNET.$((++VIPN))"
    write_cfg "$CFG" "$@"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
}
VIPN=0

# dial: one connect from a child in the test's cgroup to the VIP; prints the
# body, or ERR<curl exit code>.
dial() {
    local out rc
    out="$(hl_in_cgroup "$CG" "${HL_CURL[@]}" "http://$VIP:$VPORT/")"
    rc=$?
    if ((rc == 0)); then printf '%s\n' "$out"; else printf 'ERR%s\n' "$rc"; fi
}

dial_n() {  # N: N dials, bodies on one line
    local i out=()
    for ((i = 0; i < $1; i++)); do out+=("$(dial)"); done
    echo "${out[*]}"
}

# assert_round_robin "SEQ" NAME...: SEQ is an exact round robin over the named
# backends (each NAME once in the first k, then repeating with period k).
assert_round_robin() {
    local -a seq
    read -r -a seq <<<"$1"
    shift
    local k=$# i
    local want have
    want="$(printf '%s\n' "$@" | sort | tr '\n' ' ')"
    have="$(printf '%s\n' "${seq[@]:0:k}" | sort | tr '\n' ' ')"
    [[ "$want" == "$have" ]] || hl_fail "round robin: first $k of [${seq[*]}] are not exactly {$*}"
    for ((i = k; i < ${#seq[@]}; i++)); do
        [[ "${seq[i]}" == "${seq[i - k]}" ]] || hl_fail "round robin broken at $i: [${seq[*]}]"
    done
    hl_log "round robin: ${seq[*]}"
}

# wait_serving TIMEOUT_S NAME...: polls (bounded) until a dial lands on one of
# NAMEs; sets WAIT_MS to the milliseconds it took. Fails the test on timeout.
wait_serving() {
    local timeout="$1" t0 now body
    shift
    t0=$(hl_now_ms)
    local i
    for ((i = 0; i < 200; i++)); do
        body="$(dial)"
        for n in "$@"; do
            if [[ "$body" == "$n" ]]; then
                WAIT_MS=$(($(hl_now_ms) - t0))
                return 0
            fi
        done
        now=$(hl_now_ms)
        ((now - t0 < timeout * 1000)) || break
        sleep 0.02
    done
    hl_fail "no dial reached {$*} within ${timeout}s (last: $body)"
}

# ------------------------------------------------------------------ tests

# (a) a child in the attached cgroup reaches a backend through the VIP; a
# process outside the cgroup does not; non-VIP addresses are untouched.
t_redirect_in_cgroup_only() {
    setup a "$B1" "$B2"
    local body
    body="$(dial)"
    [[ "$body" == backend-1 || "$body" == backend-2 ]] || hl_fail "child in cgroup got '$body', not a backend"
    hl_log "in cgroup: $VIP:$VPORT -> $body"
    local out rc
    out="$("${HL_CURL[@]}" "http://$VIP:$VPORT/")"
    rc=$?
    hl_assert_not_contains "$out" backend- "a process outside the cgroup was redirected"
    ((rc != 0)) || hl_fail "outside the cgroup, the VIP answered (exit 0): '$out'"
    hl_log "outside cgroup: curl exit $rc (not redirected)"
    body="$(hl_in_cgroup "$CG" "${HL_CURL[@]}" "http://$B3/")"
    hl_assert_eq backend-3 "$body" "a non-VIP address dialed from the cgroup"
}

# (b) round robin alternates exactly over two backends.
t_round_robin() {
    setup b "$B1" "$B2"
    assert_round_robin "$(dial_n 10)" backend-1 backend-2
}

# (c) the connection counters move by exactly the number of connects.
t_metrics_exact() {
    setup c "$B1" "$B2"
    local s0 b10 b20 s1 b11 b21
    s0=$(hl_metric "$METRICS" hopless_service_connections_total 'service="web"')
    b10=$(hl_metric "$METRICS" hopless_backend_connections_total 'service="web"' "backend=\"$B1\"")
    b20=$(hl_metric "$METRICS" hopless_backend_connections_total 'service="web"' "backend=\"$B2\"")
    [[ "$s0" =~ ^[0-9]+$ ]] || hl_fail "no hopless_service_connections_total at $METRICS ('$s0')"
    assert_round_robin "$(dial_n 6)" backend-1 backend-2
    s1=$(hl_metric "$METRICS" hopless_service_connections_total 'service="web"')
    b11=$(hl_metric "$METRICS" hopless_backend_connections_total 'service="web"' "backend=\"$B1\"")
    b21=$(hl_metric "$METRICS" hopless_backend_connections_total 'service="web"' "backend=\"$B2\"")
    hl_log "service $s0 -> $s1, $B1 $b10 -> $b11, $B2 $b20 -> $b21"
    hl_assert_eq 6 "$((s1 - s0))" "hopless_service_connections_total delta"
    hl_assert_eq 3 "$((b11 - b10))" "hopless_backend_connections_total{backend=$B1} delta"
    hl_assert_eq 3 "$((b21 - b20))" "hopless_backend_connections_total{backend=$B2} delta"
    # Scrapes come from outside the cgroup and must not count.
    local s2
    s2=$(hl_metric "$METRICS" hopless_service_connections_total 'service="web"')
    hl_assert_eq "$s1" "$s2" "counter after a scrape with no connects"
}

# (d) kill -9: the datapath keeps redirecting with the daemon dead; a restarted
# daemon adopts the pinned state without rewriting it, and still redirects.
t_kill9_and_adopt() {
    setup d "$B1" "$B2"
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
    kill -9 "$HL_DAEMON_PID"
    wait "$HL_DAEMON_PID" 2>/dev/null
    kill -0 "$HL_DAEMON_PID" 2>/dev/null && hl_fail "hoplessd survived kill -9"
    hl_log "daemon killed with -9"
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
    if [[ -x "$HOPLESS" ]]; then  # informational: the CLI reads the pins with the daemon dead
        local cli rc
        cli="$("$HOPLESS" --pin-dir "$PIN" service list 2>&1)"
        rc=$?
        hl_log "hopless service list, daemon dead (exit $rc):"
        printf '%s\n' "$cli" | head -n 5 | sed 's/^/      /' >&2
    fi
    local log2="$DIR/hoplessd-2.log"
    hl_daemon_start "$CFG" "$PIN" "$log2"
    grep -E "adopted 1 services" "$log2" >/dev/null || hl_fail "restarted daemon did not adopt 1 service: $(cat "$log2")"
    grep -E "applied .*[^0-9]0 map writes" "$log2" >/dev/null ||
        hl_fail "restarted daemon rewrote maps for the same config: $(grep -E 'map writes' "$log2")"
    hl_log "$(grep -oE 'adopted [0-9]+ services.*' "$log2")"
    hl_log "$(grep -oE '[0-9]+ services \(.*map writes' "$log2")"
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
}

# (e) SIGTERM: the daemon exits cleanly and the datapath keeps working.
t_sigterm_keeps_datapath() {
    setup e "$B1" "$B2"
    kill -TERM "$HL_DAEMON_PID"
    local i rc=
    for ((i = 0; i < 100; i++)); do
        kill -0 "$HL_DAEMON_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$HL_DAEMON_PID" 2>/dev/null && hl_fail "hoplessd did not exit within 5 s of SIGTERM"
    wait "$HL_DAEMON_PID"
    rc=$?
    hl_assert_eq 0 "$rc" "hoplessd exit status after SIGTERM"
    [[ -n "$(ls -A "$PIN/links" 2>/dev/null)" ]] || hl_fail "links are no longer pinned under $PIN/links"
    assert_round_robin "$(dial_n 6)" backend-1 backend-2
}

# (f) live reload: an edit in place and a replace-by-rename both take effect
# within 2 s (polled, bounded).
t_reload_on_file_change() {
    setup f "$B1" "$B2"
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
    # Edit in place: the same inode, truncated and rewritten.
    local tmp="$HL_TMP/f-edit.yaml"
    write_cfg "$tmp" "$B3" "$B4"
    cat "$tmp" >"$CFG"
    wait_serving 2 backend-3 backend-4
    hl_log "edit in place took effect after ${WAIT_MS} ms"
    assert_round_robin "$(dial_n 6)" backend-3 backend-4
    # Replace by rename: a new file moved over the old one.
    replace_cfg "$B1" "$B2" "$B3"
    wait_serving 2 backend-1 backend-2
    hl_log "replace by rename took effect after ${WAIT_MS} ms"
    assert_round_robin "$(dial_n 6)" backend-1 backend-2 backend-3
}

# (m) a Kubernetes ConfigMap volume: hopless.yaml -> ..data/hopless.yaml,
# ..data -> ..v1; an update makes ..v2 and renames a new ..data over the old.
# The config file sees no event of its own; the daemon still reloads.
t_reload_on_configmap_swap() {
    setup m "$B1" "$B2"
    mkdir -p "$DIR/..v1" "$DIR/..v2"
    cp "$CFG" "$DIR/..v1/hopless.yaml"
    ln -sfn ..v1 "$DIR/..data"
    ln -sfn ..data/hopless.yaml "$CFG.lnk"
    mv -f "$CFG.lnk" "$CFG"
    hl_wait_log "$LOG" "config applied|config rejected" 2 2 || true  # the swap to a symlink: let it settle
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
    write_cfg "$DIR/..v2/hopless.yaml" "$B3" "$B4"
    ln -sfn ..v2 "$DIR/..data_tmp"
    mv -T "$DIR/..data_tmp" "$DIR/..data"
    wait_serving 2 backend-3 backend-4
    hl_log "configmap-style ..data swap took effect after ${WAIT_MS} ms"
    assert_round_robin "$(dial_n 6)" backend-3 backend-4
}

# (n) bad command lines: exit status 2 and a line that names the problem.
t_bad_arguments() {
    local out rc args
    for args in "--pin-dir --config x.yaml" "--config" "--log-level" "--no-such-flag"; do
        # shellcheck disable=SC2086  # split on purpose
        out="$("$HOPLESSD" $args 2>&1)"
        rc=$?
        hl_assert_eq 2 "$rc" "exit status of hoplessd $args"
        hl_assert_contains "$out" "hoplessd: " "the error of hoplessd $args"
        hl_log "hoplessd $args -> $out"
    done
}

# (g) SIGHUP re-reads the config. The config path is a symlink into another
# directory and the edit goes to the target, which the daemon's directory
# watch does not see: the new backends can come only from the SIGHUP.
t_reload_on_sighup() {
    setup g "$B1" "$B2"
    local real="$DIR/real"
    mkdir -p "$real"
    cp "$CFG" "$real/hopless.yaml"
    ln -sfn "$real/hopless.yaml" "$CFG.lnk"
    mv -f "$CFG.lnk" "$CFG"
    # The swap to a symlink is itself a change the watch may reload: let it settle.
    hl_wait_log "$LOG" "config applied|config rejected" 2 || true
    sleep 0.3
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
    write_cfg "$real/hopless.yaml.new" "$B4"
    mv -f "$real/hopless.yaml.new" "$real/hopless.yaml"
    local before
    before=$(hl_count_log "$LOG" "reloading config .*\(SIGHUP\)")
    kill -HUP "$HL_DAEMON_PID"
    hl_wait_log "$LOG" "reloading config .*\(SIGHUP\)" 3 $((before + 1)) || hl_fail "no SIGHUP reload in the log"
    wait_serving 2 backend-4
    hl_log "SIGHUP reload took effect after ${WAIT_MS} ms"
    assert_round_robin "$(dial_n 4)" backend-4
    kill -0 "$HL_DAEMON_PID" 2>/dev/null || hl_fail "hoplessd died on SIGHUP"
}

# (h) bad configs are rejected whole, with a log line naming the field and
# value, and the last good backends keep serving.
t_bad_config_rejected() {
    setup h "$B1" "$B2"
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
    local missing_cg="$CGROOT/hopless-e2e-$HL_ID-does-not-exist"
    local -a names=("broken YAML" "unknown key" "bad port" "missing cgroup")
    local -a expect=("YAML syntax error" "services[0].colour: unknown key" "services[0].backends[0].port: '70000'"
        "attach[0].cgroup: '$missing_cg'")
    local i n before line
    for i in 0 1 2 3; do
        write_cfg "$CFG.new" "$B3" "$B4"
        case $i in
        0) printf 'services:\n  - name: web\n    backends: [ { address: 127.0.0.23, port: 1 }\n' >"$CFG.new" ;;
        1) sed -i 's/^    protocol: tcp$/    protocol: tcp\n    colour: blue/' "$CFG.new" ;;
        2) sed -i "0,/port: $PORT }/s//port: 70000 }/" "$CFG.new" ;;
        3) sed -i "s|cgroup: \"$CG\"|cgroup: \"$missing_cg\"|" "$CFG.new" ;;
        esac
        before=$(hl_count_log "$LOG" "config rejected")
        mv -f "$CFG.new" "$CFG"
        hl_wait_log "$LOG" "config rejected" 3 $((before + 1)) ||
            hl_fail "${names[i]}: not rejected within 3 s: $(tail -n 3 "$LOG")"
        line="$(grep "config rejected" "$LOG" | tail -n 1)"
        hl_assert_contains "$line" "${expect[i]}" "${names[i]}: the rejection names the field"
        hl_log "${names[i]}: ${line#*invalid config: }"
        assert_round_robin "$(dial_n 4)" backend-1 backend-2
    done
    n=$(hl_metric "$METRICS" hopless_config_reloads_total 'result="rejected"')
    hl_assert_eq 4 "$n" "hopless_config_reloads_total{result=rejected}"
    kill -0 "$HL_DAEMON_PID" 2>/dev/null || hl_fail "hoplessd died on a bad config"
}

# (i) a service with no backends refuses connects at once (ECONNREFUSED, curl
# exit 7) and counts them.
t_no_backend_refused() {
    setup i
    local n0 c0 i out rc ms
    n0=$(hl_metric "$METRICS" hopless_service_no_backend_total 'service="web"')
    c0=$(hl_metric "$METRICS" hopless_service_connections_total 'service="web"')
    for i in 1 2 3; do
        # -v: curl names the connect() errno ("... failed: Connection refused");
        # -w: curl's own clock, so process start-up on a loaded machine does not count.
        out="$(hl_in_cgroup "$CG" curl -sS -v -w 'time_total_ms=%{time_total}\n' --connect-timeout 5 --max-time 5 \
            "http://$VIP:$VPORT/" 2>&1)"
        rc=$?
        hl_assert_eq 7 "$rc" "curl exit status (couldn't connect)"
        hl_assert_contains "$out" "Connection refused" "curl's connect error"
        ms=$(printf '%s\n' "$out" | awk -F= '/^time_total_ms=/ { printf "%d", $2 * 1000 }')
        # "At once": a refusal, not a timeout (generous: the machine may be loaded).
        [[ -n "$ms" ]] && ((ms < 1500)) || hl_fail "the refused connect took ${ms:-?} ms"
    done
    hl_log "3 connects refused, last in ${ms} ms: $(printf '%s\n' "$out" | grep -m1 'Connection refused')"
    local n1 c1
    n1=$(hl_metric "$METRICS" hopless_service_no_backend_total 'service="web"')
    c1=$(hl_metric "$METRICS" hopless_service_connections_total 'service="web"')
    hl_assert_eq 3 "$((n1 - n0))" "hopless_service_no_backend_total delta"
    hl_assert_eq 0 "$((c1 - c0))" "hopless_service_connections_total delta"
}

# (j) hoplessd --cleanup removes every pin and link, and the VIP stops redirecting.
t_cleanup_removes_everything() {
    setup j "$B1" "$B2"
    assert_round_robin "$(dial_n 2)" backend-1 backend-2
    local cgid
    cgid=$(hl_cgroup_id "$CG")
    bpftool link show | grep -qE "cgroup_id $cgid([^0-9]|$)" || hl_fail "no bpf link for cgroup id $cgid before cleanup"
    hl_stop_pid "$HL_DAEMON_PID" TERM
    local out rc
    out="$("$HOPLESSD" --cleanup --pin-dir "$PIN" 2>&1)"
    rc=$?
    hl_assert_eq 0 "$rc" "hoplessd --cleanup exit status ($out)"
    hl_log "$(printf '%s\n' "$out" | tail -n 1)"
    if [[ -e "$PIN" ]]; then
        local left
        left="$(find "$PIN" -mindepth 1 2>/dev/null)"
        [[ -z "$left" ]] || hl_fail "files left in the pin dir: $left"
    fi
    _no_links() { ! bpftool link show 2>/dev/null | grep -qE "cgroup_id $cgid([^0-9]|$)"; }
    hl_wait_for 2 _no_links || hl_fail "bpf links of cgroup $cgid remain: $(bpftool link show | grep -B1 "cgroup_id $cgid")"
    local progs
    progs="$(bpftool cgroup show "$CG" 2>&1)"
    [[ -z "$(printf '%s\n' "$progs" | grep -E '^[0-9]+')" ]] || hl_fail "programs still attached to $CG: $progs"
    local body
    body="$(dial)"
    hl_assert_not_contains "$body" backend- "the VIP after cleanup"
    hl_log "after cleanup the VIP gives: $body"
}

# (k) a cgroup path relative to the cgroup v2 mount.
t_relative_cgroup_path() {
    CG_IN_CFG="hopless-e2e-$HL_ID-k"
    setup k "$B1" "$B2"
    grep -q "cgroup: \"$CG_IN_CFG\"" "$CFG" || hl_fail "the config does not name the cgroup relatively"
    [[ -d "$PIN/links/$(hl_cgroup_id "$CG")" ]] || hl_fail "no links pinned for $CG"
    assert_round_robin "$(dial_n 4)" backend-1 backend-2
}

# (l) the task picture: a client in its own netns (no default route) and
# cgroup dials `web` by name (/etc/netns/NS/hosts) and reaches a backend that
# lives in another netns on a bridge.
t_netns_client_by_name() {
    local sub="10.201.$((RANDOM % 250)).0"
    local br="hle${HL_ID}b" nsc="hopless-e2e-$HL_ID-cli" nss="hopless-e2e-$HL_ID-srv"
    hl_bridge_make "$br"
    hl_netns_make "$nss"
    hl_netns_make "$nsc"
    hl_netns_join_bridge "$nss" "$br" "${sub%.0}.11/24" "hle${HL_ID}s"
    hl_netns_join_bridge "$nsc" "$br" "${sub%.0}.2/24" "hle${HL_ID}c"
    HL_NGINX_NETNS="$nss" hl_nginx_start NSPID "$HL_TMP/l-nginx" "${sub%.0}.11:80=netns-backend"
    _ns_up() { [[ "$(ip netns exec "$nsc" "${HL_CURL[@]}" "http://${sub%.0}.11/")" == netns-backend ]]; }
    hl_wait_for 10 _ns_up || hl_fail "the backend in $nss does not answer over the bridge"
    ip -n "$nsc" route show | grep -q '^default' && hl_fail "the client netns has a default route"
    setup l "${sub%.0}.11:80"
    hl_netns_hosts "$nsc" "$VIP web"
    local body
    body="$(hl_in_cgroup_netns "$CG" "$nsc" "${HL_CURL[@]}" "http://web:$VPORT/")"
    hl_assert_eq netns-backend "$body" "curl web:$VPORT from the client netns"
    hl_log "client netns $nsc in cgroup: curl web:$VPORT -> $body (backend ${sub%.0}.11:80 in $nss)"
    # Without the cgroup, the same name goes nowhere.
    body="$(ip netns exec "$nsc" "${HL_CURL[@]}" "http://web:$VPORT/")"
    hl_assert_not_contains "$body" netns-backend "the client netns outside the cgroup"
}

# ------------------------------------------------------------------ run

ALL=(
    "a redirect in cgroup only:t_redirect_in_cgroup_only"
    "b round robin:t_round_robin"
    "c metrics count exactly:t_metrics_exact"
    "d kill -9 and adopt:t_kill9_and_adopt"
    "e SIGTERM keeps datapath:t_sigterm_keeps_datapath"
    "f reload on file change:t_reload_on_file_change"
    "g reload on SIGHUP:t_reload_on_sighup"
    "h bad config rejected:t_bad_config_rejected"
    "i no backend refused:t_no_backend_refused"
    "j cleanup removes everything:t_cleanup_removes_everything"
    "k relative cgroup path:t_relative_cgroup_path"
    "l netns client by name:t_netns_client_by_name"
    "m reload on configmap swap:t_reload_on_configmap_swap"
    "n bad arguments:t_bad_arguments"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
