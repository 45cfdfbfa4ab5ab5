#!/usr/bin/env bash
# End-to-end tests of the connection lifecycle (issue 11) through a running
# hoplessd: what the sockops program counts, as Prometheus metrics and in the
# CLI, against what real peers say they did.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_lifecycle.sh [TEST...]
#
#   bytes      a client task downloads files of known size from nginx through
#              the VIP; nginx runs in an attached "server" cgroup. Client side
#              (hopless_service_*) and server side (hopless_inbound_*) are
#              compared with nginx's own access log: connections, bytes each
#              way, active back to 0, one connect-duration and RTT sample each.
#   failures   a backend where nothing listens is one `refused`; one that drops
#              SYNs (nftables in its netns) is one `timeout` after the
#              service's connect_timeout, as metrics by service and backend.
#   top        `hopless top` under tmux shows the service with its held
#              connections, re-sorts on a key and quits on q; -j prints one
#              sample. A service with one of two backends down (a tcp health
#              check quarantines it) shows healthy 1/2, in both.
#   down       connections that end while hoplessd is stopped are counted
#              (the programs stay attached through their pinned links), and
#              the next daemon counts the rest, each once.
#   trace      `hopless trace -j service web count 3` prints the redirect (pid,
#              comm, VIP, backend), established and closed events of one curl;
#              a second tracer is refused; a tracer killed with SIGKILL stops
#              costing once its lease runs out.
#
# Last line "N passed, M failed"; exit non-zero on a failure, 77 without root
# or BPF (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck disable=SC2317  # the _predicates below are called through hl_wait_for
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init curl nginx ip ss nft tmux jq

VIPNET="127.255.$((RANDOM % 200 + 20))"
VIPN=0

# topology NAME: a bridge, a server netns ($NSS, address $SRV) and a client
# netns ($NSC, no default route) on it; the client task's cgroup ($CG) and the
# server's ($CGS); a pin dir, a metrics port, a VIP ($VIP) and a directory.
topology() {
    local name="$1" sub
    sub="10.214.$((RANDOM % 250)).0"
    SRV="${sub%.0}.11"
    NSS="hopless-e2e-$HL_ID-$name-s"
    NSC="hopless-e2e-$HL_ID-$name-c"
    hl_bridge_make "hle${HL_ID}b"
    hl_netns_make "$NSS"
    hl_netns_make "$NSC"
    hl_netns_join_bridge "$NSS" "hle${HL_ID}b" "$SRV/24" "hle${HL_ID}s"
    hl_netns_join_bridge "$NSC" "hle${HL_ID}b" "${sub%.0}.2/24" "hle${HL_ID}c"
    hl_test_env "$name"
    hl_cgroup_make CGS "hopless-e2e-$HL_ID-$name-server"
    VIP="$VIPNET.$((++VIPN))"
}

# nginx_start: nginx in the server cgroup and netns on $SRV:8080 (and 8082), serving
# $DIR/www, logging "$request_length $bytes_sent" per request.
nginx_start() {
    local d="$DIR/nginx"
    mkdir -p "$d/www" || hl_fail "cannot make $d"
    head -c 1000000 /dev/zero >"$d/www/big.bin"
    printf 'hello\n' >"$d/www/small.txt"
    cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 256; }
