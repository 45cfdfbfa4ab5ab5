#!/usr/bin/env bash
# End-to-end tests of hopless.service (packaging/systemd/hopless.service)
# without systemd as PID 1: the unit is checked by systemd-analyze, and
# hoplessd runs under what of the unit can be reproduced by hand.
#
#   sudo HOPLESSD=build/hoplessd bash tests/e2e/test_systemd.sh [TEST...]
#
#   unit      systemd-analyze verify passes; systemd-analyze security
#             (--offline) scores the unit, the score is logged
#   notify    Type=notify: READY=1 once the config is applied, STATUS= after
#             each reload (applied or rejected), WATCHDOG=1 every
#             WATCHDOG_USEC/2, STOPPING=1 on SIGTERM, to a NOTIFY_SOCKET the
#             test listens on; nothing without NOTIFY_SOCKET
#   sandbox   the unit's CapabilityBoundingSet= (exactly), NoNewPrivileges=,
#             a read-only file system but bpffs (ProtectSystem=strict), a
#             read-only cgroupfs (ProtectControlGroups=), a hidepid procfs
#             (ProtectProc=invisible): the datapath, the control API and the
#             DNS responder on port 53 work,
#             and the daemon ends a redirected socket of a task in its own
#             network namespace
#   nobpf     without CAP_BPF (and CAP_SYS_ADMIN, which the kernel takes for
#             it) the daemon exits at start with an error naming CAP_BPF;
#             without CAP_PERFMON, naming CAP_PERFMON
#   noptrace  without CAP_SYS_PTRACE the datapath works and the daemon says
#             why a task's sockets could not be ended
#   nobind    without CAP_NET_BIND_SERVICE the datapath works and the DNS
#             responder says why it cannot listen on port 53
#
# The last line is "N passed, M failed"; 77 without root or BPF (1 under
# HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init ip nginx socat setpriv unshare systemd-analyze dig

UNIT="$HL_REPO/packaging/systemd/hopless.service"
[[ -f "$UNIT" ]] || hl_fail "no unit at $UNIT"
VIPNET="127.255.$((RANDOM % 200 + 20))"
VIPN=0

# unit_caps: the unit's CapabilityBoundingSet=, as setpriv's list (-all,+bpf,...).
unit_caps() {
    local line cap out="-all"
    line="$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")"
    [[ -n "$line" ]] || hl_fail "the unit has no CapabilityBoundingSet="
    for cap in $line; do
        cap="${cap#CAP_}"
        out+=",+${cap,,}"
    done
    printf '%s' "$out"
}

# without CAPS NAME...: CAPS less the named ones (setpriv's names: bpf, sys_admin).
without() {
    local caps="$1" c
    shift
    for c in "$@"; do caps="${caps//,+$c/}"; done
    printf '%s' "$caps"
}

# sandbox_wrapper FILE CAPS: a script that runs hoplessd (same pid: every step
# execs) in its own mount namespace as the unit would: bounding set CAPS,
# no new privileges, every mount read-only but /proc, /sys, /dev (strict),
# cgroupfs read-only, procfs with hidepid=invisible; rw: $DIR (stands in for
# the unit's RuntimeDirectory=/StateDirectory=) and bpffs (ReadWritePaths=).
# (Paths with spaces are not expected here.)
sandbox_wrapper() {
    local file="$1" caps="$2" rw=("$DIR") d
    # A sanitizer build's reports must still reach their directory.
    for d in $(grep -o 'log_path=[^:]*' <<<"${ASAN_OPTIONS:-}:${UBSAN_OPTIONS:-}" | sed 's/log_path=//'); do
        rw+=("$(dirname "$d")")
    done
    cat >"$file" <<EOF
#!/bin/bash
exec unshare -m --propagation slave bash -c '
set -e
for d in ${rw[*]}; do mount --bind "\$d" "\$d"; done
while read -r _ _ _ _ mnt _; do
    case " ${rw[*]} " in *" \$mnt "*) continue ;; esac
    case "\$mnt" in
    /proc | /proc/* | /dev | /dev/*) ;;
    /sys/fs/cgroup | /sys/fs/cgroup/*) mount -o remount,bind,ro "\$mnt" 2>/dev/null || true ;;
    /sys | /sys/*) ;;
    *) mount -o remount,bind,ro "\$mnt" 2>/dev/null || true ;;
    esac
done </proc/self/mountinfo
mount -t proc -o hidepid=invisible proc /proc
exec setpriv --bounding-set "$caps" --inh-caps=-all --no-new-privs "$HOPLESSD" "\$@"
' hoplessd-sandbox "\$@"
EOF
    chmod +x "$file"
}

# ------------------------------------------------------------------ unit

t_unit() {
    hl_test_env unit
    # verify checks that ExecStart= exists: point it at the binary under test.
    sed "s#^ExecStart=/usr/sbin/hoplessd#ExecStart=$HOPLESSD#" "$UNIT" >"$DIR/hopless.service"
    local out
    out="$(systemd-analyze verify --man=no "$DIR/hopless.service" 2>&1)" ||
        hl_fail "systemd-analyze verify: $out"
    [[ -z "$out" ]] || hl_fail "systemd-analyze verify warns: $out"
    out="$(systemd-analyze security --offline=true "$DIR/hopless.service" 2>&1)" ||
        hl_fail "systemd-analyze security --offline: $out"
    local score
    score="$(sed -n 's/.*Overall exposure level for hopless.service: \([0-9.]*\).*/\1/p' <<<"$out")"
    [[ -n "$score" ]] || hl_fail "no exposure level in: $(tail -n 3 <<<"$out")"
    hl_log "systemd-analyze security: exposure $score ($(grep -o 'Overall.*' <<<"$out"))"
    # 0 is best, 10 worst; above 4 systemd calls it MEDIUM. Recorded in the README.
    awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' || hl_fail "exposure $score is above 4.0"
}

