#!/usr/bin/env bash
# End-to-end tests of the datapath through a running hoplessd, with the task
# picture of a container host: a client task in its own network namespace (no
# default route) and cgroup, backends in another namespace on a bridge, real
# Debian servers and clients (dnsmasq, dig, nginx, bash's /dev/tcp).
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_datapath.sh [TEST...]
#
#   dns        a real DNS exchange through a UDP VIP: dig (connected UDP), dig
#              +tcp (a tcp service on the same VIP:53), and a dnsmasq forwarder
#              in the task (unconnected UDP: sendto/recvfrom, and dnsmasq drops
#              a reply whose source is not the server it asked, i.e. the VIP).
#   removed    the daemon terminates the redirected sockets (TCP, connected
#              UDP) of a backend removed from the config; a direct connection
#              of the same task to the same backend is left alone.
#   drain      a draining backend keeps its connections until the service's
#              drain_timeout, then the daemon terminates them.
#   scale      65,536 services with the default map sizes: loaded, dialled,
#              listed and shown by the CLI.
#
# Last line "N passed, M failed"; exit non-zero on a failure, 77 without root
# or BPF (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck disable=SC2317  # the _predicates below are called through hl_wait_for
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init curl nginx ip ss bpftool awk dnsmasq dig

VIPNET="127.255.$((RANDOM % 200 + 20))"   # VIPs of this run: $VIPNET.<n>
VIPN=0
DNS_NAME=svc.hopless.test
DNS_ANSWER=10.77.0.7                      # what the backend dnsmasq answers (never dialled)

# ------------------------------------------------------------------ fixtures

# topology NAME: a bridge, a server netns ($NSS, address $SRV) and a client
# netns ($NSC, no default route) on it; a cgroup ($CG) for the client task; a
# pin dir ($PIN), a metrics port, a VIP ($VIP) and a directory ($DIR).
topology() {
    local name="$1" sub
    sub="10.213.$((RANDOM % 250)).0"
    SRV="${sub%.0}.11"
    NSS="hopless-e2e-$HL_ID-$name-s"
    NSC="hopless-e2e-$HL_ID-$name-c"
    hl_bridge_make "hle${HL_ID}b"
    hl_netns_make "$NSS"
    hl_netns_make "$NSC"
    hl_netns_join_bridge "$NSS" "hle${HL_ID}b" "$SRV/24" "hle${HL_ID}s"
    hl_netns_join_bridge "$NSC" "hle${HL_ID}b" "${sub%.0}.2/24" "hle${HL_ID}c"
    ip -n "$NSC" route show | grep -q '^default' && hl_fail "the client netns has a default route"
    hl_test_env "$name"
    VIP="$VIPNET.$((++VIPN))"
}

# cfg_head: the part of every config before `services:`.
cfg_head() {
    echo "metrics: { listen: \"127.0.0.1:$MPORT\" }"
    echo "attach:"
    echo "  - { cgroup: \"$CG\", namespace: default }"
    echo "services:"
}

# apply_cfg: $CFG.new replaces the live config (rename), and we wait (bounded)
# until the daemon reports it applied; APPLIED_MS is when it did.
apply_cfg() {
    local n
    n=$(hl_count_log "$LOG" 'config applied')
    mv -f "$CFG.new" "$CFG" || hl_fail "cannot rename $CFG.new"
    hl_wait_log "$LOG" 'config applied' 10 $((n + 1)) ||
        hl_fail "the daemon did not apply the new config: $(tail -n 3 "$LOG")"
    APPLIED_MS=$(hl_now_ms)
}

metric() { hl_metric "$METRICS" "$1" "service=\"$2\""; }  # NAME SERVICE