http {
  log_format sizes '\$request_length \$bytes_sent \$status';
  access_log $d/access.log sizes;
  client_body_temp_path $d/tmp-body;
  proxy_temp_path $d/tmp-proxy;
  fastcgi_temp_path $d/tmp-fastcgi;
  uwsgi_temp_path $d/tmp-uwsgi;
  scgi_temp_path $d/tmp-scgi;
  server { listen $SRV:8080; listen $SRV:8082; root $d/www; }
}
EOF
    hl_in_cgroup_netns "$CGS" "$NSS" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' \
        >"$d/stdout.log" 2>&1 &
    local pid=$!
    hl_defer hl_stop_pid "$pid"
    _up() { [[ "$(ip netns exec "$NSC" "${HL_CURL[@]}" "http://$SRV:8080/small.txt")" == hello ]]; }
    hl_wait_for 10 _up || hl_fail "nginx in $NSS does not answer: $(cat "$d/error.log")"
    : >"$d/access.log"  # the readiness probe is not part of the test
    ACCESS="$d/access.log"
}

# cfg SERVICE-LINES...: the config, both cgroups attached.
cfg() {
    {
        echo "metrics: { listen: \"127.0.0.1:$MPORT\" }"
        echo "attach:"
        echo "  - { cgroup: \"$CG\", namespace: default }"
        [[ -n "${NO_SERVER_CG:-}" ]] || echo "  - { cgroup: \"$CGS\", namespace: default }"
        echo "services:"
        printf '%s\n' "$@"
    } >"$CFG"
}

m() { hl_metric "$METRICS" "$@"; }  # NAME LABELMATCH...

in_task() { hl_in_cgroup_netns "$CG" "$NSC" "$@"; }

# ------------------------------------------------------------------ tests

t_bytes() {
    topology bytes
    nginx_start
    cfg "  - { name: web, vip: $VIP, port: 80, backends: [ { address: $SRV, port: 8080 } ] }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    local svc='service="web"' i size r0 r1
    # One download of a known size first: the client's received bytes move by
    # the file and its headers (nginx's few hundred bytes).
    size="$(in_task "${HL_CURL[@]}" -o /dev/null -w '%{size_download}' "http://$VIP/big.bin")"
    hl_assert_eq 1000000 "$size" "curl's download through the VIP"
    _closed() { [[ "$(m hopless_service_rtt_seconds_count "$svc")" == 1 ]]; }
    hl_wait_for 5 _closed || hl_fail "the first connection was not counted closed"
    r1="$(m hopless_service_bytes_total "$svc" 'direction="received"')"
    ((r1 >= 1000000 && r1 <= 1000000 + 1024)) || hl_fail "received bytes after a 1,000,000-byte download: $r1"
    hl_log "a 1,000,000-byte download: hopless_service_bytes_total{direction=received} = $r1"
    # Four more, of both files.
    for i in 1 2 3 4; do
        if ((i % 2)); then f=small.txt; else f=big.bin; fi
        in_task "${HL_CURL[@]}" -o /dev/null -H "X-Pad: $(head -c $((i * 100)) /dev/zero | tr '\0' a)" \
            "http://$VIP/$f" || hl_fail "download $i of $f"
    done
    _all_closed() {
        [[ "$(m hopless_service_rtt_seconds_count "$svc")" == 5 && "$(m hopless_inbound_active_connections "$svc")" == 0 &&
            "$(m hopless_inbound_connections_total "$svc")" == 5 ]]
    }
    hl_wait_for 5 _all_closed || hl_fail "not all 5 connections were counted closed: $(curl -s "$METRICS" | grep -E 'web.*(rtt_seconds_count|inbound)')"
    local lines req sent
    lines=$(wc -l <"$ACCESS")
    req=$(awk '{ s += $1 } END { print s }' "$ACCESS")
    sent=$(awk '{ s += $2 } END { print s }' "$ACCESS")
    hl_log "nginx's access log: $lines requests, $req bytes in, $sent bytes out"
    hl_assert_eq 5 "$lines" "requests in nginx's access log"
    # The server side, as nginx in the attached server cgroup saw it.
    hl_assert_eq 5 "$(m hopless_inbound_connections_total "$svc")" "hopless_inbound_connections_total"
    hl_assert_eq "$req" "$(m hopless_inbound_bytes_total "$svc" 'direction="received"')" "inbound bytes received = nginx's request bytes"
    hl_assert_eq "$sent" "$(m hopless_inbound_bytes_total "$svc" 'direction="sent"')" "inbound bytes sent = nginx's bytes sent"
    # The client side: the same bytes, the other way round.
    hl_assert_eq "$sent" "$(m hopless_service_bytes_total "$svc" 'direction="received"')" "client bytes received = nginx's bytes sent"
    hl_assert_eq "$req" "$(m hopless_service_bytes_total "$svc" 'direction="sent"')" "client bytes sent = nginx's request bytes"
    hl_assert_eq "$sent" "$(m hopless_backend_bytes_total "$svc" "backend=\"$SRV:8080\"" 'direction="received"')" "backend bytes received"
    hl_assert_eq 0 "$(m hopless_service_active_connections "$svc")" "active connections after the downloads"
    hl_assert_eq 0 "$(m hopless_backend_active_connections "$svc")" "backend active connections"
    hl_assert_eq 5 "$(m hopless_service_connect_duration_seconds_count "$svc")" "connect duration samples"
    hl_assert_eq 5 "$(m hopless_service_connect_duration_seconds_bucket "$svc" 'le="+Inf"')" "connect duration +Inf bucket"
    hl_assert_eq 0 "$(m hopless_service_connect_errors_total "$svc" 'reason="refused"')" "refused"
    # The whole scrape, with lifecycle series, histograms and the server
    # side in it, is strictly valid exposition text.
    hl_log "scrape: $(hl_metrics_valid "$METRICS")"
    # The CLI reads the same from the pinned maps.
    local st
    st="$("$HOPLESS" --pin-dir "$PIN" -j stats service web)" || hl_fail "hopless stats"
    hl_assert_contains "$st" "\"bytes_received\":$sent" "hopless -j stats: client bytes received"
    hl_assert_contains "$st" "\"inbound\":{\"active\":0,\"bytes_received\":$req,\"bytes_sent\":$sent,\"connections\":5}" "hopless -j stats: inbound"
}

t_failures() {
    topology failures
    ip netns exec "$NSS" nft -f - <<EOF || hl_fail "cannot load the drop rule in $NSS"
table inet hl {
    chain in {
        type filter hook input priority 0;
        tcp dport 9 drop
    }
}
EOF
    local vip2="$VIPNET.$((++VIPN))"
    cfg "  - { name: silent, vip: $VIP, port: 80, connect_timeout: 0.5, backends: [ { address: $SRV, port: 9 } ] }" \
        "  - { name: closed, vip: $vip2, port: 80, backends: [ { address: $SRV, port: 10 } ] }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    local t0 t1 out
    t0=$(hl_now_ms)
    out="$(in_task curl -sS --max-time 20 "http://$VIP/" 2>&1)" && hl_fail "a connect to a silent backend succeeded"
    t1=$(hl_now_ms)
    hl_log "curl to the silent backend: $out after $((t1 - t0)) ms (connect_timeout 0.5 s)"
    hl_assert_contains "$out" "curl: (28)" "curl's error (28: timeout)"
    ((t1 - t0 < 5000)) || hl_fail "the connect took $((t1 - t0)) ms: connect_timeout did not apply"
    out="$(in_task curl -sS --max-time 5 "http://$vip2/" 2>&1)" && hl_fail "a connect to a closed port succeeded"
    hl_assert_contains "$out" "curl: (7)" "curl's error (7: could not connect)"
    hl_assert_eq 1 "$(m hopless_service_connect_errors_total 'service="silent"' 'reason="timeout"')" "silent: timeouts"
    hl_assert_eq 0 "$(m hopless_service_connect_errors_total 'service="silent"' 'reason="refused"')" "silent: refused"
    hl_assert_eq 1 "$(m hopless_service_connect_errors_total 'service="closed"' 'reason="refused"')" "closed: refused"
    hl_assert_eq 0 "$(m hopless_service_connect_errors_total 'service="closed"' 'reason="timeout"')" "closed: timeouts"
    hl_assert_eq 1 "$(m hopless_backend_connect_errors_total "backend=\"$SRV:9\"" 'reason="timeout"')" "backend $SRV:9: timeouts"
    hl_assert_eq 1 "$(m hopless_backend_connect_errors_total "backend=\"$SRV:10\"" 'reason="refused"')" "backend $SRV:10: refused"
    hl_assert_eq 0 "$(m hopless_service_active_connections 'service="closed"')" "closed: active"
    out="$("$HOPLESS" --pin-dir "$PIN" service show silent)"
    hl_assert_contains "$out" "timeout 500 ms" "hopless service show: connect_timeout"
}

