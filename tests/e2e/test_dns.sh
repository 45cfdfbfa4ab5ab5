#!/usr/bin/env bash
# End-to-end tests of names (DESIGN.md "Names (DNS)"), as a user runs them.
#
#   sudo HOPLESS=build/hopless bash tests/e2e/test_dns.sh [TEST...]
#
#   a, b   `hopless resolv` lines and errors
#   c      names through the datapath: a task (own netns, no default route,
#          own cgroup) whose resolv.conf is `hopless resolv`'s asks dig and
#          curl for names; the responder is reached at dns.vip:53 (udp and
#          tcp) through the datapath; A, SRV, NXDOMAIN, forwarding to an
#          upstream; a service created through the API after the task
#          started resolves and connects at once
#
# The last line is "N passed, M failed"; the exit status is non-zero when a
# test failed, 77 when there is no root or BPF here (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init curl dig nginx dnsmasq nsenter jq

# `hopless resolv` prints the resolv.conf lines of a namespace from the
# daemon's config file (--config), the daemon up or not.
t_resolv_lines() {
    local cfg="$HL_TMP/resolv-$$.yaml" out
    cat >"$cfg" <<YAML
dns:
  listen: [ "127.0.0.1:5353" ]
  vip: 127.255.255.254
  zone: Svc.Example.
services: []
YAML
    out="$(hl_must "$HOPLESS" --config "$cfg" resolv)"
    hl_assert_eq $'nameserver 127.255.255.254\nsearch default.svc.example' "$out" "resolv, namespace default"
    out="$(hl_must "$HOPLESS" --config "$cfg" res nam team-b)"
    hl_assert_eq $'nameserver 127.255.255.254\nsearch team-b.svc.example' "$out" "resolv namespace team-b"
    out="$(hl_must "$HOPLESS" -j --config "$cfg" resolv namespace team-b)"
    hl_assert_eq '{"nameserver":"127.255.255.254","namespace":"team-b","search":["team-b.svc.example"]}' "$out" \
        "resolv -j"
    # The printed lines work as a resolv.conf: a resolver reads them back.
    hl_must "$HOPLESS" --config "$cfg" resolv >"$HL_TMP/resolv.conf"
    hl_assert_contains "$(cat "$HL_TMP/resolv.conf")" "search default.svc.example" "resolv.conf written"
}

t_resolv_errors() {
    local cfg="$HL_TMP/nodns-$$.yaml" out rc
    echo 'services: []' >"$cfg"
    out="$("$HOPLESS" --config "$cfg" resolv 2>&1)" && hl_fail "resolv without a dns: block succeeded: $out"
    hl_assert_eq "hopless: resolv: the config has no dns: block ($cfg)" "$out" "no dns: block"
    out="$("$HOPLESS" --config "$HL_TMP/missing-$$.yaml" resolv 2>&1)"
    rc=$?
    ((rc != 0)) || hl_fail "resolv with a missing config succeeded"
    hl_assert_contains "$out" "missing-$$.yaml" "the missing file is named"
    out="$("$HOPLESS" --config "$cfg" resolv namespace 'a/b' 2>&1)" && hl_fail "a bad namespace was accepted"
    hl_assert_contains "$out" "namespace 'a/b' is not a name" "bad namespace"
}