# ------------------------------------------------------------------ notify

# write_cfg: a config with the test's cgroup attached and SERVICES (yaml list
# items); with DNS_LISTEN (an address), the DNS responder on its port 53.
write_cfg() {
    {
        echo "metrics: { listen: \"127.0.0.1:$MPORT\" }"
        [[ -z "${DNS_LISTEN:-}" ]] ||
            echo "dns: { listen: [ \"$DNS_LISTEN:53\" ], vip: $VIPNET.254, zone: hopless.internal }"
        echo "attach:"
        echo "  - { cgroup: \"$CG\", namespace: default }"
        if [[ -z "${SERVICES:-}" ]]; then
            echo "services: []"
        else
            echo "services:"
            printf '%s\n' "$SERVICES"
        fi
    } >"$1"
}

t_notify() {
    hl_test_env notify
    SERVICES="  - { name: web, vip: $VIPNET.$((++VIPN)), port: 80, backends: [] }" write_cfg "$CFG"
    local sock="$DIR/notify.sock" got="$DIR/notify.log"
    socat -u "UNIX-RECV:$sock" STDOUT >"$got" 2>&1 &
    hl_defer hl_stop_pid $!
    hl_wait_for 5 test -S "$sock" || hl_fail "socat did not make $sock"

    # WATCHDOG_USEC as systemd sets it for WatchdogSec=0.4s: pings every 0.2 s.
    NOTIFY_SOCKET="$sock" WATCHDOG_USEC=400000 hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_wait_log "$got" 'READY=1' 5 || hl_fail "no READY=1: $(cat "$got")"
    hl_assert_contains "$(cat "$got")" "STATUS=1 services, 1 cgroups attached; config $CFG applied" "STATUS at start"
    _pings() { (($(grep -o 'WATCHDOG=1' "$got" | wc -l) >= 4)); }
    hl_wait_for 3 _pings || hl_fail "fewer than 4 WATCHDOG=1 in 3 s: $(cat "$got")"

    # A reload that is rejected, then one that applies.
    echo "services: [ { name: web, port: 70000 } ]" >"$CFG.bad"
    mv -f "$CFG.bad" "$CFG"
    hl_wait_log "$got" 'STATUS=config rejected, the last good config stays in force: .*port' 5 ||
        hl_fail "no STATUS for the rejected config: $(cat "$got")"
    SERVICES="" write_cfg "$CFG.new"
    mv -f "$CFG.new" "$CFG"
    hl_wait_log "$got" 'STATUS=0 services, 1 cgroups attached; config reloaded' 5 ||
        hl_fail "no STATUS for the reload: $(cat "$got")"
    hl_stop_pid "$HL_DAEMON_PID"
    hl_wait_log "$got" 'STOPPING=1' 5 || hl_fail "no STOPPING=1: $(cat "$got")"
    hl_assert_not_contains "$(cat "$LOG")" "sd_notify" "the daemon's log"

    # Without NOTIFY_SOCKET nothing is sent and nothing fails.
    : >"$got"
    unset NOTIFY_SOCKET WATCHDOG_USEC
    HL_LOG_LEVEL=debug hl_daemon_start "$CFG" "$PIN" "$LOG.2"
    sleep 0.5
    hl_assert_eq "" "$(cat "$got")" "datagrams without NOTIFY_SOCKET"
    hl_assert_not_contains "$(cat "$LOG.2")" "sd_notify" "the daemon's log without NOTIFY_SOCKET"
}

