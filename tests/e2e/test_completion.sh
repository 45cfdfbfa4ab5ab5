#!/usr/bin/env bash
# End-to-end tests of the bash completion (packaging/bash-completion/hopless)
# and of the man pages built from packaging/man/*.scd.
#
#   sudo HOPLESSD=build/hoplessd HOPLESS=build/hopless bash tests/e2e/test_completion.sh [TEST...]
#
#   man       every command of DESIGN.md's CLI grammar is in hopless(8), every
#             option of hoplessd --help in hoplessd(8), every config key in
#             hopless.yaml(5); man renders the three without a warning
#   keywords  the completion function, driven through COMP_WORDS/COMP_CWORD
#             as bash drives it: objects, commands, keyword arguments and
#             options at each level, prefixes taken as the CLI takes them
#   live      service names (NAMESPACE/NAME, and NAME where it is
#             unambiguous), namespaces and attached cgroups come from a
#             running daemon's pinned maps, endpoint ids from its control
#             API (hopless -j, with the line's --pin-dir and --socket)
#
# The last line is "N passed, M failed"; 77 without root or BPF (1 under
# HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init man bash

BUILD="${HOPLESS_BUILD:-$(dirname "$HOPLESSD")}"
COMPLETION="$HL_REPO/packaging/bash-completion/hopless"
[[ -x "$HOPLESS" ]] || hl_fail "HOPLESS=$HOPLESS is not an executable (build it first)"

# DESIGN.md's CLI grammar, one OBJECT [COMMAND] a line.
DESIGN_COMMANDS=(
    "service list" "service show" "service apply" "service delete"
    "endpoint register" "endpoint heartbeat" "endpoint deregister" "endpoint list"
    "backend list" "cgroup list" "cgroup attach" "cgroup detach"
    "stats" "health" "top" "trace" "prog show" "map show" "map dump" "hosts" "resolv" "oci-hook"
)
# DESIGN.md's config keys and README's maps:.
CONFIG_KEYS=(
    pin_dir state_dir vip_pool metrics listen control socket maps max_services max_backends
    attach cgroup namespace dns vip zone upstreams etcd endpoints prefix host lease_ttl services
    name port protocol algorithm affinity timeout drain_timeout connect_timeout prefer health_check
    path interval healthy_threshold unhealthy_threshold netns outlier_detection consecutive_failures
    base_ejection_time max_ejection_percent backends address weight state
    round_robin random weighted least_connections
)

# ------------------------------------------------------------------ man

render() {  # PAGE: the built page as man shows it, wide (no wrapped commands); warnings fail
    local page="$BUILD/man/$1" out err
    [[ -f "$page" ]] || hl_fail "$page was not built (scdoc: tools/install-deps.sh installs it)"
    err="$DIR/$1.warnings"
    out="$(MANWIDTH=200 man --warnings -l "$page" 2>"$err")" || hl_fail "man -l $page failed: $(cat "$err")"
    [[ ! -s "$err" ]] || hl_fail "man -l $page warns: $(cat "$err")"
    printf '%s\n' "$out"
}