# holder_start [NAME [UNTIL]]: in the task, 3 connections to the VIP held
# open until the command UNTIL ends (default and bound: 30 s); its pid in
# HOLDER_PID.
holder_start() {
    local name="${1:-holder}" until="${2:-sleep 30}"
    in_task bash -c "exec 3<>/dev/tcp/$VIP/80 4<>/dev/tcp/$VIP/80 5<>/dev/tcp/$VIP/80 && echo held && $until" \
        >"$DIR/$name.log" 2>&1 &
    HOLDER_PID=$!
    hl_defer hl_stop_pid "$HOLDER_PID" KILL
    hl_wait_log "$DIR/$name.log" '^held' 10 || hl_fail "the $name did not connect: $(cat "$DIR/$name.log")"
}

t_down() {
    topology down
    nginx_start
    cfg "  - { name: web, vip: $VIP, port: 80, backends: [ { address: $SRV, port: 8080 } ] }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    local svc='service="web"'
    # Two sets of 3 connections held (bounded: 30 s each); one set ends while
    # no daemon runs, the other after the next one started.
    local first second
    mkfifo "$DIR/go1" "$DIR/go2" || hl_fail "mkfifo"
    holder_start "first holder" "read -r -t 30 _ <$DIR/go1"
    first=$HOLDER_PID
    holder_start "second holder" "read -r -t 30 _ <$DIR/go2"
    second=$HOLDER_PID
    hl_assert_eq 6 "$(m hopless_service_active_connections "$svc")" "active, both sets held"
    hl_stop_pid "$HL_DAEMON_PID"
    echo go >"$DIR/go1"
    wait "$first" 2>/dev/null
    sleep 0.5  # nginx's side of the close, while no daemon runs
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    _three() { [[ "$(m hopless_service_active_connections "$svc")" == 3 ]]; }
    hl_wait_for 5 _three || hl_fail "active after 3 ended while hoplessd was stopped: $(m hopless_service_active_connections "$svc")"
    echo go >"$DIR/go2"
    wait "$second" 2>/dev/null
    _none() { [[ "$(m hopless_service_active_connections "$svc")" == 0 ]]; }
    hl_wait_for 5 _none || hl_fail "active after all ended: $(m hopless_service_active_connections "$svc")"
    hl_assert_eq 6 "$(m hopless_service_rtt_seconds_count "$svc")" "closes counted (one RTT sample each)"
    hl_assert_eq 6 "$(m hopless_service_connect_duration_seconds_count "$svc")" "connections established"
    hl_assert_eq 0 "$(m hopless_backend_active_connections "$svc")" "backend active"
}