# ------------------------------------------------------------------ capabilities

# netns_env NAME: the test env, a netns ($NS) with nginx on its loopback
# ($BACKEND=127.0.0.1:PORT answering "in-netns") and a config with service
# web at $VIP:80 -> $BACKEND.
netns_env() {
    hl_test_env "$1"
    NS="hopless-e2e-$HL_ID-$1"
    hl_netns_make "$NS"
    BPORT="$(hl_free_port)" || hl_fail "no free port"
    BACKEND="127.0.0.1:$BPORT"
    HL_NGINX_NETNS="$NS" hl_nginx_start NGX "$DIR/nginx" "$BACKEND=in-netns"
    _up() { [[ "$(ip netns exec "$NS" "${HL_CURL[@]}" "http://$BACKEND/")" == in-netns ]]; }
    hl_wait_for 10 _up || hl_fail "nginx in $NS does not answer"
    VIP="$VIPNET.$((++VIPN))"
    SERVICES="  - { name: web, vip: $VIP, port: 80, backends: [ { address: 127.0.0.1, port: $BPORT } ] }" \
        write_cfg "$CFG"
}

# dial_in_task: one HTTP request to the VIP from a task (the cgroup and the netns).
dial_in_task() { hl_in_cgroup_netns "$CG" "$NS" "${HL_CURL[@]}" "http://$VIP/"; }

# hold_and_remove: a task holds a connection to the VIP; the backend leaves
# the config. Sets HELD to what the task saw.
hold_and_remove() {
    local held="$DIR/hold.log"
    # shellcheck disable=SC2016  # expanded by the task's bash
    hl_in_cgroup_netns "$CG" "$NS" bash -c 'exec 3<>"/dev/tcp/$0/80" || exit 3
        echo connected; read -r -t 15 -u 3 line; echo "ended rc=$?"' "$VIP" >"$held" 2>&1 &
    hl_defer hl_stop_pid $! KILL
    hl_wait_log "$held" '^connected' 5 || hl_fail "the task did not connect: $(cat "$held")"
    SERVICES="  - { name: web, vip: $VIP, port: 80, backends: [ { address: 127.0.0.2, port: $BPORT } ] }" \
        write_cfg "$CFG.new"
    mv -f "$CFG.new" "$CFG"
    hl_wait_log "$LOG" 'config applied' 5 || hl_fail "the daemon did not apply the change: $(tail -n 3 "$LOG")"
    # Ended by the daemon (rc>128 only when the read timed out after 15 s).
    hl_wait_log "$held" '^ended' "${1:-5}"
    HELD="$(tr '\n' ';' <"$held")"
}

t_sandbox() {
    local dns_addr="127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))"
    DNS_LISTEN="$dns_addr"
    netns_env sandbox
    local caps
    caps="$(unit_caps)"
    hl_log "bounding set: $caps"
    sandbox_wrapper "$DIR/hoplessd-sandbox" "$caps"
    HOPLESSD="$DIR/hoplessd-sandbox" hl_daemon_start "$CFG" "$PIN" "$LOG"
    hl_assert_eq "$(printf '%016x' "$(caps_mask "$caps")")" \
        "$(awk '$1 == "CapBnd:" { print $2 }' "/proc/$HL_DAEMON_PID/status")" "the daemon's bounding set"
    hl_assert_eq 1 "$(grep -c '^NoNewPrivs:.*1' "/proc/$HL_DAEMON_PID/status")" "NoNewPrivs"
    hl_assert_eq in-netns "$(dial_in_task)" "a task dials the VIP"
    # The DNS responder on port 53 (CAP_NET_BIND_SERVICE).
    hl_assert_eq "$VIP" "$(dig +short +time=2 +tries=1 "@$dns_addr" web.default.hopless.internal A)" \
        "dig @$dns_addr:53 web.default.hopless.internal"
    # The control API answers from inside (its socket in the daemon's directory).
    hl_must "$HOPLESS" --socket "$HL_SOCK" endpoint register web address 127.0.0.3 port "$BPORT" id sandboxed >/dev/null
    hl_assert_contains "$("$HOPLESS" --socket "$HL_SOCK" endpoint list service default/web)" sandboxed "endpoint list"
    hl_must "$HOPLESS" --socket "$HL_SOCK" endpoint deregister web id sandboxed >/dev/null
    hold_and_remove
    hl_assert_contains "$HELD" "connection abort" "the task's connection to the removed backend"
    hl_assert_contains "$(cat "$LOG")" "1 redirected sockets terminated" "the daemon's log"
    hl_assert_not_contains "$(cat "$LOG")" "warning" "the daemon's log"
    hl_assert_not_contains "$(cat "$LOG")" "error" "the daemon's log"
}

# caps_mask LIST: the bit mask of a setpriv list (-all,+bpf,...), as CapBnd
# shows it (numbers from <linux/capability.h>).
caps_mask() {
    local mask=0 c n
    for c in ${1//,/ }; do
        case "$c" in
        +net_bind_service) n=10 ;; +net_admin) n=12 ;; +sys_ptrace) n=19 ;; +sys_admin) n=21 ;;
        +perfmon) n=38 ;; +bpf) n=39 ;; -all) continue ;;
        *) hl_fail "caps_mask: add $c to the table" ;;
        esac
        mask=$((mask | (1 << n)))
    done
    printf '%d' "$mask"
}

