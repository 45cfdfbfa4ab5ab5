#!/usr/bin/env bash
# End-to-end tests of backend health through a running hoplessd: active
# health checks (HTTP and TCP) against real nginx backends in a network
# namespace, quarantine and return through the kernel, fail open, health
# kept across a reload, probes from inside a network namespace, and
# `hopless health`. A client task in its own network namespace (no default
# route) and cgroup dials the VIP; the two backends are two nginx processes
# in a server namespace on a bridge, so one can be stopped and started.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_health.sh [TEST...]
#
#   active    http check from the daemon's namespace: a stopped backend is
#             quarantined in the kernel and every connect goes to the other;
#             started again, it comes back; `hopless trace -j` shows it
#             ejected and restored (health_check)
#   failopen  every backend down: hopless routes to all of them (no connect
#             refused for want of a backend), hopless_service_panic{,_total}
#             count it; one back: the other is quarantined again
#   reload    a reload keeps a backend's health (quarantined at once, its
#             failures counted on); a backend removed and added again starts
#             afresh; a restarted daemon keeps the last one's quarantine
#   netns     a tcp check from inside a network namespace (netns: NAME) the
#             daemon is not in; the daemon's own namespace cannot reach the
#             backends at all
#   outlier   passive: one of two backends killed under a client loop: at most
#             consecutive_failures connects fail on it, none while it is
#             ejected; retried after, still dead, it is ejected twice as long;
#             started again, it is retried after that and takes connects;
#             `hopless trace -j` shows both ejections (outlier_detection,
#             1000 and 2000 ms) and their ends, in order with the kernel's
#             events: no redirect to the backend while it is ejected
#   cli       hopless health (text and -j, service SERVICE), GET
#             /v1/services' healthy; with the daemon down, states from the maps
#
# Last line "N passed, M failed"; exit non-zero on a failure, 77 without root
# or BPF (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck disable=SC2317  # the _predicates below are called through hl_wait_for
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init curl nginx ip jq

VIPNET="127.255.$((RANDOM % 200 + 20))"
VIPN=0
VPORT=80
# Fast checks: judged within a second (interval x threshold), and the
# tests wait for conditions, bounded, never for fixed times.
CHECK_HTTP="{ protocol: http, path: /, interval: 0.2, timeout: 0.15, healthy_threshold: 2, unhealthy_threshold: 2 }"

# topology NAME [HOST_ON_BRIDGE]: bridge, server netns ($NSS, address $SRV)
# with backend-1 on 8081 and backend-2 on 8082 (two nginx: start_backend /
# stop_backend), client netns ($NSC, no default route), cgroup $CG, daemon
# env (hl_test_env), a VIP. With HOST_ON_BRIDGE=1 the host has an address on
# the bridge, so the daemon's own probes reach the backends.
topology() {
    local name="$1" host="${2:-1}" sub
    sub="10.215.$((RANDOM % 250)).0"
    SRV="${sub%.0}.11"
    NSS="hopless-e2e-$HL_ID-$name-s"
    NSC="hopless-e2e-$HL_ID-$name-c"
    BR="hlh${HL_ID}b"
    hl_bridge_make "$BR"
    ((host)) && { ip addr add "${sub%.0}.1/24" dev "$BR" || hl_fail "cannot address $BR"; }
    hl_netns_make "$NSS"
    hl_netns_make "$NSC"
    hl_netns_join_bridge "$NSS" "$BR" "$SRV/24" "hlh${HL_ID}s"
    hl_netns_join_bridge "$NSC" "$BR" "${sub%.0}.2/24" "hlh${HL_ID}c"
    hl_test_env "$name"
    VIP="$VIPNET.$((++VIPN))"
    start_backend 1
    start_backend 2
}

