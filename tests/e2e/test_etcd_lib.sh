#!/usr/bin/env bash
# The etcd helpers (lib_etcd.sh) that the multi-host tests stand on: a member
# and a three-member cluster start on free loopback ports, serve etcdctl,
# survive a member killed, paused and restarted, and leave nothing behind.
#
#   sudo bash tests/e2e/test_etcd_lib.sh [TEST...]
#
# The last line is "N passed, M failed"; 77 when there is no root/BPF or etcd
# (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_etcd.sh"

hl_init etcd etcdctl curl jq

# Whether NAME's member I still has a process (its pid file names one that runs).
member_running() {
    local pid
    pid="$(cat "$HL_TMP/etcd-$1/m$2.pid" 2>/dev/null)"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

t_single_member() {
    local eps
    hl_etcd_start eps one 1
    hl_log "endpoints: $eps"
    hl_must hl_etcd_ctl one put /k v1 >/dev/null
    hl_assert_eq "v1" "$(hl_etcd_ctl one get /k --print-value-only)" "get after put"
    # Restarted from its data dir, it still holds what it acknowledged.
    hl_etcd_stop one 0 KILL
    hl_etcd_restart one 0
    hl_assert_eq "v1" "$(hl_etcd_ctl one get /k --print-value-only)" "get after kill -9 and restart"
}

t_cluster_loses_a_member() {
    local eps leader f
    hl_etcd_start eps three 3
    hl_log "endpoints: $eps"
    hl_assert_eq 3 "$(hl_etcd_ctl three member list | wc -l)" "members"
    hl_must hl_etcd_ctl three put /k before >/dev/null

    hl_etcd_leader leader three
    hl_log "leader: m$leader"
    hl_etcd_stop three "$leader" KILL
    member_running three "$leader" && hl_fail "m$leader still runs after kill"
    # A new leader among the two left; writes go on (bounded wait for the election).
    _put() { hl_etcd_ctl three put /k after >/dev/null 2>&1; }
    hl_wait_for 10 _put || hl_fail "no write after the leader died"
    hl_assert_eq "after" "$(hl_etcd_ctl three get /k --print-value-only)" "get after the leader died"

    hl_etcd_restart three "$leader"
    hl_assert_eq "after" "$(hl_etcd_ctl three --endpoints="$eps" get /k --print-value-only)" "get after restart"

    # A paused follower: the others serve; once resumed it catches up.
    local other furl
    hl_etcd_leader leader three
    f=$(((leader + 1) % 3))
    hl_etcd_endpoint other three "$leader"
    hl_etcd_endpoint furl three "$f"
    hl_etcd_pause three "$f"
    # (a later --endpoints wins over hl_etcd_ctl's)
    hl_must hl_etcd_ctl three --endpoints="$other" put /k paused >/dev/null
    hl_etcd_resume three "$f"
    _caught_up() { [[ "$(hl_etcd_ctl three --endpoints="$furl" get /k --print-value-only)" == paused ]]; }
    hl_wait_for 10 _caught_up || hl_fail "the resumed member did not catch up"
}

t_cleanup_leaves_nothing() {
    local eps dir pids=() i
    hl_etcd_start eps gone 3
    dir="$HL_TMP/etcd-gone"
    for i in 0 1 2; do pids+=("$(cat "$dir/m$i.pid")"); done
    hl_etcd_pause gone 1  # a stopped member must be cleaned up too
    hl_cleanup_to "$HL_TEST_MARK"
    for i in 0 1 2; do
        kill -0 "${pids[$i]}" 2>/dev/null && hl_fail "member m$i (pid ${pids[$i]}) survived the cleanup"
    done
    [[ ! -e "$dir" ]] || hl_fail "$dir survived the cleanup"
    return 0
}

ALL=(
    "a single member:t_single_member"
    "b cluster loses a member:t_cluster_loses_a_member"
    "c cleanup leaves nothing:t_cleanup_leaves_nothing"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