# dnsmasq_start VAR WHERE ARGS...: a dnsmasq of ours in the foreground, its
# config from the arguments only, logging to $DIR/dnsmasq-VAR.log. WHERE is a
# netns name, or "task" (the client task: its cgroup, then its netns). VAR =
# its pid.
dnsmasq_start() {
    local var="$1" where="$2" pid
    shift 2
    local -a cmd=(dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts
        --bind-interfaces --pid-file= --user=root --log-facility=- --log-queries "$@")
    if [[ "$where" == task ]]; then hl_in_cgroup_netns "$CG" "$NSC" "${cmd[@]}" >>"$DIR/dnsmasq-$var.log" 2>&1 &
    else ip netns exec "$where" "${cmd[@]}" >>"$DIR/dnsmasq-$var.log" 2>&1 &
    fi
    pid=$!
    hl_defer hl_stop_pid "$pid"
    printf -v "$var" '%s' "$pid"
}

# ------------------------------------------------------------------ tests

# dns: dnsmasq answers $DNS_NAME in the server netns; the task reaches it only
# through the VIP, over connected UDP, unconnected UDP and TCP.
t_dns() {
    topology dns
    dnsmasq_start BACKEND "$NSS" --listen-address="$SRV" --port=53 --address="/$DNS_NAME/$DNS_ANSWER"
    _srv_up() { [[ "$(ip netns exec "$NSC" dig +short +time=1 +tries=1 "@$SRV" "$DNS_NAME")" == "$DNS_ANSWER" ]]; }
    hl_wait_for 10 _srv_up || hl_fail "dnsmasq in $NSS does not answer over the bridge: $(tail -n 3 "$DIR"/dnsmasq-BACKEND.log)"

    {
        cfg_head
        echo "  - { name: dns, vip: $VIP, port: 53, protocol: udp, backends: [ { address: $SRV, port: 53 } ] }"
        echo "  - { name: dns-tcp, vip: $VIP, port: 53, protocol: tcp, backends: [ { address: $SRV, port: 53 } ] }"
    } >"$CFG"
    hl_daemon_start "$CFG" "$PIN" "$LOG"

    # 1. dig: connected UDP (BIND 9.18 connects its socket), from the task.
    local out c0 u0
    c0=$(metric hopless_service_connections_total dns)
    u0=$(metric hopless_service_udp_translations_total dns)
    out="$(hl_in_cgroup_netns "$CG" "$NSC" dig +time=2 +tries=1 "@$VIP" "$DNS_NAME" A)"
    hl_assert_contains "$out" "status: NOERROR" "dig @$VIP from the task"
    hl_assert_contains "$out" "$DNS_ANSWER" "dig @$VIP answer"
    hl_assert_contains "$out" "SERVER: $VIP#53" "dig @$VIP: the answer comes from the VIP"
    hl_log "dig @$VIP $DNS_NAME (connected UDP) -> $(grep -A1 'ANSWER SECTION' <<<"$out" | tail -n 1)"
    hl_assert_eq $((c0 + 1)) "$(metric hopless_service_connections_total dns)" "dns connections after one dig"
    hl_assert_eq "$u0" "$(metric hopless_service_udp_translations_total dns)" "udp translations after a connected dig"

    # 2. dig +tcp: the tcp service on the same VIP:53.
    out="$(hl_in_cgroup_netns "$CG" "$NSC" dig +tcp +time=2 +tries=1 "@$VIP" "$DNS_NAME" A)"
    hl_assert_contains "$out" "$DNS_ANSWER" "dig +tcp @$VIP answer"
    hl_assert_eq 1 "$(metric hopless_service_connections_total dns-tcp)" "dns-tcp connections after one dig +tcp"

    # 3. A dnsmasq forwarder in the task, its upstream the VIP: it queries with
    # sendto() on an unconnected socket and accepts a reply only from the
    # address it sent to, so an answer proves recvmsg gave back the VIP.
    dnsmasq_start FWD task --listen-address=127.0.0.1 --port=53 --cache-size=0 --server="$VIP#53"
    local fwdlog="$DIR/dnsmasq-FWD.log"
    _fwd_up() { ip netns exec "$NSC" ss -Hlun 'sport = :53' | grep -q 127.0.0.1; }
    hl_wait_for 10 _fwd_up || hl_fail "the dnsmasq forwarder did not start: $(tail -n 3 "$fwdlog")"
    c0=$(metric hopless_service_connections_total dns)
    u0=$(metric hopless_service_udp_translations_total dns)
    local i n=5
    for ((i = 0; i < n; i++)); do
        out="$(ip netns exec "$NSC" dig +short +time=3 +tries=1 @127.0.0.1 "q$i.$DNS_NAME" A)"
        hl_assert_eq "$DNS_ANSWER" "$out" "query $i through the forwarder (upstream $VIP#53, unconnected UDP)"
    done
    hl_log "$n queries through the forwarder in the task -> $DNS_ANSWER"
    hl_assert_eq $((u0 + n)) "$(metric hopless_service_udp_translations_total dns)" "udp translations after $n forwarded queries"
    hl_assert_eq $((c0 + n)) "$(metric hopless_service_connections_total dns)" "dns connections after $n forwarded queries"
    hl_assert_eq 0 "$(metric hopless_service_revnat_stale_total dns)" "stale reverse entries"
    grep -q "reply $DNS_NAME\|reply q0.$DNS_NAME is $DNS_ANSWER" "$fwdlog" ||
        hl_fail "the forwarder did not log the reply from $VIP: $(tail -n 5 "$fwdlog")"
    hl_assert_contains "$(grep "forwarded q0.$DNS_NAME" "$fwdlog")" "to $VIP" "the forwarder's upstream"

    # 4. Outside the cgroup, the same dig from the same netns gets nothing.
    out="$(ip netns exec "$NSC" dig +short +time=1 +tries=1 "@$VIP" "$DNS_NAME" A 2>&1)"
    hl_assert_not_contains "$out" "$DNS_ANSWER" "dig @$VIP from the client netns outside the cgroup"
}

