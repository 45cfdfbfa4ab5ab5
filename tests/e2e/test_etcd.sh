#!/usr/bin/env bash
# Many hosts sharing one registry through etcd (issue 10): real etcd from
# Debian's etcd-server on loopback ports with a temporary data dir, and three
# "hosts" a, b and c on one machine, each its own hoplessd with its own pin
# dir, control socket, state dir, cgroup and network namespace, all on one
# bridge the test makes. Each host's namespace runs an nginx "task" that
# answers with the host's name; each host's client task is a process in the
# host's cgroup and namespace (no default route) that dials the service VIP.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_etcd.sh [TEST...]
#
#   shared      a service defined on a, an endpoint registered on b: c's
#               client reaches it; every host lists it as etcd:host-b; the
#               definition replaced and deleted through other hosts; a
#               second daemon calling itself host-b stands aside
#   hostdies    kill -9 of b's daemon: its endpoint leaves a's and c's backend
#               sets once its lease runs out (timed), c's connection to it is
#               terminated; b restarted: it comes back (its registrations
#               outlive the restart); b's lease revoked behind its back: b
#               takes a new one and publishes again
#   outage      etcd SIGSTOPped, then SIGKILLed and restarted from its data
#               dir, while c's client connects in a bounded loop: no failed
#               connect, a's and c's maps unchanged meanwhile (c's daemon
#               killed and restarted in the middle too); a definition made
#               during the outage is refused (503), a registration is
#               accepted and reaches the others once etcd is back
#   compaction  c cut off from etcd (its proxy killed) while services and
#               endpoints change and go, then `etcdctl compact`, then c back:
#               c lists again and holds exactly what the others hold
#   members     a three-member etcd, the leader killed: the hosts carry on
#               through the other two
#   prefer      prefer: local: each host's client takes its own host's task,
#               a host without one spreads over the others, and a host whose
#               own task stops taking connects (weight 0, or quarantined by
#               its health checks) fails over, and comes back
#   converge    a random sequence of 1,000 service and endpoint changes
#               spread over the three hosts' APIs at once ends with identical
#               kernel maps on all three (the CLI's -j dumps compared)
#
# Leases are 2 s (lease_ttl's minimum) so that the file runs in well under a
# minute (about 40 s; the sanitizer pass of tools/test.sh runs shared,
# hostdies and outage only, about 35 s). Last line "N passed, M failed"; 77 without root, BPF or
# etcd (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck disable=SC2317,SC2016  # _predicates called through hl_wait_for; bash -c scripts expand their own $1
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_etcd.sh"

hl_init curl nginx ip jq etcd etcdctl socat python3

LEASE_TTL=2
CHURN="$(dirname "${BASH_SOURCE[0]}")/tools/etcd_churn.py"
HOSTS=(a b c)
VPORT=80
declare -A SOCK PIN CFG LOG DPID NS CG ADDR METRICS DIRS NGXPID