t_top() {
    topology top
    nginx_start
    # other: nginx on 8082, nothing on 8081; its check (from the client's
    # netns: the host is not on the bridge) quarantines 8081 in about 0.4 s.
    cfg "  - { name: web, vip: $VIP, port: 80, backends: [ { address: $SRV, port: 8080 } ] }" \
        "  - { name: other, vip: $VIPNET.$((++VIPN)), port: 80, backends: [ { address: $SRV, port: 8082 }, { address: $SRV, port: 8081 } ], health_check: { protocol: tcp, interval: 0.2, timeout: 0.15, unhealthy_threshold: 2, netns: $NSC } }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    holder_start
    # -j (and any stdout that is not a terminal): one sample.
    local js
    _top_json() {
        js="$("$HOPLESS" --pin-dir "$PIN" -j top interval 0.2)" &&
            [[ "$(jq -r '.[] | select(.service == "other") | "\(.healthy_backends)/\(.backends)"' <<<"$js")" == 1/2 ]]
    }
    hl_wait_for 5 _top_json || hl_fail "hopless -j top: other is not healthy 1/2: $js"
    hl_assert_contains "$js" '"service":"web"' "hopless -j top"
    hl_assert_contains "$js" '"active":3' "hopless -j top: the held connections"
    hl_assert_eq 1/1 "$(jq -r '.[] | select(.service == "web") | "\(.healthy_backends)/\(.backends)"' <<<"$js")" \
        "hopless -j top: web's healthy backends"
    # The live view, in a terminal tmux gives it.
    local tm=(tmux -L "hle$HL_ID" -f /dev/null)
    "${tm[@]}" new-session -d -s top -x 160 -y 20 "$HOPLESS --pin-dir $PIN top; sleep 30" || hl_fail "tmux"
    hl_defer "${tm[@]}" kill-server
    _shows() { "${tm[@]}" capture-pane -p -t top | grep -qE "^default/web +[0-9.k]+ +3 "; }
    hl_wait_for 5 _shows || hl_fail "top does not show web with 3 active: $("${tm[@]}" capture-pane -p -t top)"
    "${tm[@]}" capture-pane -p -t top | grep -qE "HEALTHY *$" || hl_fail "no HEALTHY column: $("${tm[@]}" capture-pane -p -t top)"
    "${tm[@]}" capture-pane -p -t top | grep -qE "^default/other .* 1/2 *$" ||
        hl_fail "top does not show other healthy 1/2: $("${tm[@]}" capture-pane -p -t top)"
    # New connects appear as a rate.
    for i in 1 2 3 4 5; do in_task "${HL_CURL[@]}" -o /dev/null "http://$VIP/small.txt"; done
    _rate() { "${tm[@]}" capture-pane -p -t top | grep -qE "^default/web +[1-9][0-9.]*k? +3 "; }
    hl_wait_for 5 _rate || hl_fail "top shows no new/s for web: $("${tm[@]}" capture-pane -p -t top)"
    hl_log "$("${tm[@]}" capture-pane -p -t top | head -n 5 | sed 's/ *$//')"
    "${tm[@]}" send-keys -t top s
    _sorted() { "${tm[@]}" capture-pane -p -t top | grep -q "sort: name"; }
    hl_wait_for 3 _sorted || hl_fail "top did not re-sort on 's': $("${tm[@]}" capture-pane -p -t top)"
    # default/other before default/web by name.
    "${tm[@]}" capture-pane -p -t top | grep -E '^default/' | head -n 1 | grep -q '^default/other' ||
        hl_fail "sorted by name, other is not first: $("${tm[@]}" capture-pane -p -t top)"
    "${tm[@]}" send-keys -t top q
    _quit() { ! pgrep -f "^$HOPLESS --pin-dir $PIN top" >/dev/null; }
    hl_wait_for 3 _quit || hl_fail "top did not quit on q"
}

