#!/usr/bin/env bash
# End-to-end tests of live discovery through a running hoplessd: tasks that
# register themselves over the control API (Unix socket, HTTP/JSON), TTLs,
# services defined through the API, the saved registry across kill -9, bad
# requests, and a registration storm under load. A client task in its own
# network namespace (no default route) and cgroup dials the VIP; backends
# are nginx "tasks" in another namespace on a bridge.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_registry.sh [TEST...]
#
#   register   a registered endpoint takes connects at once; deregistered, none
#   ttl        an endpoint with a ttl leaves unless heartbeated; its open
#              connection is terminated; a heartbeated one stays
#   restart    registrations and API services survive kill -9 with fresh TTLs
#   apiservice a service defined through the API is dialled, replaced, deleted;
#              one from the file cannot be deleted through the API
#   bad        bad requests get a 4xx naming the field; nothing changes; a
#              non-root caller is refused
#   storm      10,000 registrations and deregistrations while a client
#              connects: no failed connect, no misroute, memory back after
#
# Last line "N passed, M failed"; exit non-zero on a failure, 77 without root
# or BPF (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck disable=SC2317  # the _predicates below are called through hl_wait_for
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init curl nginx ip jq python3 setpriv

VIPNET="127.255.$((RANDOM % 200 + 20))"
VIPN=0
VPORT=80
STORM="$(dirname "${BASH_SOURCE[0]}")/tools/api_storm.py"