# holder: run in the task (cgroup + client netns). Holds a TCP connection to
# the VIP (fd 3), a connected UDP socket to the UDP VIP (fd 5, watched from
# outside with ss: a send could fail for an ICMP error too) and a direct TCP
# connection to backend 1 (fd 4); reports when fd 3 ends, then whether fd 4
# still answers HTTP; then keeps fd 5 open. Bounded: 30 s.
# shellcheck disable=SC2016  # expanded by the holder's own bash
HOLDER='
exec 3<>"/dev/tcp/$VIP/$VPORT" || exit 3
exec 4<>"/dev/tcp/$B1A/$B1P" || exit 4
[[ -z "$UVIP" ]] || exec 5<>"/dev/udp/$UVIP/$UPORT" || exit 5
echo "connected $(date +%s%3N)"
read -r -t 30 -u 3 line
echo "tcp-ended rc=$? $(date +%s%3N)"
printf "GET / HTTP/1.0\r\n\r\n" >&4
read -r -t 5 -u 4 status && echo "direct: $status"
sleep 30
'

# holder_start: starts the holder in the task; waits until it is connected.
holder_start() {
    HOLD_LOG="$DIR/holder.log"
    VIP="$VIP" VPORT="$VPORT" B1A="$SRV" B1P=8081 UVIP="${UVIP:-}" UPORT="${UPORT:-}" \
        hl_in_cgroup_netns "$CG" "$NSC" bash -c "$HOLDER" >"$HOLD_LOG" 2>&1 &
    HOLD_PID=$!
    hl_defer hl_stop_pid "$HOLD_PID" KILL
    hl_wait_log "$HOLD_LOG" '^connected' 10 || hl_fail "the holder did not connect: $(cat "$HOLD_LOG")"
    # Its VIP connections landed on backend 1 (the only one yet).
    ip netns exec "$NSC" ss -Htn state established "dst $SRV:8081" | grep -q . ||
        hl_fail "no established connection to $SRV:8081 in $NSC"
    [[ -z "${UVIP:-}" ]] || ip netns exec "$NSC" ss -Hun state established "dst $SRV:5301" | grep -q . ||
        hl_fail "no connected UDP socket to $SRV:5301 in $NSC: $(ip netns exec "$NSC" ss -Hunp)"
}

# holder_ended: the time (ms) the holder saw its VIP connection end, or "".
holder_ended() { awk '/^tcp-ended/ { print $3 }' "$HOLD_LOG"; }