ctl_until() { hl_trace_until "$PIN"; }  # the tracer's lease (0: nobody traces)

t_trace() {
    topology trace
    nginx_start
    NO_SERVER_CG=1 cfg "  - { name: web, vip: $VIP, port: 80, backends: [ { address: $SRV, port: 8080 } ] }"
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_assert_eq 0 "$(ctl_until)" "the lease before anyone traces"
    "$HOPLESS" --pin-dir "$PIN" -j trace service web count 3 >"$DIR/trace.json" 2>"$DIR/trace.err" &
    local tpid=$!
    hl_defer hl_stop_pid "$tpid" KILL
    hl_trace_wait_lease "$PIN" 10 || hl_fail "the tracer did not take the lease: $(cat "$DIR/trace.err")"
    # One tracer at a time.
    local err
    err="$("$HOPLESS" --pin-dir "$PIN" trace 2>&1)" && hl_fail "a second tracer was let in"
    hl_assert_contains "$err" "another tracer (pid $tpid)" "the second tracer's error"
    in_task "${HL_CURL[@]}" -o /dev/null "http://$VIP/small.txt" || hl_fail "curl through the VIP"
    _done() { ! kill -0 "$tpid" 2>/dev/null; }
    hl_wait_for 5 _done || hl_fail "the tracer did not stop after 3 events: $(cat "$DIR/trace.json")"
    local ev
    ev="$(cat "$DIR/trace.json")"
    hl_log "$(head -c 600 <<<"$ev")"
    hl_assert_eq 3 "$(wc -l <<<"$ev")" "events traced"
    hl_assert_contains "$(sed -n 1p <<<"$ev")" '"event":"redirect"' "event 1"
    hl_assert_contains "$(sed -n 1p <<<"$ev")" "\"vip\":\"$VIP:80\"" "event 1: the VIP"
    hl_assert_contains "$(sed -n 1p <<<"$ev")" "\"backend\":\"$SRV:8080\"" "event 1: the backend"
    hl_assert_contains "$(sed -n 1p <<<"$ev")" '"comm":"curl"' "event 1: the task"
    hl_assert_contains "$(sed -n 1p <<<"$ev")" "\"cgroup\":\"$CG\"" "event 1: its cgroup"
    hl_assert_contains "$(sed -n 2p <<<"$ev")" '"event":"established"' "event 2"
    hl_assert_contains "$(sed -n 3p <<<"$ev")" '"event":"closed"' "event 3"
    hl_assert_contains "$(sed -n 3p <<<"$ev")" "\"bytes_received\":$(awk '{ print $2 }' "$ACCESS")" "event 3: the bytes nginx sent"
    hl_assert_eq 0 "$(ctl_until)" "the lease after the tracer exited"
    # A tracer killed outright: its lease runs out (3 s) and the next event
    # finds it past and clears it, so the datapath writes nothing again.
    "$HOPLESS" --pin-dir "$PIN" trace >/dev/null 2>&1 &
    tpid=$!
    hl_trace_wait_lease "$PIN" 10 || hl_fail "the second tracer did not take the lease"
    kill -9 "$tpid"
    wait "$tpid" 2>/dev/null
    sleep 3.2
    in_task "${HL_CURL[@]}" -o /dev/null "http://$VIP/small.txt" || hl_fail "curl through the VIP"
    hl_assert_eq 0 "$(ctl_until)" "the lease of a killed tracer, after it ran out"
}

# ------------------------------------------------------------------ run

ALL=(
    "bytes, client and server side, against nginx's log:t_bytes"
    "refused and timeout after connect_timeout:t_failures"
    "closes while hoplessd is stopped:t_down"
    "top under tmux:t_top"
    "trace:t_trace"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