# start_refused CAPS: hoplessd under CAPS; it must exit at start. Sets OUT.
start_refused() {
    local rc=0
    OUT="$(timeout 20 setpriv --bounding-set "$1" --inh-caps=-all "$HOPLESSD" --config "$CFG" --pin-dir "$PIN" 2>&1)" ||
        rc=$?
    hl_assert_eq 1 "$rc" "hoplessd's exit status under $1"
    OUT="$(grep -E '\[(error|critical)\]' <<<"$OUT")"
    hl_log "under $1: $OUT"
}

t_nobpf() {
    hl_test_env nobpf
    SERVICES="" write_cfg "$CFG"
    local caps
    caps="$(unit_caps)"
    start_refused "$(without "$caps" bpf sys_admin)"
    hl_assert_contains "$OUT" "missing capability CAP_BPF" "the error"
    start_refused "$(without "$caps" perfmon sys_admin)"
    hl_assert_contains "$OUT" "missing capability CAP_PERFMON" "the error"
    [[ -e "$PIN/hl_svc_v1" ]] && hl_fail "a refused start left maps pinned"
    # The kernel takes CAP_SYS_ADMIN for CAP_BPF: without CAP_BPF alone it starts.
    daemon_start_caps "$(without "$caps" bpf)"
}

# daemon_start_caps CAPS: hl_daemon_start with hoplessd under that bounding set.
daemon_start_caps() {
    cat >"$DIR/hoplessd-caps" <<EOF
#!/bin/bash
exec setpriv --bounding-set "$1" --inh-caps=-all "$HOPLESSD" "\$@"
EOF
    chmod +x "$DIR/hoplessd-caps"
    HOPLESSD="$DIR/hoplessd-caps" hl_daemon_start "$CFG" "$PIN" "$LOG"
}

t_noptrace() {
    netns_env noptrace
    daemon_start_caps "$(without "$(unit_caps)" sys_ptrace)"
    hl_assert_eq in-netns "$(dial_in_task)" "a task dials the VIP"
    hold_and_remove 1
    hl_wait_log "$LOG" 'cannot be opened \(needs CAP_SYS_PTRACE\)' 5 || hl_fail "no warning in the log: $(tail -n 5 "$LOG")"
    hl_assert_not_contains "$HELD" "ended" "the task's connection (not ended without CAP_SYS_PTRACE)"
}

# Without CAP_NET_BIND_SERVICE the datapath works and the responder says why it cannot listen on 53.
t_nobind() {
    DNS_LISTEN="127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))"
    netns_env nobind
    daemon_start_caps "$(without "$(unit_caps)" net_bind_service)"
    hl_assert_eq in-netns "$(dial_in_task)" "a task dials the VIP"
    hl_assert_contains "$(cat "$LOG")" "needs CAP_NET_BIND_SERVICE" "the daemon's log"
}

hl_run_selected \
    "unit:t_unit" \
    "notify:t_notify" \
    "sandbox:t_sandbox" \
    "nobpf:t_nobpf" \
    "noptrace:t_noptrace" \
    "nobind:t_nobind" \
    -- "$@"
hl_summary