# nginx_backends: two HTTP backends in the server netns, $SRV:8081 and :8082.
nginx_backends() {
    HL_NGINX_NETNS="$NSS" hl_nginx_start NGX "$DIR/nginx" "$SRV:8081=backend-1" "$SRV:8082=backend-2"
    _be_up() { [[ "$(ip netns exec "$NSC" "${HL_CURL[@]}" "http://$SRV:8082/")" == backend-2 ]]; }
    hl_wait_for 10 _be_up || hl_fail "nginx in $NSS does not answer over the bridge"
}

# removed: backend 1 leaves the config; the daemon ends the task's redirected
# sockets to it (TCP and connected UDP) at once, and only those.
t_removed() {
    topology removed
    nginx_backends
    VPORT=80 UVIP="$VIPNET.$((++VIPN))" UPORT=5353
    {
        cfg_head
        echo "  - { name: web, vip: $VIP, port: $VPORT, backends: [ { address: $SRV, port: 8081 } ] }"
        echo "  - { name: dgram, vip: $UVIP, port: $UPORT, protocol: udp, backends: [ { address: $SRV, port: 5301 } ] }"
    } >"$CFG"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    holder_start
    sleep 0.5
    [[ -z "$(holder_ended)" ]] || hl_fail "the holder's connection ended before any change: $(cat "$HOLD_LOG")"

    {
        cfg_head
        echo "  - { name: web, vip: $VIP, port: $VPORT, backends: [ { address: $SRV, port: 8082 } ] }"
        echo "  - { name: dgram, vip: $UVIP, port: $UPORT, protocol: udp, backends: [ { address: $SRV, port: 5302 } ] }"
    } >"$CFG.new"
    apply_cfg
    _ended() { [[ -n "$(holder_ended)" ]]; }
    hl_wait_for 10 _ended || hl_fail "the VIP connection to the removed backend was not terminated: $(cat "$HOLD_LOG")"
    hl_wait_log "$HOLD_LOG" '^direct' 10 || hl_fail "the holder did not finish: $(cat "$HOLD_LOG")"
    local held
    held="$(tr '\n' ';' <"$HOLD_LOG")"
    hl_log "holder: $held"
    hl_assert_contains "$held" "direct: HTTP/1.1 200 OK" "the task's direct connection to the same backend"
    # The connected UDP socket was disconnected (bpf_sock_destroy on UDP).
    _udp_gone() { ! ip netns exec "$NSC" ss -Hun state established "dst $SRV:5301" | grep -q .; }
    hl_wait_for 5 _udp_gone ||
        hl_fail "the connected UDP socket to the removed backend is still connected: $(ip netns exec "$NSC" ss -Hunp)"
    hl_assert_eq 1 "$(metric hopless_service_sockets_destroyed_total web)" "web sockets destroyed"
    hl_assert_eq 1 "$(metric hopless_service_sockets_destroyed_total dgram)" "dgram sockets destroyed"
    hl_wait_log "$LOG" 'redirected sockets terminated' 5 || hl_fail "no termination line in the daemon log"
    # New connects go to the new backend.
    local body
    body="$(hl_in_cgroup_netns "$CG" "$NSC" "${HL_CURL[@]}" "http://$VIP:$VPORT/")"
    hl_assert_eq backend-2 "$body" "a new connect after the change"
}

# drain: backend 1 turns draining with drain_timeout 2: it takes no new
# connects, keeps its established one for the 2 s, then the daemon ends it.
t_drain() {
    topology drain
    nginx_backends
    VPORT=80
    {
        cfg_head
        echo "  - { name: web, vip: $VIP, port: $VPORT, drain_timeout: 2, backends: [ { address: $SRV, port: 8081 } ] }"
    } >"$CFG"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    holder_start
    {
        cfg_head
        echo "  - name: web"
        echo "    vip: $VIP"
        echo "    port: $VPORT"
        echo "    drain_timeout: 2"
        echo "    backends:"
        echo "      - { address: $SRV, port: 8081, state: draining }"
        echo "      - { address: $SRV, port: 8082 }"
    } >"$CFG.new"
    apply_cfg
    local body i
    for ((i = 0; i < 4; i++)); do
        body="$(hl_in_cgroup_netns "$CG" "$NSC" "${HL_CURL[@]}" "http://$VIP:$VPORT/")"
        hl_assert_eq backend-2 "$body" "new connect $i while backend 1 drains"
    done
    # Still within drain_timeout (the four dials took well under 1 s): alive.
    (($(hl_now_ms) - APPLIED_MS < 1500)) && [[ -n "$(holder_ended)" ]] &&
        hl_fail "the draining backend's connection ended before drain_timeout: $(cat "$HOLD_LOG")"
    _ended() { [[ -n "$(holder_ended)" ]]; }
    hl_wait_for 10 _ended || hl_fail "the draining connection was not terminated after drain_timeout: $(cat "$HOLD_LOG")"
    local ended waited
    ended="$(holder_ended)"
    waited=$((ended - APPLIED_MS))
    hl_log "the draining connection ended $waited ms after the config was applied (drain_timeout 2 s)"
    ((waited >= 1900)) || hl_fail "ended after $waited ms, before drain_timeout (2000 ms)"
    hl_wait_log "$HOLD_LOG" '^direct' 10 || hl_fail "the holder did not finish: $(cat "$HOLD_LOG")"
    hl_assert_contains "$(cat "$HOLD_LOG")" "direct: HTTP/1.1 200 OK" "the task's direct connection to the same backend"
    hl_assert_eq 1 "$(metric hopless_service_sockets_destroyed_total web)" "web sockets destroyed"
}

# scale: 65,536 services with the default map sizes. The daemon loads them,
# a task reaches the last one, and the CLI lists and shows them. The
# sanitizer pass of tools/test.sh loads 8,192: the same paths, at an eighth
# of the time a Debug + ASan daemon takes to apply 65,536 (30 s); the plain
# pass holds the default size.
t_scale() {
    topology scale
    nginx_backends
    local n=65536 out body
    [[ "${HOPLESS_SANITIZER_PASS:-0}" == 1 ]] && n=8192
    hl_log "$n services"
    {
        cfg_head
        awk -v n="$n" -v be="$SRV" 'BEGIN {
            for (i = 0; i < n; i++) {
                j = int(i / 16)   # 16 ports per VIP, 250 VIPs per /24, from 127.255.1.1 on
                printf "  - { name: s%d, vip: 127.255.%d.%d, port: %d, backends: [ { address: %s, port: %d } ] }\n",
                    i, 1 + int(j / 250), 1 + j % 250, 1000 + i % 16, be, 8081 + i % 2
            }
        }'
    } >"$CFG"
    local last_vip="127.255.$((1 + (n - 1) / 16 / 250)).$((1 + (n - 1) / 16 % 250))" last_port=$((1000 + (n - 1) % 16))
    HL_DAEMON_WAIT=60 hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_log "$(grep -o 'config .* applied in .*' "$LOG" | head -n 1)"
    hl_assert_contains "$(cat "$LOG")" "$n services ($n added" "the daemon's first apply"

    body="$(hl_in_cgroup_netns "$CG" "$NSC" "${HL_CURL[@]}" "http://$last_vip:$last_port/")"
    hl_assert_eq backend-2 "$body" "the task dials s$((n - 1)) at $last_vip:$last_port"

    out="$("$HOPLESS" --pin-dir "$PIN" service list)" || hl_fail "hopless service list failed"
    hl_assert_eq $((n + 1)) "$(wc -l <<<"$out")" "hopless service list: a header and one line per service"
    out="$("$HOPLESS" --pin-dir "$PIN" service show "s$((n - 1))")" || hl_fail "hopless service show failed"
    hl_assert_contains "$out" "$last_vip:$last_port tcp" "hopless service show s$((n - 1))"
    hl_assert_contains "$out" "connections 1," "hopless service show s$((n - 1)): its counter"
    out="$("$HOPLESS" --pin-dir "$PIN" -j stats service "s$((n - 1))")" || hl_fail "hopless stats failed"
    hl_assert_contains "$out" '"connections":1' "hopless -j stats service s$((n - 1))"
}

# ------------------------------------------------------------------ run

ALL=(
    "dns through a UDP VIP:t_dns"
    "removed backend terminated:t_removed"
    "drain then terminated:t_drain"
    "65536 services by default:t_scale"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