# start_backend I / stop_backend I: nginx "backend-I" on $SRV:808I.
start_backend() {
    local var="NGINX$1"
    HL_NGINX_NETNS="$NSS" hl_nginx_start "$var" "$DIR/nginx$1" "$SRV:808$1=backend-$1"
    _up() { [[ "$(ip netns exec "$NSC" curl -s --max-time 1 "http://$SRV:808$1/")" == "backend-$1" ]]; }
    hl_wait_for 10 _up "$1" || hl_fail "nginx backend-$1 in $NSS does not answer"
}
stop_backend() {
    local var="NGINX$1"
    hl_stop_pid "${!var}"
}

# write_config [KEYS [PORT...]]: service web with KEYS (service keys, one
# a line; default: the fast HTTP check) over the backends on those ports
# (default: both), replaced in one rename.
write_config() {
    local keys="${1:-health_check: $CHECK_HTTP}" port line
    (($# > 0)) && shift
    (($# > 0)) || set -- 8081 8082
    {
        echo "metrics: { listen: \"127.0.0.1:$MPORT\" }"
        echo "attach: [ { cgroup: \"$CG\", namespace: default } ]"
        echo "services:"
        echo "  - name: web"
        echo "    vip: $VIP"
        echo "    port: $VPORT"
        while IFS= read -r line; do echo "    $line"; done <<<"$keys"
        echo "    backends:"
        for port in "$@"; do echo "      - { address: $SRV, port: $port }"; done
    } >"$CFG.new"
    mv "$CFG.new" "$CFG"
}

# dial [N]: N requests from the client task to the VIP; prints each answer
# (or "FAIL") on its own line.
dial() {
    local n="${1:-1}"
    # shellcheck disable=SC2016  # expanded by the inner bash
    hl_in_cgroup_netns "$CG" "$NSC" bash -c '
        for ((i = 0; i < $2; i++)); do
            curl -s --connect-timeout 1 --max-time 2 "http://$1/" || echo FAIL
        done' dial "$VIP:$VPORT" "$n"
}

count() { grep -c "^$1\$" <<<"$2"; }  # WORD TEXT: lines equal to WORD

state_of() {  # PORT: the kernel's state of backend $SRV:PORT of web (the CLI reads the pinned maps)
    "$HOPLESS" --pin-dir "$PIN" -j backend list service web |
        jq -r --arg p "$1" '.[] | select(.port == ($p | tonumber)) | .state'
}

health_json() {  # the daemon's view of web: hopless health -j service web
    "$HOPLESS" --pin-dir "$PIN" --socket "$HL_SOCK" -j health service web
}

# wait_state PORT STATE SECS: until the kernel holds STATE for that backend; logs how long it took.
wait_state() {
    local t0
    t0=$(hl_now_ms)
    _is() { [[ "$(state_of "$1")" == "$2" ]]; }
    hl_wait_for "$3" _is "$1" "$2" || hl_fail "backend $SRV:$1 is '$(state_of "$1")', not $2, after $3 s: $(tail -n 5 "$LOG")"
    hl_log "backend :$1 $2 after $(($(hl_now_ms) - t0)) ms"
}

# trace_start: `hopless -j trace service web` in the background into
# $TRACE until trace_stop; it reads once the next dial's events arrive.
trace_start() {
    TRACE="$DIR/trace.json"
    "$HOPLESS" --pin-dir "$PIN" -j trace service web >"$TRACE" 2>"$DIR/trace.err" &
    TRACER=$!
    hl_defer hl_stop_pid "$TRACER"
    hl_trace_wait_lease "$PIN" 10 || hl_fail "the tracer did not take the lease: $(cat "$DIR/trace.err")"
}
trace_wait() {  # the tracer has printed something
    _traced() { [[ -s "$TRACE" ]]; }
    hl_wait_for 5 _traced || hl_fail "the tracer prints nothing: $(cat "$DIR/trace.err")"
}
# trace_verdicts PORT: the tracer's ejected and restored events of backend
# $SRV:PORT, "SERVICE EVENT REASON [EJECTION_MS]" a line.
trace_verdicts() {
    jq -r --arg b "$SRV:$1" 'select(.backend == $b and (.event == "ejected" or .event == "restored"))
        | "\(.service) \(.event) \(.reason)\(if .ejection_ms then " \(.ejection_ms)" else "" end)"' "$TRACE"
}

# ------------------------------------------------------------------ tests

t_active() {
    topology active
    write_config
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    trace_start
    local out
    out="$(dial 4)"
    trace_wait
    hl_assert_eq 2 "$(count backend-1 "$out")" "both backends take connects at first (backend-1)"
    hl_assert_eq 2 "$(count backend-2 "$out")" "both backends take connects at first (backend-2)"
    stop_backend 1
    # interval 0.2 s x unhealthy_threshold 2: quarantined in about 0.4 s.
    wait_state 8081 quarantined 5
    hl_assert_eq active "$(state_of 8082)" "the other backend stays active"
    hl_assert_contains "$(cat "$LOG")" "backend $SRV:8081 is unhealthy: 2 probes failed in a row" "the log says why"
    out="$(dial 10)"
    hl_assert_eq 10 "$(count backend-2 "$out")" "every connect goes to the healthy backend: $(tr '\n' ' ' <<<"$out")"
    hl_assert_eq 0 "$(hl_metric "$METRICS" hopless_backend_healthy 'service="web"' "backend=\"$SRV:8081\"")" \
        "hopless_backend_healthy of the quarantined backend"
    start_backend 1
    wait_state 8081 active 5
    out="$(dial 4)"
    hl_assert_eq 2 "$(count backend-1 "$out")" "backend-1 takes connects again: $(tr '\n' ' ' <<<"$out")"
    hl_assert_contains "$(cat "$LOG")" "backend $SRV:8081 is healthy again: 2 probes passed in a row" "the return is logged"
    _restored() { trace_verdicts 8081 | grep -q restored; }
    hl_wait_for 3 _restored || hl_fail "the tracer saw no restore: $(trace_verdicts 8081)"
    hl_stop_pid "$TRACER"
    hl_assert_eq $'web ejected health_check\nweb restored health_check' "$(trace_verdicts 8081)" \
        "hopless trace: the backend ejected and restored by its health check"
    hl_assert_eq "" "$(trace_verdicts 8082)" "hopless trace: nothing of the healthy backend"
    hl_assert_eq 0 "$(hl_metric "$METRICS" hopless_service_panic_total 'service="web"')" "no fail-open"
    hl_assert_eq 0 "$(hl_metric "$METRICS" hopless_service_no_backend_total 'service="web"')" "no connect refused"
}

t_failopen() {
    topology failopen
    write_config
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    stop_backend 1
    wait_state 8081 quarantined 5
    stop_backend 2
    _panic() { [[ "$(hl_metric "$METRICS" hopless_service_panic 'service="web"')" == 1 ]]; }
    hl_wait_for 5 _panic || hl_fail "hopless_service_panic is not 1 with every backend down: $(tail -n 5 "$LOG")"
    hl_assert_eq "active active" "$(state_of 8081) $(state_of 8082)" "failing open: both backends take connects again"
    hl_assert_contains "$(cat "$LOG")" "every backend is unhealthy; failing open: new connects go to all 2 of them" \
        "the fail-open is logged"
    # Connects go to the (dead) backends, which refuse them: hopless refuses none itself.
    local out
    out="$(dial 4)"
    hl_assert_eq 4 "$(count FAIL "$out")" "nothing answers"
    hl_assert_eq 0 "$(hl_metric "$METRICS" hopless_service_no_backend_total 'service="web"')" \
        "no connect refused for want of a backend"
    hl_assert_eq 4 "$(hl_metric "$METRICS" hopless_service_connections_total 'service="web"')" \
        "the 4 connects were routed to the backends"
    hl_assert_eq 1 "$(hl_metric "$METRICS" hopless_service_panic_total 'service="web"')" "one fail-open counted"
    hl_assert_contains "$(health_json)" '"fail_open":true' "hopless health -j says so"
    start_backend 2
    wait_state 8081 quarantined 5
    hl_assert_eq active "$(state_of 8082)" "backend-2 is back"
    hl_assert_eq 0 "$(hl_metric "$METRICS" hopless_service_panic 'service="web"')" "no longer failing open"
    out="$(dial 4)"
    hl_assert_eq 4 "$(count backend-2 "$out")" "connects go to the one healthy backend: $(tr '\n' ' ' <<<"$out")"
    hl_assert_eq 1 "$(hl_metric "$METRICS" hopless_service_panic_total 'service="web"')" "still one fail-open"
}

t_reload() {
    topology reload
    write_config
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    stop_backend 1
    wait_state 8081 quarantined 5
    local n
    n=$(hl_count_log "$LOG" "config applied")
    # A reload that changes the check (slower, same thresholds) and the
    # service: the backend's health stays.
    write_config "health_check: { protocol: http, path: /, interval: 0.3, timeout: 0.2, healthy_threshold: 2, unhealthy_threshold: 2 }"
    hl_wait_log "$LOG" "config applied" 5 $((n + 1)) || hl_fail "the edit was not applied: $(tail -n 3 "$LOG")"
    hl_assert_eq quarantined "$(state_of 8081)" "quarantined right after the reload (its health was kept)"
    local f
    f="$(health_json | jq '.[0].backends[] | select(.port == 8081) | .failures')"
    ((f >= 2)) || hl_fail "its failures in a row were kept across the reload: $f"
    hl_assert_eq 0.3 "$(health_json | jq -r '.[0].health_check.interval')" "the new interval is in force"
    # Removed, then added back: forgotten in between, so it is judged afresh
    # (healthy at first, then unhealthy again: logged a second time).
    write_config "" 8082
    hl_wait_log "$LOG" "config applied" 5 $((n + 2)) || hl_fail "the removal was not applied"
    hl_assert_eq "" "$(state_of 8081)" "backend-1 left"
    write_config
    hl_wait_log "$LOG" "backend $SRV:8081 is unhealthy" 5 2 || hl_fail "the re-added backend was not judged again"
    wait_state 8081 quarantined 5
    # A restart (kill -9): the new daemon keeps the last one's quarantine
    # until the backend passes, rather than hand it connects meanwhile.
    kill -9 "$HL_DAEMON_PID"
    wait "$HL_DAEMON_PID" 2>/dev/null
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_assert_eq quarantined "$(state_of 8081)" "still quarantined once the new daemon runs"
    hl_assert_contains "$(cat "$LOG")" "1 backends quarantined by the last daemon stay so" "the restart says so"
    start_backend 1
    wait_state 8081 active 5
}

t_netns() {
    topology netns 0  # the host has no address on the bridge: only $NSC reaches the backends
    write_config "health_check: { protocol: tcp, interval: 0.2, timeout: 0.15, healthy_threshold: 2, unhealthy_threshold: 2, netns: $NSC }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    _probed() { [[ "$(health_json | jq -r '.[0].backends[0].last_probe.result')" == connected ]]; }
    hl_wait_for 5 _probed || hl_fail "no tcp probe from $NSC succeeded: $(health_json)"
    hl_assert_eq "active active" "$(state_of 8081) $(state_of 8082)" "both healthy, probed from the namespace"
    stop_backend 2
    wait_state 8082 quarantined 5
    hl_assert_eq "connection refused" "$(health_json | jq -r '.[0].backends[1].last_probe.result')" \
        "the probe's result, as seen from the namespace"
    local out
    out="$(dial 4)"
    hl_assert_eq 4 "$(count backend-1 "$out")" "connects go to backend-1: $(tr '\n' ' ' <<<"$out")"
    start_backend 2
    wait_state 8082 active 5
    # A namespace path that does not exist: probes pause, nobody is judged.
    local n
    n=$(hl_count_log "$LOG" "config applied")
    write_config "health_check: { protocol: tcp, interval: 0.2, timeout: 0.15, netns: /run/netns/hopless-e2e-$HL_ID-none }"
    hl_wait_log "$LOG" "config applied" 5 $((n + 1)) || hl_fail "the edit was not applied"
    hl_wait_log "$LOG" "health probes paused: health_check.netns: cannot open" 5 ||
        hl_fail "a missing namespace is not logged: $(tail -n 3 "$LOG")"
    sleep 0.6  # three intervals: long enough to quarantine, were it counted
    hl_assert_eq "active active" "$(state_of 8081) $(state_of 8082)" "a prober that cannot probe judges nobody"
}

# log_ms PATTERN [N]: the daemon's own timestamp (ms since the epoch) of
# the Nth (1st) log line matching PATTERN; empty when there is none.
log_ms() {
    local line
    line="$(grep -E -- "$1" "$LOG" | sed -n "${2:-1}p")"
    [[ -n "$line" ]] || return 0
    date -d "$(sed -E 's/^\[([0-9-]+ [0-9:.]+)\].*/\1/' <<<"$line")" +%s%3N
}

# fails FROM TO: the client's failed connects in (FROM, TO] (ms).
fails() { awk -v a="$1" -v b="$2" '$1 > a && $1 <= b && $2 == "FAIL"' "$CLIENT" | wc -l; }

# The outlier test: a client task connects to the VIP over and over (one at
# a time, every 20 ms, bounded: 500 connects or 25 s), writing "MS ANSWER"
# lines; backend-1 is killed: ejected (1 s), retried when that ends, still
# dead: ejected again, twice as long (2 s); started meanwhile, it is retried
# when the second ejection ends and takes connects again. Ejections and
# their ends are timed by the daemon's own log.
t_outlier() {
    topology outlier
    write_config "connect_timeout: 1
outlier_detection: { consecutive_failures: 3, base_ejection_time: 1, max_ejection_percent: 50 }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_assert_not_contains "$(cat "$LOG")" "outlier detection inactive" "the datapath reports connect failures"
    CLIENT="$DIR/client.log"
    local loop
    # shellcheck disable=SC2016  # expanded by the inner bash
    hl_in_cgroup_netns "$CG" "$NSC" bash -c '
        end=$((SECONDS + 25))
        for ((i = 0; i < 500 && SECONDS < end; i++)); do
            a="$(curl -s --connect-timeout 1 --max-time 2 "http://$1/" || echo FAIL)"
            echo "$(date +%s%3N) $a"
            sleep 0.02
        done >"$2"' client "$VIP:$VPORT" "$CLIENT" &
    loop=$!
    hl_defer hl_stop_pid "$loop"
    trace_start
    _answers() { (($(grep -c backend-1 "$CLIENT" 2>/dev/null) >= 5)); }
    hl_wait_for 5 _answers || hl_fail "the client gets no answers: $(tail -n 3 "$CLIENT")"
    trace_wait
    local killed ej1 end1 ej2 end2 re="backend $SRV:8081 ejected for"
    killed=$(hl_now_ms)
    stop_backend 1
    hl_wait_log "$LOG" "$re 1.0 s: 3 connect failures in a row \(ejection 1;" 5 ||
        hl_fail "backend-1 was not ejected: $(tail -n 5 "$LOG")"
    hl_assert_eq quarantined "$(state_of 8081)" "ejected: quarantined in the kernel"
    hl_wait_log "$LOG" "$re 2.0 s: 3 connect failures in a row \(ejection 2;" 5 ||
        hl_fail "backend-1, still dead, was not ejected again after its first ejection: $(tail -n 5 "$LOG")"
    start_backend 1  # it answers again, but is out until its ejection ends
    hl_wait_log "$LOG" "backend $SRV:8081: ejection over" 5 2 || hl_fail "the second ejection did not end"
    ej1=$(log_ms "$re 1.0 s") end1=$(log_ms "8081: ejection over" 1)
    ej2=$(log_ms "$re 2.0 s") end2=$(log_ms "8081: ejection over" 2)
    _back() { (($(awk -v t="$end2" '$1 > t && $2 == "backend-1"' "$CLIENT" | wc -l) >= 3)); }
    hl_wait_for 5 _back || hl_fail "backend-1 does not take connects after its ejection: $(tail -n 5 "$CLIENT")"
    hl_stop_pid "$loop"
    hl_stop_pid "$TRACER"
    hl_assert_eq "web ejected outlier_detection 1000
web restored outlier_detection
web ejected outlier_detection 2000
web restored outlier_detection" "$(trace_verdicts 8081)" "hopless trace: two ejections and their ends"
    hl_assert_eq "" "$(trace_verdicts 8082)" "hopless trace: the other backend was never ejected"
    # In order with the kernel's events: connects to backend-1 (r) fail (f)
    # until it is ejected (E); none is redirected to it until it is
    # restored (R). The verdicts enter the ring after the maps changed.
    local seq
    seq="$(jq -r --arg b "$SRV:8081" 'select(.backend == $b) | {redirect: "r", failed: "f", ejected: "E", restored: "R"}[.event] // empty' "$TRACE" | tr -d '\n')"
    hl_log "trace of backend-1: $seq"
    [[ "$seq" =~ ^[rf]*fE[^r]*R[rf]*fE[^r]*R[rf]*$ ]] ||
        hl_fail "the ejections are not in order with the kernel's events, or a connect went to the ejected backend: $seq"
    hl_log "ejections (daemon clock): +$((ej1 - killed)) ms after the kill for $((end1 - ej1)) ms, then for $((end2 - ej2)) ms"
    local before during1 retry during2 after
    # A connect is written down as it ends: ones that end a few ms into an
    # ejection were decided before it.
    before=$(fails "$killed" "$((ej1 + 20))")
    during1=$(fails "$((ej1 + 20))" "$end1")
    retry=$(fails "$end1" "$((ej2 + 20))")
    during2=$(fails "$((ej2 + 20))" "$end2")
    after=$(fails "$end2" "$(hl_now_ms)")
    hl_log "failed connects: $before before the ejection, $during1 during it, $retry at the retry, $during2 during the second, $after after"
    ((before >= 3 && before <= 4)) ||
        hl_fail "$before failed connects landed on the dead backend before its ejection (consecutive_failures 3, and one in flight)"
    hl_assert_eq 0 "$during1" "no connect lands on the ejected backend"
    hl_assert_eq 3 "$retry" "retried after its ejection, the dead backend takes consecutive_failures connects"
    hl_assert_eq 0 "$during2" "none during the second ejection"
    hl_assert_eq 0 "$after" "back and answering: no failed connect"
    hl_assert_eq 2 "$(hl_metric "$METRICS" hopless_backend_ejections_total 'service="web"' "backend=\"$SRV:8081\"")" \
        "hopless_backend_ejections_total"
    hl_assert_eq 0 "$(hl_metric "$METRICS" hopless_backend_ejections_total 'service="web"' "backend=\"$SRV:8082\"")" \
        "the other backend was never ejected"
    hl_assert_eq "2 true" "$(health_json | jq -r '.[0].backends[0] | "\(.ejections) \(.healthy)"')" \
        "hopless health: two ejections, healthy again"
}

t_cli() {
    topology cli
    write_config
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    stop_backend 2
    wait_state 8082 quarantined 5
    local out j
    out="$("$HOPLESS" --pin-dir "$PIN" --socket "$HL_SOCK" health)"
    hl_log "hopless health:"$'\n'"$out"
    hl_assert_contains "$out" "BACKEND" "a table"
    grep -qE "default +web +$SRV:8081 +yes +active +HTTP 200, [0-9.]+s ago +0 +0" <<<"$out" ||
        hl_fail "backend-1's row: $out"
    grep -qE "default +web +$SRV:8082 +no +quarantined +connection refused, [0-9.]+s ago +[0-9]+ +0" <<<"$out" ||
        hl_fail "backend-2's row: $out"
    j="$("$HOPLESS" --pin-dir "$PIN" --socket "$HL_SOCK" -j health service "$VIP:$VPORT")"
    hl_assert_eq "true false" "$(jq -r '[.[0].backends[].healthy] | map(tostring) | join(" ")' <<<"$j")" "-j: healthy"
    hl_assert_eq "true" "$(jq -r '.[0].backends[0].last_probe.ok' <<<"$j")" "-j: last_probe.ok"
    hl_assert_eq "http" "$(jq -r '.[0].health_check.protocol' <<<"$j")" "-j: the check"
    jq -e '.[0].backends[1].failures >= 2 and .[0].backends[1].last_probe.time != null' <<<"$j" >/dev/null ||
        hl_fail "-j: failures and time of the last probe: $j"
    # GET /v1/services' healthy is the same flag.
    j="$(curl -s --max-time 5 --unix-socket "$HL_SOCK" http://hopless/v1/services)"
    hl_assert_eq "true false" "$(jq -r '.services[] | select(.name == "web") | [.backends[].healthy] | map(tostring) | join(" ")' <<<"$j")" \
        "GET /v1/services: healthy"
    out="$("$HOPLESS" --socket "$HL_SOCK" health service nope 2>&1)" && hl_fail "an unknown service is an error"
    hl_assert_contains "$out" "no service 'nope'" "the error names it"
    # The daemon down: the kernel's states, said to be only that.
    hl_stop_pid "$HL_DAEMON_PID"
    out="$("$HOPLESS" --pin-dir "$PIN" --socket "$HL_SOCK" health)"
    hl_assert_contains "$out" "hoplessd does not answer" "the fallback says where its data comes from"
    grep -qE "default +web +$SRV:8082 +no +quarantined" <<<"$out" || hl_fail "fallback row of backend-2: $out"
    j="$("$HOPLESS" --pin-dir "$PIN" --socket "$HL_SOCK" -j health service web)"
    hl_assert_eq "maps" "$(jq -r '.[0].from' <<<"$j")" "-j fallback"
    hl_assert_eq "active quarantined" "$(jq -r '[.[0].backends[].state] | join(" ")' <<<"$j")" "-j fallback: states"
}

hl_run_selected "active:t_active" "failopen:t_failopen" "reload:t_reload" "netns:t_netns" "cli:t_cli" \
    "outlier:t_outlier" -- "$@"
hl_summary