# topology NAME: bridge, server netns ($NSS, $SRV) with nginx on 8081 and
# 8082 ("backend-1", "backend-2"), client netns ($NSC, no default route),
# cgroup $CG, daemon env (hl_test_env), a VIP, and a config with service
# `web` (no backends of its own) that the daemon is started on.
topology() {
    local name="$1" sub
    sub="10.214.$((RANDOM % 250)).0"
    SRV="${sub%.0}.11"
    NSS="hopless-e2e-$HL_ID-$name-s"
    NSC="hopless-e2e-$HL_ID-$name-c"
    hl_bridge_make "hlr${HL_ID}b"
    hl_netns_make "$NSS"
    hl_netns_make "$NSC"
    hl_netns_join_bridge "$NSS" "hlr${HL_ID}b" "$SRV/24" "hlr${HL_ID}s"
    hl_netns_join_bridge "$NSC" "hlr${HL_ID}b" "${sub%.0}.2/24" "hlr${HL_ID}c"
    hl_test_env "$name"
    VIP="$VIPNET.$((++VIPN))"
    HL_NGINX_NETNS="$NSS" hl_nginx_start NGINX "$DIR/nginx" "$SRV:8081=backend-1" "$SRV:8082=backend-2"
    _up() { [[ "$(ip netns exec "$NSC" curl -s --max-time 1 "http://$SRV:8082/")" == backend-2 ]]; }
    hl_wait_for 10 _up || hl_fail "nginx in $NSS does not answer"
    {
        echo "metrics: { listen: \"127.0.0.1:$MPORT\" }"
        echo "attach: [ { cgroup: \"$CG\", namespace: default } ]"
        echo "services:"
        echo "  - { name: web, vip: $VIP, port: $VPORT, backends: [] }"
    } >"$CFG"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
}

# api METHOD PATH [BODY]: one request to the daemon's control socket; prints
# "STATUS BODY".
api() {
    local out
    out="$(curl -s --max-time 5 --unix-socket "$HL_SOCK" -X "$1" -w ' %{http_code}' \
        ${3:+-H 'Content-Type: application/json' --data "$3"} "http://hopless$2")"
    printf '%s %s\n' "${out##* }" "${out% *}"
}

api_ok() {  # METHOD PATH [BODY]: the request must succeed
    local r
    r="$(api "$@")"
    [[ "${r%% *}" == 2* ]] || hl_fail "$1 $2 ${3:-}: $r"
}

# dial [N]: N requests from the client task to the VIP; prints each answer
# (or "FAIL") on its own line.
dial() {
    local n="${1:-1}"
    hl_in_cgroup_netns "$CG" "$NSC" bash -c '
        for ((i = 0; i < $2; i++)); do
            curl -s --connect-timeout 1 --max-time 2 "http://$1/" || echo FAIL
        done' dial "$VIP:$VPORT" "$n"
}

count() { grep -c "^$1\$" <<<"$2"; }  # WORD TEXT: lines equal to WORD

backends_of() {  # SERVICE: its backends in the kernel (the CLI reads the pinned maps), ADDR:PORT sorted
    "$HOPLESS" --pin-dir "$PIN" -j backend list service "$1" | jq -r '.[] | "\(.address):\(.port)"' | sort | tr '\n' ' '
}

# ------------------------------------------------------------------ tests

t_register() {
    topology register
    local out
    out="$(dial 1)"
    hl_assert_eq "FAIL" "$out" "a service with no backend refuses"
    api_ok PUT /v1/services/default/web/endpoints/task-1 "{\"address\":\"$SRV\",\"port\":8081}"
    out="$(dial 4)"
    hl_assert_eq 4 "$(count backend-1 "$out")" "after registering task-1, 4 connects reach it"
    api_ok PUT /v1/services/default/web/endpoints/task-2 "{\"address\":\"$SRV\",\"port\":8082,\"weight\":1}"
    out="$(dial 10)"
    hl_assert_eq 5 "$(count backend-1 "$out")" "round robin over the two registered tasks (backend-1)"
    hl_assert_eq 5 "$(count backend-2 "$out")" "round robin over the two registered tasks (backend-2)"
    # The same registration again is a refresh, not a second backend.
    api_ok PUT /v1/services/default/web/endpoints/task-2 "{\"address\":\"$SRV\",\"port\":8082}"
    hl_assert_eq "$SRV:8081 $SRV:8082 " "$(backends_of web)" "kernel backends after a repeated registration"
    local list
    list="$(api GET /v1/services/default/web/endpoints)"
    hl_assert_eq 2 "$(jq '.endpoints | length' <<<"${list#* }")" "GET endpoints lists both"
    list="$(api GET /v1/services)"
    hl_assert_eq "api api" "$(jq -r '.services[] | select(.name=="web") | [.backends[].source] | join(" ")' <<<"${list#* }")" \
        "each backend's source"
    # The CLI: service list -j and endpoint list show each backend's source and TTL.
    api_ok PUT /v1/services/default/web/endpoints/task-3 "{\"address\":\"$SRV\",\"port\":8083,\"ttl\":30}"
    list="$("$HOPLESS" --pin-dir "$PIN" --socket "$HL_SOCK" -j service list)"
    hl_assert_eq "api api api" "$(jq -r '.[] | select(.name=="web") | [.endpoints[].source] | join(" ")' <<<"$list")" \
        "service list -j: each backend's source"
    local left
    left="$(jq -r '.[] | select(.name=="web") | .endpoints[] | select(.id=="task-3") | .ttl_left' <<<"$list")"
    awk -v l="$left" 'BEGIN { exit !(l > 25 && l <= 30) }' || hl_fail "service list -j: ttl_left of task-3 is '$left'"
    list="$("$HOPLESS" --socket "$HL_SOCK" endpoint list service web)"
    hl_assert_contains "$list" "task-3" "endpoint list"
    hl_assert_contains "$list" "30s" "endpoint list shows the ttl"
    hl_must "$HOPLESS" --socket "$HL_SOCK" endpoint deregister web id task-3 >/dev/null
    api_ok DELETE /v1/services/default/web/endpoints/task-1
    out="$(dial 4)"
    hl_assert_eq 4 "$(count backend-2 "$out")" "after deregistering task-1, every connect reaches task-2"
    hl_assert_eq "$SRV:8082 " "$(backends_of web)" "kernel backends after deregistration"
}

t_ttl() {
    topology ttl
    # `short` alone first, so the connection held below goes to it.
    api_ok PUT /v1/services/default/web/endpoints/short "{\"address\":\"$SRV\",\"port\":8081,\"ttl\":3}"
    local held="$DIR/held" holder
    hl_in_cgroup_netns "$CG" "$NSC" bash -c '
        exec 3<>/dev/tcp/$1/$2 || exit 1
        printf "GET / HTTP/1.1\r\nHost: x\r\n\r\n" >&3
        timeout 2 dd bs=4096 count=1 <&3 2>/dev/null | tail -n 1 | tr -d "\r" >"$3.first"
        # Hold it; how the read ends (EOF or an error) is written down.
        timeout 15 cat <&3 >/dev/null 2>"$3.err"
        echo "rc=$? $(cat "$3.err")" >"$3.end"' held "$VIP" "$VPORT" "$held" &
    holder=$!
    hl_defer hl_stop_pid "$holder"
    hl_wait_for 3 test -s "$held.first" || hl_fail "no answer on the held connection"
    hl_assert_eq backend-1 "$(cat "$held.first")" "a held connection through the VIP to task 'short'"
    api_ok PUT /v1/services/default/web/endpoints/beating "{\"address\":\"$SRV\",\"port\":8082,\"ttl\":2}"
    local t0 beats=0
    t0=$(hl_now_ms)
    # Heartbeat `beating` every 0.5 s for 4 s; `short` gets none.
    while (($(hl_now_ms) - t0 < 4000)); do
        api_ok POST /v1/services/default/web/endpoints/beating/heartbeat
        ((beats++))
        sleep 0.5
    done
    hl_log "heartbeats sent to 'beating': $beats"
    hl_assert_eq "$SRV:8082 " "$(backends_of web)" "after 4 s only the heartbeated endpoint is a backend"
    hl_assert_contains "$(cat "$LOG")" "endpoint 'short' of service default/web expired" "the expiry is logged"
    hl_wait_for 5 test -s "$held.end" || hl_fail "the connection held to the expired endpoint is still open"
    hl_log "held connection to the expired endpoint: $(cat "$held.end")"
    hl_assert_contains "$(cat "$held.end")" "connection abort" "the held connection was terminated (ECONNABORTED)"
    local out
    out="$(dial 3)"
    hl_assert_eq 3 "$(count backend-2 "$out")" "new connects go to the live endpoint"
    local r
    r="$(api GET /v1/services/default/web/endpoints)"
    hl_assert_eq "beating" "$(jq -r '[.endpoints[].id] | join(" ")' <<<"${r#* }")" "GET endpoints after expiry"
}

t_restart() {
    topology restart
    api_ok PUT /v1/services/default/web/endpoints/task-1 "{\"address\":\"$SRV\",\"port\":8081,\"ttl\":3}"
    api_ok PUT /v1/services/default/api-svc "{\"port\":$VPORT,\"backends\":[{\"address\":\"$SRV\",\"port\":8082}]}"
    local r vip2
    r="$(api GET /v1/services)"
    vip2="$(jq -r '.services[] | select(.name=="api-svc") | .vip' <<<"${r#* }")"
    [[ "$vip2" =~ ^127\.255\. ]] || hl_fail "api-svc got no VIP from the pool: $r"
    kill -9 "$HL_DAEMON_PID"
    wait "$HL_DAEMON_PID" 2>/dev/null
    # The datapath keeps working while the daemon is down.
    local out
    out="$(dial 2)"
    hl_assert_eq 2 "$(count backend-1 "$out")" "connects while the daemon is down"
    sleep 2  # most of task-1's ttl passes with no daemon
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_assert_contains "$(cat "$LOG")" "restored 1 API services and 1 registrations" "the restart restores the API's state"
    sleep 2  # past the original ttl: a fresh one started at the restart
    out="$(dial 2)"
    hl_assert_eq 2 "$(count backend-1 "$out")" "task-1 is still a backend 4 s after it registered with ttl 3 (fresh TTL)"
    r="$(api GET /v1/services)"
    hl_assert_eq "$vip2" "$(jq -r '.services[] | select(.name=="api-svc") | .vip' <<<"${r#* }")" "api-svc keeps its VIP"
    out="$(hl_in_cgroup_netns "$CG" "$NSC" curl -s --max-time 2 "http://$vip2:$VPORT/")"
    hl_assert_eq backend-2 "$out" "the API-defined service after the restart"
    _gone() { [[ "$(backends_of web)" == "" ]]; }
    hl_wait_for 5 _gone || hl_fail "task-1 did not expire after its fresh ttl"
}

t_apiservice() {
    topology apiservice
    local vip2="$VIPNET.$((++VIPN))" out r
    api_ok PUT /v1/services/default/api-svc \
        "{\"vip\":\"$vip2\",\"port\":$VPORT,\"backends\":[{\"address\":\"$SRV\",\"port\":8081}]}"
    out="$(hl_in_cgroup_netns "$CG" "$NSC" curl -s --max-time 2 "http://$vip2:$VPORT/")"
    hl_assert_eq backend-1 "$out" "a service defined through the API"
    # Replace it (PUT is idempotent and whole): now backend-2.
    api_ok PUT /v1/services/default/api-svc \
        "{\"name\":\"api-svc\",\"vip\":\"$vip2\",\"port\":$VPORT,\"backends\":[{\"address\":\"$SRV\",\"port\":8082}]}"
    out="$(hl_in_cgroup_netns "$CG" "$NSC" curl -s --max-time 2 "http://$vip2:$VPORT/")"
    hl_assert_eq backend-2 "$out" "the replaced API service"
    r="$(api DELETE /v1/services/default/web)"
    hl_assert_eq 409 "${r%% *}" "deleting a file service through the API"
    hl_assert_contains "$r" "config file" "the error says where the service is defined"
    r="$(api PUT /v1/services/default/web "{\"port\":81}")"
    hl_assert_eq 409 "${r%% *}" "redefining a file service through the API"
    api_ok DELETE /v1/services/default/api-svc
    out="$(hl_in_cgroup_netns "$CG" "$NSC" curl -s --connect-timeout 1 --max-time 2 "http://$vip2:$VPORT/" || echo FAIL)"
    hl_assert_eq FAIL "$out" "a deleted API service takes no connects"
    hl_assert_not_contains "$("$HOPLESS" --pin-dir "$PIN" service list)" "api-svc" "service list after delete"
}

t_bad() {
    topology bad
    api_ok PUT /v1/services/default/web/endpoints/good "{\"address\":\"$SRV\",\"port\":8081}"
    local before r
    before="$(backends_of web)"
    check() {  # STATUS NEEDLE METHOD PATH [BODY]
        local want="$1" needle="$2"
        shift 2
        r="$(api "$@")"
        hl_assert_eq "$want" "${r%% *}" "$1 $2 ${3:-}"
        hl_assert_contains "$r" "$needle" "$1 $2 ${3:-}: the error names the field"
        hl_log "$1 $2 ${3:-} -> $r"
    }
    check 404 "default/nope" PUT /v1/services/default/nope/endpoints/x "{\"address\":\"$SRV\",\"port\":8081}"
    check 400 "address" PUT /v1/services/default/web/endpoints/x "{\"address\":\"10.0.0.300\",\"port\":8081}"
    check 400 "port" PUT /v1/services/default/web/endpoints/x "{\"address\":\"$SRV\",\"port\":70000}"
    check 400 "ttl" PUT /v1/services/default/web/endpoints/x "{\"address\":\"$SRV\",\"port\":8081,\"ttl\":0}"
    check 400 "ttl" PUT /v1/services/default/web/endpoints/x "{\"address\":\"$SRV\",\"port\":8081,\"ttl\":99999999999}"
    check 409 "good" PUT /v1/services/default/web/endpoints/good "{\"address\":\"$SRV\",\"port\":8082}"
    check 400 "pid" PUT /v1/cgroups "{\"pid\":999999999,\"namespace\":\"default\"}"
    check 400 "{" PUT /v1/services/default/web/endpoints/x "{\"address\":"
    check 404 "endpoint" POST /v1/services/default/web/endpoints/nope/heartbeat
    hl_assert_eq "$before" "$(backends_of web)" "nothing changed after the bad requests"
    # Not root: the socket (0600) refuses, and nothing changes.
    local out
    out="$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -s --max-time 3 --unix-socket "$HL_SOCK" \
        -X DELETE http://hopless/v1/services/default/web/endpoints/good 2>&1; echo " rc=$?")"
    hl_assert_contains "$out" "rc=7" "a non-root caller cannot connect to the control socket"
    hl_assert_eq "$before" "$(backends_of web)" "nothing changed after the non-root request"
    hl_assert_eq "srw-------" "$(stat -c %A "$HL_SOCK")" "the control socket's mode"
}

t_storm() {
    topology storm
    api_ok PUT /v1/services/default/web/endpoints/stable "{\"address\":\"$SRV\",\"port\":8081}"
    api_ok PUT /v1/services/default/churn "{\"port\":$VPORT,\"backends\":[]}"
    local rss0 rss1 out
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$HL_DAEMON_PID/status")
    # The client connects to web in a bounded loop while 10,000
    # registrations and deregistrations churn the other service and web.
    hl_in_cgroup_netns "$CG" "$NSC" bash -c '
        end=$((SECONDS + 60))
        while [[ ! -e $2 && SECONDS -lt end ]]; do
            curl -s --connect-timeout 1 --max-time 2 "http://$1/" || echo "FAIL$?"
        done' client "$VIP:$VPORT" "$DIR/stop" >"$DIR/client.out" &
    local client=$!
    hl_defer hl_stop_pid "$client"
    local s1 s2
    s1="$(timeout 90 python3 "$STORM" "$HL_SOCK" default churn 4000 "$SRV" 20000 40)" || hl_fail "storm 1: $s1"
    # On web itself: the backend set, its table and its generation churn
    # under the client's connects (invariant 1). The churned endpoints have
    # weight 0 (in the set, taking no new connects): a connect aimed at an
    # endpoint deregistered a moment later is cut by design (removal ends
    # the sockets redirected to it), and would hide a real failure here.
    s2="$(timeout 90 python3 "$STORM" "$HL_SOCK" default web 1000 "$SRV" 8082 40 0)" || hl_fail "storm 2: $s2"
    touch "$DIR/stop"
    wait "$client"
    hl_log "storm on churn: $s1"
    hl_log "storm on web (weight-0 endpoints registered and deregistered): $s2"
    local n
    n=$(( $(jq .requests <<<"$s1") + $(jq .requests <<<"$s2") ))
    hl_assert_eq 10000 "$n" "requests of the storm"
    hl_assert_eq 0 "$(( $(jq .bad <<<"$s1") + $(jq .bad <<<"$s2") ))" "failed API requests in the storm"
    out="$(cat "$DIR/client.out")"
    local total fails misroutes
    total=$(wc -l <<<"$out")
    # curl 7 or 28: the connect failed; 52/56: a transfer on backend-2 cut
    # because its registration was removed meanwhile (removal terminates
    # the sockets hopless redirected to it): not a failed connect.
    fails=$(grep -cE '^FAIL(7|28)$' <<<"$out")
    misroutes=$(grep -cvE '^(backend-1|backend-2|FAIL52|FAIL56)$' <<<"$out")
    hl_log "client requests during the storm: $total, backend-1 $(count backend-1 "$out"), backend-2 $(count backend-2 "$out"), cut by a deregistration $(grep -cE '^FAIL(52|56)$' <<<"$out"), failed connects $fails"
    ((total > 20)) || hl_fail "the client made only $total connects"
    hl_assert_eq 0 "$fails" "failed connects to a live backend during the storm"
    hl_assert_eq 0 "$misroutes" "answers from anything but the two backends (or a failure other than a cut transfer)"
    hl_assert_eq 0 "$(count backend-2 "$out")" "connects to a weight-0 endpoint"
    hl_assert_eq "$SRV:8081 " "$(backends_of web)" "web's backends after the storm"
    hl_assert_eq "" "$(backends_of churn)" "churn's backends after the storm"
    sleep 2.5  # the daemon gives freed heap back every 2 s
    rss1=$(awk '/VmRSS/ {print $2}' "/proc/$HL_DAEMON_PID/status")
    hl_log "hoplessd VmRSS before the storm ${rss0} kB, after ${rss1} kB"
    # Under AddressSanitizer freed memory sits in its quarantine, never given
    # back: the figure means nothing there.
    if ldd "$HOPLESSD" 2>/dev/null | grep -q libasan; then
        hl_log "(a sanitizer build: memory not checked)"
    else
        ((rss1 < rss0 + 4096)) || hl_fail "memory did not come back: ${rss0} kB before, ${rss1} kB after"
    fi
}

hl_run_selected register:t_register ttl:t_ttl restart:t_restart apiservice:t_apiservice bad:t_bad storm:t_storm -- "$@"
hl_summary