# c: the picture of a container host. The daemon runs in a "host" netns
# of its own ($NSH, on the bridge at .1, where the responder listens), a
# server task in $NSS (nginx, and dnsmasq as the upstream for names outside
# the zone), a client task in $NSC (no default route) and cgroup $CG.
t_names() {
    local sub="10.215.$((RANDOM % 250))" vipnet="127.255.$((RANDOM % 200 + 20))"
    local NSH="hopless-e2e-$HL_ID-dns-h" NSS="hopless-e2e-$HL_ID-dns-s" NSC="hopless-e2e-$HL_ID-dns-c"
    local br="hld${HL_ID}b" dport=$((20000 + RANDOM % 20000)) out
    hl_bridge_make "$br"
    hl_netns_make "$NSH"
    hl_netns_make "$NSS"
    hl_netns_make "$NSC"
    hl_netns_join_bridge "$NSH" "$br" "$sub.1/24" "hld${HL_ID}h"
    hl_netns_join_bridge "$NSS" "$br" "$sub.11/24" "hld${HL_ID}s"
    hl_netns_join_bridge "$NSC" "$br" "$sub.2/24" "hld${HL_ID}c"
    hl_test_env names
    HL_NGINX_NETNS="$NSS" hl_nginx_start NGINX "$DIR/nginx" "$sub.11:8080=backend-web" "$sub.11:8081=backend-api2"
    ip netns exec "$NSS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --pid-file= --user=root --listen-address="$sub.11" --port=53 --address=/ext.test/192.0.2.7 \
        >"$DIR/dnsmasq.log" 2>&1 &
    hl_defer hl_stop_pid $!
    cat >"$CFG" <<YAML
metrics: { listen: "127.0.0.1:$MPORT" }
attach: [ { cgroup: "$CG", namespace: default } ]
dns:
  listen: [ "$sub.1:$dport" ]
  vip: $vipnet.254
  zone: hopless.internal
  upstreams: [ "$sub.11:53" ]
services:
  - { name: web, vip: $vipnet.1, port: 80, backends: [ { address: $sub.11, port: 8080 } ] }
YAML
    HL_DAEMON_NETNS="$NSH" hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_assert_contains "$(cat "$LOG")" "dns responder for zone hopless.internal" "the responder started"
    # The task's resolv.conf, as `hopless resolv` prints it.
    mkdir -p "/etc/netns/$NSC"
    hl_must "$HOPLESS" --config "$CFG" resolv namespace default >"/etc/netns/$NSC/resolv.conf"
    hl_log "task resolv.conf: $(tr '\n' ' ' <"/etc/netns/$NSC/resolv.conf")"
    task() { hl_in_cgroup_netns "$CG" "$NSC" "$@"; }

    out="$(task dig +time=2 +tries=1 web.default.hopless.internal A)"
    hl_assert_contains "$out" "status: NOERROR" "dig web (udp) from the task"
    hl_assert_contains "$out" "SERVER: $vipnet.254#53" "the answer comes from dns.vip"
    hl_assert_eq "$vipnet.1" "$(task dig +short +time=2 +tries=1 web.default.hopless.internal A)" "web's A record"
    hl_assert_eq "$vipnet.1" "$(task dig +tcp +short +time=2 +tries=1 web.default.hopless.internal A)" "web's A over TCP"
    hl_assert_eq "0 0 80 web.default.hopless.internal." \
        "$(task dig +short +time=2 +tries=1 _web._tcp.default.hopless.internal SRV)" "web's SRV record"
    out="$(task dig +time=2 +tries=1 nope.default.hopless.internal A)"
    hl_assert_contains "$out" "status: NXDOMAIN" "a name in the zone that names no service"
    hl_assert_eq "192.0.2.7" "$(task dig +short +time=2 +tries=1 www.ext.test A)" "a name outside the zone, forwarded"
    # Outside the cgroup, the same task's namespace reaches no responder.
    out="$(ip netns exec "$NSC" dig +time=1 +tries=1 web.default.hopless.internal A 2>&1 || true)"
    hl_assert_not_contains "$out" "status: NOERROR" "dns.vip from outside the attached cgroup"

    # curl by the short name: the search domain, the VIP, the datapath.
    hl_assert_eq backend-web "$(task curl -s --max-time 3 http://web/)" "curl web by its short name"
    # A service created through the API after the task started: at once.
    local r
    r="$(curl -s --unix-socket "$HL_SOCK" -X PUT --data "{\"port\":80,\"backends\":[{\"address\":\"$sub.11\",\"port\":8081}]}" \
        http://hopless/v1/services/default/api2)"
    hl_assert_contains "$r" '"created":true' "PUT api2"
    hl_assert_eq backend-api2 "$(task curl -s --max-time 3 http://api2/)" "curl api2, created after the task started"
    # Deleted: the name is gone at once.
    curl -s --unix-socket "$HL_SOCK" -X DELETE http://hopless/v1/services/default/api2 >/dev/null
    out="$(task dig +time=2 +tries=1 api2.default.hopless.internal A)"
    hl_assert_contains "$out" "status: NXDOMAIN" "api2 after its deletion"

    local metrics nx
    metrics="$(ip netns exec "$NSH" curl -s --max-time 3 "http://127.0.0.1:$MPORT/metrics")"
    nx="$(awk '/^hopless_dns_queries_total\{rcode="NXDOMAIN"\}/ {print $2}' <<<"$metrics")"
    hl_log "hopless_dns_queries_total{rcode=NXDOMAIN} = $nx"
    ((nx >= 2)) || hl_fail "NXDOMAIN replies counted: $nx"
    hl_assert_contains "$("$HOPLESS" --pin-dir "$PIN" service list)" "hopless-dns" "the DNS service is in the datapath"
}

ALL=(
    "a resolv lines:t_resolv_lines"
    "b resolv errors:t_resolv_errors"
    "c names through the datapath:t_names"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