t_man() {
    hl_test_env man
    local text c opt
    text="$(render hopless.8)"
    for c in "${DESIGN_COMMANDS[@]}"; do
        hl_assert_contains "$text" "hopless $c" "hopless(8)"
    done
    hl_assert_contains "$text" "SERVICE := { NAME | NAMESPACE/NAME | VIP:PORT }" "hopless(8)"
    text="$(render hoplessd.8)"
    for opt in $("$HOPLESSD" --help | grep -oE '^ +(-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
        hl_assert_contains "$text" "$opt" "hoplessd(8), an option of hoplessd --help"
    done
    text="$(render hopless.yaml.5)"
    for c in "${CONFIG_KEYS[@]}"; do
        hl_assert_contains "$text" "$c" "hopless.yaml(5)"
    done
}

# ------------------------------------------------------------------ completion

# complete_words WORD...: runs the completion function as bash does for the
# line WORD... (the last word is the one completed; "" for a fresh one) in a
# new bash that sourced the completion; prints COMPREPLY, one a line, sorted.
complete_words() {
    bash -c 'source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _hopless hopless "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' complete "$COMPLETION" "$HOPLESS" "$@" | sort | grep -v '^$' | tr '\n' ' '
}

# expect "WANT" WORD...: the completions of the line are exactly WANT (sorted, space-separated).
expect() {
    local want="$1" got
    shift
    got="$(complete_words "$@")"
    hl_assert_eq "$(tr ' ' '\n' <<<"$want" | sort | grep -v '^$' | tr '\n' ' ')" "$got" "completions of 'hopless $*'"
}

t_keywords() {
    hl_test_env keywords
    hl_assert_eq "complete -F _hopless hopless" "$(bash -c 'source "$1"; complete -p hopless' x "$COMPLETION")" "complete -p"
    local objects c
    objects="$(complete_words "")"
    for c in "${DESIGN_COMMANDS[@]}"; do
        hl_assert_contains " $objects" " ${c%% *} " "the objects offered"
    done
    expect "service stats" s
    expect "list show apply delete help" service ""
    expect "show" serv sh
    expect "register heartbeat deregister list help" endpoint ""
    expect "deregister" endpoint de
    expect "list help" backend ""
    expect "list attach detach help" cgroup ""
    expect "show help" prog ""
    expect "show dump help" map ""
    expect "services service_stats service_meta slots" map dump s
    expect "service help" stats ""
    expect "service help" health ""
    expect "namespace help" hosts ""
    expect "namespace help" resolv ""
    expect "sort count interval help" top ""
    expect "active bytes errors inbound name new rtt" top sort ""
    expect "count interval" top sort rtt ""
    expect "service count help" trace ""
    expect "count" trace service web ""
    expect "" oci-hook ""
    expect "--pin-dir --pretty" --p
    expect "-j --json -p --pretty --pin-dir --socket --config -V --version -h --help" -
    expect "list show apply delete help" --config /etc/hopless/hopless.yaml service ""
    # KEY VALUE pairs: the keys not given yet, then no keyword after a key.
    expect "address port id weight ttl" endpoint register web ""
    expect "port id weight ttl" endpoint register web address 10.0.0.1 ""
    expect "id weight ttl" endpoint reg web addr 10.0.0.1 port 80 ""
    expect "id" endpoint heartbeat web ""
    expect "service" endpoint list ""
    expect "namespace" cgroup attach pid 1 ""
    # Options anywhere; their values are not words of the command.
    expect "list show apply delete help" -j --pin-dir /nonexistent service ""
    # A PATH to attach: directories under the cgroup v2 mount.
    local cgname="hopless-e2e-$HL_ID-keywords"
    hl_cgroup_make CG "$cgname"
    hl_assert_contains "$(complete_words cgroup attach "hopless-e2e-$HL_ID-key")" "$cgname" "cgroup attach PATH"
    hl_assert_contains "$(complete_words cgroup attach "$CG")" "$CG" "cgroup attach /PATH"
    hl_assert_contains "$(complete_words cgroup detach "")" "pid" "cgroup detach"
}

t_live() {
    hl_test_env live
    local vipnet="127.255.$((RANDOM % 200 + 20))"
    cat >"$CFG" <<EOF
metrics: { listen: "127.0.0.1:$MPORT" }
attach:
  - { cgroup: "$CG", namespace: team-b }
services:
  - { name: web, vip: $vipnet.1, port: 80, backends: [ { address: 127.0.0.1, port: 8080 } ] }
  - { name: web, namespace: team-b, vip: $vipnet.2, port: 80, backends: [] }
  - { name: dns, protocol: udp, vip: $vipnet.3, port: 53, backends: [] }
EOF
    hl_daemon_start "$CFG" "$PIN" "$LOG"
    expect "default/dns default/web dns team-b/web" --pin-dir "$PIN" service show ""
    expect "team-b/web" --pin-dir "$PIN" serv del team
    expect "default/dns default/web dns team-b/web" --pin-dir "$PIN" stats service ""
    expect "default/dns default/web dns team-b/web" --pin-dir "$PIN" backend list service ""
    expect "dns" -j --pin-dir "$PIN" endpoint register dn
    expect "default/dns default/web" -j --pin-dir "$PIN" endpoint register def
    expect "default team-b" --pin-dir "$PIN" hosts namespace ""
    expect "team-b" --pin-dir "$PIN" cgroup attach "$CG" namespace t
    expect "pid $CG" --pin-dir "$PIN" cgroup detach ""
    # Endpoint ids, through the control API (the line's --socket).
    hl_must "$HOPLESS" --socket "$HL_SOCK" endpoint register default/dns address 127.0.0.1 port 5353 id dns-1 >/dev/null
    expect "dns-1" --socket "$HL_SOCK" endpoint heartbeat default/dns id ""
    expect "dns-1" --socket "$HL_SOCK" endpoint dereg default/dns i d
    # The pin dir comes from the line: elsewhere there is nothing to offer.
    expect "" --pin-dir "/sys/fs/bpf/hopless-e2e-$HL_ID-none" service show ""
}

hl_run_selected \
    "man:t_man" \
    "keywords:t_keywords" \
    "live:t_live" \
    -- "$@"
hl_summary