# cluster NAME ETCD_URLS [C_ETCD_URLS]: bridge, subnet, and hosts a b c:
# each a netns on the bridge with nginx on ADDR:8080 and :8081 ("host-X"),
# a cgroup, and a daemon whose config names the etcd URLs (host c's its own
# when given) and attaches the cgroup. A fresh key prefix per test.
cluster() {
    local name="$1" urls="$2" curls="${3:-$2}" sub h i=0 br="hle${HL_ID}x" prefix
    sub="10.$((RANDOM % 50 + 150)).$((RANDOM % 250)).0"
    prefix="/hle-$HL_ID-$name"
    VIP="127.255.$((RANDOM % 200 + 20)).1"
    VIP2="${VIP%.1}.2"
    hl_bridge_make "$br"
    for h in "${HOSTS[@]}"; do
        i=$((i + 1))
        NS[$h]="hopless-e2e-$HL_ID-$name-$h"
        ADDR[$h]="${sub%.0}.1$i"
        hl_netns_make "${NS[$h]}"
        hl_netns_join_bridge "${NS[$h]}" "$br" "${ADDR[$h]}/24" "hle${HL_ID}$h"
        hl_cgroup_make "CG[$h]" "hopless-e2e-$HL_ID-$name-$h"
        hl_pin_dir "PIN[$h]" "$name-$h"
        DIRS[$h]="$HL_TMP/$name-$h"
        mkdir -p "${DIRS[$h]}" || hl_fail "cannot make ${DIRS[$h]}"
        CFG[$h]="${DIRS[$h]}/hopless.yaml"
        LOG[$h]="${DIRS[$h]}/hoplessd.log"
        local mport eps="$urls"
        [[ "$h" == c ]] && eps="$curls"
        mport="$(hl_free_port)" || hl_fail "no free port"
        METRICS[$h]="http://127.0.0.1:$mport/metrics"
        {
            echo "metrics: { listen: \"127.0.0.1:$mport\" }"
            echo "attach: [ { cgroup: \"${CG[$h]}\", namespace: default } ]"
            echo "etcd:"
            echo "  endpoints: [ $(sed 's/[^,]*/"&"/g; s/,/, /g' <<<"$eps") ]"
            echo "  prefix: $prefix"
            echo "  host: host-$h"
            echo "  lease_ttl: $LEASE_TTL"
            echo "services: []"
        } >"${CFG[$h]}"
        HL_NGINX_NETNS="${NS[$h]}" hl_nginx_start NGX "${DIRS[$h]}/nginx" "${ADDR[$h]}:8080=host-$h" \
            "${ADDR[$h]}:8081=host-$h-2"
        NGXPID[$h]=$NGX
    done
    for h in "${HOSTS[@]}"; do
        _nginx_up() { [[ "$(ip netns exec "${NS[$1]}" curl -s --max-time 1 "http://${ADDR[$1]}:8081/")" == "host-$1-2" ]]; }
        hl_wait_for 10 _nginx_up "$h" || hl_fail "nginx of host $h does not answer"
        host_start "$h"
    done
}

host_start() {  # X: (re)starts host X's daemon
    local h="$1"
    hl_daemon_start "${CFG[$h]}" "${PIN[$h]}" "${LOG[$h]}"
    SOCK[$h]="$HL_SOCK"
    DPID[$h]="$HL_DAEMON_PID"
}

# api X METHOD PATH [BODY]: one request to host X's control socket; prints "STATUS BODY".
api() {
    local out
    out="$(curl -s --max-time 8 --unix-socket "${SOCK[$1]}" -X "$2" -w ' %{http_code}' \
        ${4:+-H 'Content-Type: application/json' --data "$4"} "http://hopless$3")"
    printf '%s %s\n' "${out##* }" "${out% *}"
}

api_ok() {  # X METHOD PATH [BODY]
    local r
    r="$(api "$@")"
    [[ "${r%% *}" == 2* ]] || hl_fail "host $1: $2 $3 ${4:-}: $r"
}

# backends X SERVICE: the service's backends in host X's kernel maps (ADDR:PORT, sorted).
backends() {
    "$HOPLESS" --pin-dir "${PIN[$1]}" -j backend list service "$2" 2>/dev/null |
        jq -r '.[] | "\(.address):\(.port)"' | sort | tr '\n' ' '
}

# maps X: host X's services and backends as the kernel holds them (ids,
# generations and counters left out: they are each host's own).
maps() {
    {
        "$HOPLESS" --pin-dir "${PIN[$1]}" -j service list |
            jq -S -c '[.[] | {namespace, name, vip, port, protocol, algorithm, backends, active_backends}] | sort_by(.namespace, .name)'
        "$HOPLESS" --pin-dir "${PIN[$1]}" -j backend list |
            jq -S -c '[.[] | {namespace, service, address, port, weight, state}] | sort_by(.namespace, .service, .address, .port)'
    } 2>&1
}

# dial X N [VIP]: N requests from host X's client task to the VIP; one answer (or FAIL) a line.
dial() {
    hl_in_cgroup_netns "${CG[$1]}" "${NS[$1]}" bash -c '
        for ((i = 0; i < $2; i++)); do
            curl -s --connect-timeout 1 --max-time 2 "http://$1/" || echo FAIL
        done' dial "${3:-$VIP}:$VPORT" "$2"
}

count() { grep -c "^$1\$" <<<"$2"; }  # WORD TEXT: lines equal to WORD

etcd_up_on() {  # X: host X's daemon says etcd is listed and watched
    local r
    r="$(api "$1" GET /v1/health)"
    [[ "$(jq -r '.etcd.up' <<<"${r#* }")" == true ]]
}

has_backends() { [[ "$(backends "$1" "$2")" == "$3" ]]; }  # X SERVICE "A:P B:P "

# wait_backends X SERVICE WANT SECS: polls host X's map until it holds
# exactly WANT; sets WAITED to the milliseconds it took. (Not in $(...): a
# failure there would not end the test.)
wait_backends() {
    local t0 h="$1"
    t0=$(hl_now_ms)
    hl_wait_for "$4" has_backends "$h" "$2" "$3" ||
        hl_fail "host $h: $2's backends are '$(backends "$h" "$2")', not '$3' after $4 s"
    WAITED=$(($(hl_now_ms) - t0))
}

t_shared() {
    local eps ms out r
    hl_etcd_start eps shared 1
    cluster shared "$eps"
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT}"
    api_ok b PUT /v1/services/default/web/endpoints/b-1 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    wait_backends c web "${ADDR[b]}:8080 " 5
    ms=$WAITED
    hl_log "b's registration in c's kernel map after ${ms} ms (one sample; tests/bench/etcd_latency.sh measures)"
    wait_backends a web "${ADDR[b]}:8080 " 5
    out="$(dial c 4)"
    hl_assert_eq 4 "$(count host-b "$out")" "c's client reaches b's endpoint of the service a defined"
    # Who holds what: c and a list it as b's; b as its own registration.
    r="$("$HOPLESS" --socket "${SOCK[c]}" -j endpoint list service default/web)"
    hl_assert_eq "etcd:host-b host-b false" "$(jq -r '.[0] | "\(.source) \(.host) \(.local)"' <<<"$r")" \
        "c's endpoint list names the host"
    r="$("$HOPLESS" --socket "${SOCK[b]}" -j endpoint list service default/web)"
    hl_assert_eq "api host-b true" "$(jq -r '.[0] | "\(.source) \(.host) \(.local)"' <<<"$r")" "b's own"
    r="$(api c GET /v1/services)"
    hl_assert_eq "etcd" "$(jq -r '.services[] | select(.name=="web") | .source' <<<"${r#* }")" "the definition's source on c"
    # c registers too: every host's client reaches both hosts' tasks.
    api_ok c PUT /v1/services/default/web/endpoints/c-1 "{\"address\":\"${ADDR[c]}\",\"port\":8080}"
    wait_backends a web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " 5
    out="$(dial a 6)"
    hl_assert_eq 3 "$(count host-b "$out")" "a's client, round robin (b's task)"
    hl_assert_eq 3 "$(count host-c "$out")" "a's client, round robin (c's task)"
    # A definition replaced through another host (it has seen the revision),
    # and deleted through a third: every host follows.
    api_ok c PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT,\"algorithm\":\"random\"}"
    _algo() { [[ "$("$HOPLESS" --pin-dir "${PIN[$1]}" -j service show "$VIP:$VPORT" | jq -r .algorithm)" == random ]]; }
    hl_wait_for 5 _algo a || hl_fail "a does not follow c's replacement"
    r="$(api b PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT,\"algorithm\":\"weighted\"}")"
    hl_assert_eq 200 "${r%% *}" "b replaces it (it has seen c's revision)"
    api_ok a DELETE /v1/services/default/web
    _gone() { ! "$HOPLESS" --pin-dir "${PIN[$1]}" -j service show "$VIP:$VPORT" >/dev/null 2>&1; }
    for h in b c; do hl_wait_for 5 _gone "$h" || hl_fail "host $h still holds web after a deleted it"; done
    hl_log "counted: 4 + 6 connects through the VIP, all to the expected hosts; definitions by a, c, b, deleted by a"
    # A second daemon that calls itself host-b stands aside: b's record is
    # another instance's, so it publishes nothing (and says why).
    local dir="$HL_TMP/shared-dup" dup_pin
    mkdir -p "$dir"
    hl_pin_dir dup_pin shared-dup
    sed '/^attach:/d; s/metrics: .*/metrics: { listen: "127.0.0.1:0" }/' "${CFG[b]}" >"$dir/hopless.yaml"
    hl_daemon_start "$dir/hopless.yaml" "$dup_pin" "$dir/hoplessd.log"
    _taken() { [[ "$(curl -s --max-time 2 --unix-socket "$HL_SOCK" http://h/v1/health | jq -r .etcd.host_name_taken)" == true ]]; }
    hl_wait_for 5 _taken || hl_fail "a second host-b does not see that the name is taken"
    hl_assert_contains "$(cat "$dir/hoplessd.log")" "host name 'host-b' is held by another hoplessd" "the second host-b says why"
    hl_stop_pid "$HL_DAEMON_PID"
    r="$(api b GET /v1/health)"
    hl_assert_eq "true null" "$(jq -r '"\(.etcd.up) \(.etcd.host_name_taken)"' <<<"${r#* }")" "the real b carries on"
}

t_hostdies() {
    local eps ms held="$HL_TMP/held" holder out
    hl_etcd_start eps dies 1
    cluster dies "$eps"
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT}"
    api_ok b PUT /v1/services/default/web/endpoints/b-1 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    wait_backends c web "${ADDR[b]}:8080 " 5
    # c's client holds a connection to b's task through the VIP.
    hl_in_cgroup_netns "${CG[c]}" "${NS[c]}" bash -c '
        exec 3<>/dev/tcp/$1/$2 || exit 1
        printf "GET / HTTP/1.1\r\nHost: x\r\n\r\n" >&3
        timeout 2 dd bs=4096 count=1 <&3 2>/dev/null | tail -n 1 | tr -d "\r" >"$3.first"
        timeout 20 cat <&3 >/dev/null 2>"$3.err"
        echo "rc=$? $(cat "$3.err")" >"$3.end"' held "$VIP" "$VPORT" "$held" &
    holder=$!
    hl_defer hl_stop_pid "$holder"
    hl_wait_for 3 test -s "$held.first" || hl_fail "no answer on the held connection"
    hl_assert_eq host-b "$(cat "$held.first")" "c's held connection goes to b's task"
    api_ok c PUT /v1/services/default/web/endpoints/c-1 "{\"address\":\"${ADDR[c]}\",\"port\":8080}"
    wait_backends a web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " 5

    kill -9 "${DPID[b]}"
    wait "${DPID[b]}" 2>/dev/null
    wait_backends c web "${ADDR[c]}:8080 " $((LEASE_TTL + 5))
    ms=$WAITED
    hl_log "b killed: its endpoint left c's map after ${ms} ms (lease_ttl ${LEASE_TTL} s)"
    wait_backends a web "${ADDR[c]}:8080 " 3
    ms=$WAITED
    hl_log "... and a's ${ms} ms after that"
    hl_assert_contains "$(cat "${LOG[c]}")" "host host-b left" "c logs b's departure"
    hl_wait_for 5 test -s "$held.end" || hl_fail "c's connection to b's task is still open"
    hl_log "c's held connection to b's task: $(cat "$held.end")"
    hl_assert_contains "$(cat "$held.end")" "connection abort" "c's connection to b's task was terminated"
    out="$(dial c 3)"
    hl_assert_eq 3 "$(count host-c "$out")" "c's new connects go to the live task"
    # b back: its registration (kept in its state dir) is published again.
    host_start b
    wait_backends c web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " 8
    ms=$WAITED
    hl_log "b restarted: its endpoint back in c's map after ${ms} ms"
    wait_backends a web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " 3
    out="$(dial c 4)"
    hl_assert_eq 2 "$(count host-b "$out")" "after b's return, c's client reaches it again"
    # b's lease revoked behind its back (as if etcd had been restored from a
    # snapshot): its keys go at once; b finds out at its next keep-alive,
    # takes a new lease and publishes its registrations again.
    local lease r
    r="$(api b GET /v1/health)"
    lease="$(jq -r .etcd.lease <<<"${r#* }")"
    hl_must hl_etcd_ctl dies lease revoke "$lease" >/dev/null
    wait_backends c web "${ADDR[c]}:8080 " 3
    wait_backends c web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " $((LEASE_TTL + 5))
    hl_log "b's lease $lease revoked: its endpoint back in c's map ${WAITED} ms after it left"
    hl_assert_eq 1 "$(hl_metric "${METRICS[b]}" hopless_etcd_lease_lost_total)" "b counts the lost lease"
    hl_assert_contains "$(cat "${LOG[b]}")" "lease $lease lost" "b logs the lost lease"
}

t_outage() {
    local eps r ma mc loop="$HL_TMP/loop" looper fails oks n
    hl_etcd_start eps outage 1
    cluster outage "$eps"
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT}"
    api_ok b PUT /v1/services/default/web/endpoints/b-1 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    api_ok c PUT /v1/services/default/web/endpoints/c-1 "{\"address\":\"${ADDR[c]}\",\"port\":8080}"
    for h in a b c; do wait_backends "$h" web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " 5; done
    ma="$(maps a)"
    mc="$(maps c)"
    # c's client dials in a loop for the whole outage: at most 600 connects, 40 s.
    hl_in_cgroup_netns "${CG[c]}" "${NS[c]}" bash -c '
        end=$((SECONDS + 40))
        for ((i = 0; i < 600 && SECONDS < end; i++)); do
            [[ -e "$2.stop" ]] && break
            curl -s --connect-timeout 1 --max-time 2 "http://$1/" || echo FAIL
            sleep 0.05
        done >"$2"' loop "$VIP:$VPORT" "$loop" &
    looper=$!
    hl_defer hl_stop_pid "$looper"

    hl_etcd_pause outage 0
    local t0
    t0=$(hl_now_ms)
    _away() { ! etcd_up_on "$1"; }
    for h in a b c; do hl_wait_for 8 _away "$h" || hl_fail "host $h does not notice that etcd is away"; done
    hl_log "etcd stopped: every host says so after $(($(hl_now_ms) - t0)) ms"
    hl_assert_eq 0 "$(hl_metric "${METRICS[c]}" hopless_registry_source_up 'source="etcd"')" "c's source_up{etcd}"
    # A definition cannot be decided offline: refused, saying why.
    r="$(api a PUT /v1/services/default/api2 "{\"vip\":\"$VIP2\",\"port\":$VPORT}")"
    hl_assert_eq 503 "${r%% *}" "a definition while etcd is away"
    hl_assert_contains "$r" "etcd is unreachable" "the refusal says why"
    # A registration is taken, in force on its host at once, published later.
    api_ok b PUT /v1/services/default/web/endpoints/b-2 "{\"address\":\"${ADDR[b]}\",\"port\":8081}"
    wait_backends b web "${ADDR[b]}:8080 ${ADDR[b]}:8081 ${ADDR[c]}:8080 " 3
    sleep "$LEASE_TTL"  # longer than a lease: nothing may expire for it
    hl_assert_eq "$ma" "$(maps a)" "a's maps while etcd is stopped"
    hl_assert_eq "$mc" "$(maps c)" "c's maps while etcd is stopped"
    # c's daemon killed and started again while etcd is away: it serves the
    # last state it saw (its cache in the state dir); the datapath never stopped.
    kill -9 "${DPID[c]}"
    wait "${DPID[c]}" 2>/dev/null
    host_start c
    hl_assert_contains "$(cat "${LOG[c]}")" "etcd: restored the last state seen" "c starts from its cache"
    hl_assert_eq "$mc" "$(maps c)" "c's maps after a restart while etcd is stopped"

    hl_etcd_stop outage 0 KILL
    hl_etcd_restart outage 0
    hl_log "etcd killed and restarted from its data dir after $(($(hl_now_ms) - t0)) ms away"
    for h in a b c; do hl_wait_for 10 etcd_up_on "$h" || hl_fail "host $h does not see etcd back"; done
    wait_backends c web "${ADDR[b]}:8080 ${ADDR[b]}:8081 ${ADDR[c]}:8080 " 10
    r=$WAITED
    hl_log "b's registration made during the outage reached c ${r} ms after etcd answered again"
    wait_backends a web "${ADDR[b]}:8080 ${ADDR[b]}:8081 ${ADDR[c]}:8080 " 5
    _define() { [[ "$(api a PUT /v1/services/default/api2 "{\"vip\":\"$VIP2\",\"port\":$VPORT}")" == 200* ]]; }
    hl_wait_for 5 _define || hl_fail "a cannot define api2 after etcd is back"
    _has_api2() { "$HOPLESS" --pin-dir "${PIN[c]}" service show "$VIP2:$VPORT" >/dev/null 2>&1; }
    hl_wait_for 5 _has_api2 || hl_fail "c does not get api2"
    hl_assert_contains "$(cat "${LOG[c]}")" "etcd: unreachable" "c logs that etcd went away"
    hl_assert_contains "$(cat "${LOG[c]}")" "etcd: reachable again after" "c logs for how long"
    hl_assert_eq 1 "$(hl_metric "${METRICS[c]}" hopless_registry_source_up 'source="etcd"')" "c's source_up{etcd} after"

    touch "$loop.stop"
    wait "$looper" 2>/dev/null
    n=$(wc -l <"$loop")
    fails=$(count FAIL "$(cat "$loop")")
    oks=$(($(count host-b "$(cat "$loop")") + $(count host-b-2 "$(cat "$loop")") + $(count host-c "$(cat "$loop")")))
    hl_log "c's client during the outage: $n connects, $oks answered by a live task, $fails failed"
    ((n >= 20)) || hl_fail "the loop made only $n connects"
    hl_assert_eq 0 "$fails" "failed connects to live backends during the outage"
    hl_assert_eq "$n" "$oks" "every connect answered by a live task"
}

t_compaction() {
    local eps pport ppid rev ma mb mc
    hl_etcd_start eps compact 1
    # c reaches etcd only through a proxy the test can cut.
    pport="$(hl_free_port)" || hl_fail "no free port"
    proxy_start() {
        setsid socat "TCP-LISTEN:$pport,bind=127.0.0.1,fork,reuseaddr" "TCP:${eps#http://}" </dev/null >/dev/null 2>&1 &
        ppid=$!
        hl_defer kill -9 -- "-$ppid"
        hl_wait_for 3 bash -c "ss -Htln 'sport = :$pport' | grep -q ." || hl_fail "the proxy does not listen"
    }
    proxy_start
    cluster compact "$eps" "http://127.0.0.1:$pport"
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT}"
    api_ok a PUT /v1/services/default/old "{\"vip\":\"$VIP2\",\"port\":$VPORT}"
    api_ok b PUT /v1/services/default/web/endpoints/b-1 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    api_ok b PUT /v1/services/default/old/endpoints/b-old "{\"address\":\"${ADDR[b]}\",\"port\":8081}"
    wait_backends c old "${ADDR[b]}:8081 " 5
    wait_backends c web "${ADDR[b]}:8080 " 5

    kill -9 -- "-$ppid"  # c is cut off: its connections through the proxy die
    _away() { ! etcd_up_on c; }
    hl_wait_for 8 _away || hl_fail "c does not notice it lost etcd"
    # Changes and deletes c does not see: a replaces web and deletes old,
    # defines new; b registers b-2 on web and deregisters b-old.
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT,\"algorithm\":\"random\"}"
    api_ok a DELETE /v1/services/default/old
    api_ok a PUT /v1/services/default/new "{\"vip\":\"${VIP%.1}.3\",\"port\":$VPORT}"
    api_ok b PUT /v1/services/default/web/endpoints/b-2 "{\"address\":\"${ADDR[b]}\",\"port\":8081}"
    api_ok b PUT /v1/services/default/new/endpoints/b-3 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    wait_backends a web "${ADDR[b]}:8080 ${ADDR[b]}:8081 " 5
    wait_backends a new "${ADDR[b]}:8080 " 5
    hl_assert_contains "$(backends c old)" "${ADDR[b]}:8081" "c, cut off, keeps what it last saw"
    rev="$(hl_etcd_ctl compact endpoint status -w json | jq -r '.[0].Status.header.revision')"
    hl_must hl_etcd_ctl compact compact "$rev" >/dev/null
    hl_log "compacted etcd at revision $rev while c was cut off"
    proxy_start
    hl_wait_for 10 etcd_up_on c || hl_fail "c does not come back"
    ma="$(maps a)"
    _same() { [[ "$(maps c)" == "$ma" ]]; }
    hl_wait_for 5 _same || hl_fail "c's maps differ from a's after the relist: a: $ma c: $(maps c)"
    mb="$(maps b)"
    mc="$(maps c)"
    hl_assert_eq "$ma" "$mb" "a's and b's maps"
    hl_assert_eq "$ma" "$mc" "a's and c's maps"
    hl_assert_contains "$(cat "${LOG[c]}")" "compacted" "c saw the compaction"
    (($(hl_metric "${METRICS[c]}" hopless_etcd_relists_total) >= 2)) || hl_fail "c did not list again"
    hl_log "after the relist c holds what a and b hold: $(jq -r 'length' <<<"$(head -n 1 <<<"$mc")") services, $(jq -r 'length' <<<"$(tail -n 1 <<<"$mc")") backends"
}

t_members() {
    local eps leader out r
    hl_etcd_start eps members 3
    cluster members "$eps"
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT}"
    api_ok b PUT /v1/services/default/web/endpoints/b-1 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    wait_backends c web "${ADDR[b]}:8080 " 5
    hl_etcd_leader leader members
    hl_etcd_stop members "$leader" KILL
    hl_log "killed etcd member m$leader (the leader)"
    # The hosts carry on through the other two: a registration on b reaches
    # c, a definition on a is taken (after the election: bounded retries).
    api_ok b PUT /v1/services/default/web/endpoints/b-2 "{\"address\":\"${ADDR[b]}\",\"port\":8081}"
    wait_backends c web "${ADDR[b]}:8080 ${ADDR[b]}:8081 " 15
    r=$WAITED
    hl_log "b's registration after the kill reached c in ${r} ms"
    _define() { [[ "$(api a PUT /v1/services/default/api2 "{\"vip\":\"$VIP2\",\"port\":$VPORT}")" == 200* ]]; }
    hl_wait_for 10 _define || hl_fail "a cannot define a service after the leader died"
    api_ok b PUT /v1/services/default/api2/endpoints/b-3 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    wait_backends c api2 "${ADDR[b]}:8080 " 10
    for h in a b c; do hl_wait_for 10 etcd_up_on "$h" || hl_fail "host $h is not in sync with the two members left"; done
    out="$(dial c 4)"
    hl_assert_eq 4 "$(($(count host-b "$out") + $(count host-b-2 "$out")))" "c's client after the member died"
}

t_prefer() {
    local eps out show
    hl_etcd_start eps prefer 1
    cluster prefer "$eps"
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT,\"prefer\":\"local\"}"
    api_ok b PUT /v1/services/default/web/endpoints/b-1 "{\"address\":\"${ADDR[b]}\",\"port\":8080}"
    api_ok c PUT /v1/services/default/web/endpoints/c-1 "{\"address\":\"${ADDR[c]}\",\"port\":8080}"
    for h in a b c; do wait_backends "$h" web "${ADDR[b]}:8080 ${ADDR[c]}:8080 " 5; done
    # Each host's client takes its own host's task; a, with none, all of them.
    out="$(dial c 6)"
    hl_assert_eq 6 "$(count host-c "$out")" "c's client with prefer: local"
    out="$(dial b 6)"
    hl_assert_eq 6 "$(count host-b "$out")" "b's client with prefer: local"
    out="$(dial a 6)"
    hl_assert_eq 3 "$(count host-b "$out")" "a has no task of its own: round robin over the others (b)"
    hl_assert_eq 3 "$(count host-c "$out")" "a has no task of its own: round robin over the others (c)"
    show="$("$HOPLESS" --pin-dir "${PIN[c]}" service show "$VIP:$VPORT")"
    hl_assert_contains "$show" "prefer     local: this host's backends take new connects" "c's service show"
    # c's own task takes no new connects (weight 0): c fails over to b's.
    api_ok c PUT /v1/services/default/web/endpoints/c-1 "{\"address\":\"${ADDR[c]}\",\"port\":8080,\"weight\":0}"
    _failover() { [[ "$("$HOPLESS" --pin-dir "${PIN[c]}" -j service show "$VIP:$VPORT" | jq -r .table)" == all ]]; }
    hl_wait_for 5 _failover || hl_fail "c does not fail over"
    out="$(dial c 4)"
    hl_assert_eq 4 "$(count host-b "$out")" "c's client fails over to b's task"
    hl_assert_contains "$("$HOPLESS" --pin-dir "${PIN[c]}" service show "$VIP:$VPORT")" "no backend of this host is usable" \
        "c's service show during the fail-over"
    api_ok c PUT /v1/services/default/web/endpoints/c-1 "{\"address\":\"${ADDR[c]}\",\"port\":8080,\"weight\":1}"
    _back() { [[ "$("$HOPLESS" --pin-dir "${PIN[c]}" -j service show "$VIP:$VPORT" | jq -r .table)" == local ]]; }
    hl_wait_for 5 _back || hl_fail "c does not come back to its own task"
    out="$(dial c 4)"
    hl_assert_eq 4 "$(count host-c "$out")" "c's client back on its own task"
    # With health checks: c's own task dies, its checks quarantine it, and
    # c fails over to b's (a quarantined last local backend is not usable).
    api_ok a PUT /v1/services/default/web "{\"vip\":\"$VIP\",\"port\":$VPORT,\"prefer\":\"local\",\"health_check\":{\"protocol\":\"tcp\",\"interval\":0.2,\"timeout\":0.15,\"healthy_threshold\":1,\"unhealthy_threshold\":1,\"netns\":\"${NS[c]}\"}}"
    hl_stop_pid "${NGXPID[c]}"
    hl_wait_for 5 _failover || hl_fail "c does not fail over when its own task fails its checks"
    hl_assert_eq quarantined "$("$HOPLESS" --pin-dir "${PIN[c]}" -j backend list service web |
        jq -r --arg a "${ADDR[c]}" '.[] | select(.address == $a) | .state')" "c's own task in c's kernel"
    out="$(dial c 4)"
    hl_assert_eq 4 "$(count host-b "$out")" "c's client fails over to b's task when its own is quarantined"
    hl_log "counted: c 6/6 own, b 6/6 own, a 3+3 spread, c 4/4 failed over (weight 0), 4/4 back, 4/4 failed over (quarantined)"
}

t_converge() {
    local eps summary ma seed=$((RANDOM))
    hl_etcd_start eps converge 1
    cluster converge "$eps"
    # The three hosts' APIs at once (334 + 333 + 333 changes), so that
    # definitions race each other's compare-and-swap for real.
    local h n pids=() i=0
    for h in a b c; do
        [[ "$h" == a ]] && n=334 || n=333
        python3 "$CHURN" "$((seed + i))" "$n" 60 "${VIP%.1}." "$h=${SOCK[$h]}=${ADDR[$h]}" >"$HL_TMP/churn-$h" &
        pids+=($!)
        i=$((i + 1))
    done
    for i in "${pids[@]}"; do wait "$i" || hl_fail "a churn failed: $(cat "$HL_TMP"/churn-*)"; done
    summary="$(jq -s -c '{ops: (map(.ops) | add), conflicts: (map(.conflicts) | add),
        retries_exhausted: (map(.retries_exhausted) | add), seconds: (map(.seconds) | max),
        status: (map(.status | to_entries) | add | group_by(.key) | map({(.[0].key): (map(.value) | add)}) | add)}' \
        "$HL_TMP"/churn-a "$HL_TMP"/churn-b "$HL_TMP"/churn-c)"
    hl_log "1,000 random changes over a, b and c at once (seed $seed): $summary"
    hl_assert_eq 1000 "$(jq -r .ops <<<"$summary")" "changes made"
    hl_assert_eq 0 "$(jq -r .retries_exhausted <<<"$summary")" "definitions that never got past a conflict"
    _converged() {
        ma="$(maps a)"
        [[ "$ma" == "$(maps b)" && "$ma" == "$(maps c)" ]]
    }
    hl_wait_for 10 _converged || hl_fail "the hosts' maps differ: a: $(maps a) b: $(maps b) c: $(maps c)"
    hl_log "identical kernel maps on a, b and c: $(jq -r 'length' <<<"$(head -n 1 <<<"$ma")") services, $(jq -r 'length' <<<"$(tail -n 1 <<<"$ma")") backends"
}

ALL=(
    "shared:t_shared"
    "hostdies:t_hostdies"
    "outage:t_outage"
    "compaction:t_compaction"
    "members:t_members"
    "prefer:t_prefer"
    "converge:t_converge"
)
# The sanitizer pass of tools/test.sh: the tests that go through every path
# of the cluster code (list, watch, resume, compare-and-swap, publish, lease
# adopted, lost and granted, cache, termination), not the rest again.
if [[ "${HOPLESS_SANITIZER_PASS:-0}" == 1 && $# -eq 0 ]]; then set -- shared hostdies outage; fi
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
