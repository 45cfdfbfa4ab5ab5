# shellcheck shell=bash
# Shared helpers for the hopless end-to-end tests (bash, root, real kernel).
#
#   source "$(dirname "$0")/lib.sh"
#   hl_init                 # root + BPF check (SKIP=77, or FAIL under HOPLESS_REQUIRE_BPF=1),
#                           # temp dir, cleanup registry, EXIT/INT/TERM traps
#   hl_run_test NAME FUNC   # runs FUNC in a subshell, prints PASS/FAIL, undoes what it made
#   hl_run_selected "NAME:FUNC"... -- "$@"   # the tests the command line names (all by default)
#   hl_summary              # prints "N passed, M failed"; returns non-zero on any failure
#
# Rules the helpers keep (the machine is watched): traffic only to loopback and
# to addresses inside network namespaces made here; client namespaces get no
# default route; every wait is bounded in count and time; everything made is
# registered for cleanup the moment it exists; names carry the script's pid.
#
# Inside a test, a failed assertion calls hl_fail, which prints the reason and
# exits the test's subshell; the subshell's EXIT trap undoes what the test made.
# Helpers that make something set a variable (first argument) instead of
# printing, so that a failure in them ends the test (in $(...) it could not).
#
#   environment  hl_cgroup2_mount, hl_bpffs_ensure, hl_require_bpf, hl_skip_or_fail
#   cleanup      hl_defer CMD..., hl_cleanup_mark, hl_cleanup_to MARK, hl_cleanup_all
#   asserts      hl_fail, hl_assert_eq, hl_assert_contains, hl_assert_not_contains, hl_must
#   waiting      hl_wait_for SECS CMD..., hl_wait_log FILE RE SECS [N], hl_wait_http URL TEXT [SECS]
#   cgroups      hl_cgroup_make VAR NAME, hl_cgroup_remove, hl_cgroup_id, hl_in_cgroup CG CMD...
#   netns        hl_netns_make, hl_bridge_make, hl_netns_join_bridge NS BR ADDR/LEN HOSTIF,
#                hl_netns_hosts NS LINE..., hl_in_cgroup_netns CG NS CMD...
#   processes    hl_nginx_start VAR DIR ADDR:PORT=TEXT..., hl_stop_pid PID [SIG],
#                hl_daemon_start CFG PIN LOG (sets HL_DAEMON_PID), hl_pin_dir VAR NAME,
#                hl_test_env NAME (CG PIN DIR CFG LOG MPORT METRICS)
#   metrics      hl_metric URL NAME LABEL-SUBSTRING..., hl_metrics_valid URL
#   misc         hl_free_port, hl_now_ms, hl_count_log FILE RE

HL_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HL_REPO="${HOPLESS_SRC:-$(cd "$HL_LIB_DIR/../.." && pwd)}"
HOPLESSD="${HOPLESSD:-$HL_REPO/build/hoplessd}"
HOPLESS="${HOPLESS:-$HL_REPO/build/hopless}"
HL_ID=$$                           # in every name this run makes (the stale sweep reads it as a pid)
HL_PASSED=0
HL_FAILED=0
HL_FAILED_NAMES=()
HL_TMP=""                          # per-run temp dir (hl_init)
HL_CLEANUP_FILE=""                 # the cleanup registry: one shell command a line, run last-first
HL_CURL=(curl -s --connect-timeout 2 --max-time 4)

# ---------------------------------------------------------------- output

hl_log()  { printf '    %s\n' "$*" >&2; }
hl_info() { printf '[e2e] %s\n' "$*" >&2; }

# hl_fail MSG: the current test fails (exits its subshell; outside a test, the script).
hl_fail() {
    printf '    FAIL: %s\n' "$*" >&2
    # Inside $(...) the exit below ends only the command substitution: the
    # file tells the test's runner all the same.
    [[ -z ${HL_FAIL_FILE:-} ]] || printf '%s\n' "$*" >>"$HL_FAIL_FILE"
    exit 1
}

hl_assert_eq() {  # EXPECTED ACTUAL MSG
    [[ "$1" == "$2" ]] || hl_fail "$3: expected '$1', got '$2'"
}

hl_assert_contains() {  # HAYSTACK NEEDLE MSG
    [[ "$1" == *"$2"* ]] || hl_fail "$3: '$2' not found in: $(printf '%s' "$1" | tail -c 600)"
}

hl_assert_not_contains() {  # HAYSTACK NEEDLE MSG
    [[ "$1" != *"$2"* ]] || hl_fail "$3: '$2' unexpectedly found in: $(printf '%s' "$1" | tail -c 600)"
}

# hl_must CMD...: runs CMD; a non-zero exit fails the test with its output.
hl_must() {
    local out rc
    out="$("$@" 2>&1)"
    rc=$?
    ((rc == 0)) || hl_fail "command failed (exit $rc): $* :: $out"
    [[ -z "$out" ]] || printf '%s\n' "$out"
}

# ---------------------------------------------------------------- cleanup registry
# A file, so a test's subshell and the main shell share it: the main shell's
# EXIT trap still undoes a test that was interrupted.

hl_defer() {  # CMD...: queue CMD (quoted as given) for cleanup
    [[ -n "$HL_CLEANUP_FILE" ]] || { echo "hl_defer before hl_init" >&2; return 1; }
    local q
    q="$(printf '%q ' "$@")"
    printf '%s\n' "$q" >>"$HL_CLEANUP_FILE"
}

hl_cleanup_mark() { [[ -f "$HL_CLEANUP_FILE" ]] && wc -l <"$HL_CLEANUP_FILE" || echo 0; }

# hl_cleanup_to MARK: runs, last first, the entries registered after MARK, and forgets them.
hl_cleanup_to() {
    local mark="${1:-0}" total line
    [[ -f "$HL_CLEANUP_FILE" ]] || return 0
    total=$(wc -l <"$HL_CLEANUP_FILE")
    ((total > mark)) || return 0
    while IFS= read -r line; do
        [[ -n "$line" ]] || continue
        eval "$line" >/dev/null 2>&1 || true
    done < <(tail -n +"$((mark + 1))" "$HL_CLEANUP_FILE" | tac)
    local keep
    keep="$(head -n "$mark" "$HL_CLEANUP_FILE")"
    if ((mark > 0)); then printf '%s\n' "$keep" >"$HL_CLEANUP_FILE"; else : >"$HL_CLEANUP_FILE"; fi
}

hl_cleanup_all() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM  # a second Ctrl-C must not cut the cleanup short
    if [[ -n "$HL_CLEANUP_FILE" && -f "$HL_CLEANUP_FILE" ]]; then
        hl_cleanup_to 0
        rm -f "$HL_CLEANUP_FILE"
    fi
    [[ -n "$HL_TMP" && -d "$HL_TMP" && -z "${HL_KEEP_TMP:-}" ]] && rm -rf "$HL_TMP"
    return "$rc"
}

# ---------------------------------------------------------------- environment

hl_cgroup2_mount() {  # prints the cgroup v2 mount point (from /proc/mounts), or fails
    local dir type
    while read -r _ dir type _; do
        if [[ "$type" == cgroup2 ]]; then printf '%s\n' "$dir"; return 0; fi
    done </proc/mounts
    return 1
}

hl_bpffs_ensure() {  # mounts bpffs at /sys/fs/bpf if it is not (left mounted: it is system setup)
    local dir type
    while read -r _ dir type _; do
        [[ "$dir" == /sys/fs/bpf && "$type" == bpf ]] && return 0
    done </proc/mounts
    mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
}

# hl_skip_or_fail MSG: no root / no BPF here. Exits 77 (SKIP), or 1 under HOPLESS_REQUIRE_BPF=1.
hl_skip_or_fail() {
    if [[ "${HOPLESS_REQUIRE_BPF:-0}" == 1 ]]; then
        echo "FAIL: $* (HOPLESS_REQUIRE_BPF=1: a test that needs BPF must not skip)" >&2
        exit 1
    fi
    echo "SKIP: $*" >&2
    exit 77
}

hl_require_bpf() {
    [[ $EUID -eq 0 ]] || hl_skip_or_fail "not root (the e2e tests load BPF programs and make cgroups and netns)"
    # shellcheck disable=SC2034  # for the tests: the cgroup v2 mount
    HL_CG_ROOT="$(hl_cgroup2_mount)" || hl_skip_or_fail "no cgroup v2 mount in /proc/mounts"
    hl_bpffs_ensure 2>/dev/null || hl_skip_or_fail "bpffs is not mounted at /sys/fs/bpf and cannot be"
    command -v bpftool >/dev/null || hl_skip_or_fail "bpftool is not installed (tools/install-deps.sh)"
    bpftool prog show >/dev/null 2>&1 || hl_skip_or_fail "the bpf() syscall is not available here"
}

# hl_sweep_stale: removes what an earlier run killed with SIGKILL left behind.
# Names carry the owner's pid (hopless-e2e-<pid>-..., hle<pid>...): only things
# whose owner is gone are touched, and never a cgroup or netns with processes
# in it (those are reported, not killed). Runs never depend on it: every name
# is unique per run.
hl_sweep_stale() {
    local cgroot p owner ns left=()
    cgroot="$(hl_cgroup2_mount)" || return 0
    _hl_owner_gone() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 != $$)) && ! kill -0 "$1" 2>/dev/null; }
    # Processes an earlier run started (its nginx, its hoplessd) name that run's
    # temp dir on their command line: end those, by pid, and nothing else.
    local d cmdline pid
    for d in /tmp/hopless-e2e-*.*; do
        [[ -d "$d" ]] || continue
        owner="${d#/tmp/hopless-e2e-}"
        owner="${owner%%.*}"
        _hl_owner_gone "$owner" || continue
        for p in /proc/[0-9]*; do
            pid="${p#/proc/}"
            cmdline="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
            [[ "$cmdline" == *"$d/"* ]] || continue
            # Its children (nginx workers) first: they do not follow a killed master.
            local kid
            for kid in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -9 "$kid" 2>/dev/null; done
            kill -9 "$pid" 2>/dev/null && left+=("ended pid $pid of run $owner")
        done
    done
    for p in /sys/fs/bpf/hopless-e2e-*; do
        [[ -e "$p" ]] || continue
        owner="${p#/sys/fs/bpf/hopless-e2e-}"
        owner="${owner%%-*}"
        _hl_owner_gone "$owner" || continue
        [[ -x "$HOPLESSD" ]] && "$HOPLESSD" --cleanup --pin-dir "$p" >/dev/null 2>&1
        rm -rf "$p" 2>/dev/null
    done
    for p in "$cgroot"/hopless-e2e-*; do
        [[ -d "$p" ]] || continue
        owner="${p#"$cgroot"/hopless-e2e-}"
        owner="${owner%%-*}"
        _hl_owner_gone "$owner" || continue
        if [[ -s "$p/cgroup.procs" ]]; then left+=("cgroup $p has processes"); else rmdir "$p" 2>/dev/null; fi
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^hopless-e2e-'); do
        owner="${ns#hopless-e2e-}"
        owner="${owner%%-*}"
        _hl_owner_gone "$owner" || continue
        if [[ -n "$(ip netns pids "$ns" 2>/dev/null)" ]]; then left+=("netns $ns has processes"); else hl_netns_remove "$ns"; fi
    done
    for p in /etc/netns/hopless-e2e-*; do
        [[ -e "$p" ]] || continue
        ns="${p#/etc/netns/}"
        [[ -e "/run/netns/$ns" ]] || rm -rf "$p"
    done
    for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^hle[0-9]+[a-z]$'); do
        owner="${p#hle}"
        owner="${owner%[a-z]}"
        _hl_owner_gone "$owner" && ip link del "$p" 2>/dev/null
    done
    for p in /tmp/hopless-e2e-*.*; do
        [[ -d "$p" ]] || continue
        owner="${p#/tmp/hopless-e2e-}"
        owner="${owner%%.*}"
        _hl_owner_gone "$owner" && rm -rf "$p"
    done
    ((${#left[@]} == 0)) || hl_info "leftovers of earlier runs: ${left[*]}"
    return 0
}

# hl_init [TOOL...]: checks, temp dir, registry, traps. TOOLs must be on PATH.
hl_init() {
    hl_require_bpf
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || hl_skip_or_fail "'$t' is not installed (tools/install-deps.sh installs it)"
    done
    [[ -x "$HOPLESSD" ]] || { echo "FAIL: HOPLESSD=$HOPLESSD is not an executable (build it first)" >&2; exit 1; }
    hl_sweep_stale
    HL_TMP="$(mktemp -d "/tmp/hopless-e2e-$HL_ID.XXXXXX")"
    HL_CLEANUP_FILE="$HL_TMP/cleanup.registry"
    : >"$HL_CLEANUP_FILE"
    trap hl_cleanup_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ---------------------------------------------------------------- tests

# hl_run_test NAME FUNC [ARGS...]: FUNC runs in a subshell; PASS when it returns 0.
hl_run_test() {
    local name="$1" rc start
    shift
    start=$SECONDS
    printf '[e2e] --- %s\n' "$name" >&2
    local mark
    mark=$(hl_cleanup_mark)
    (
        # shellcheck disable=SC2034  # for the test: its name
        HL_TEST_NAME="$name"
        HL_TEST_MARK=$mark
        HL_FAIL_FILE=${HL_TMP:+$HL_TMP/failed.$mark}
        trap 'trap "" INT TERM; hl_cleanup_to "$HL_TEST_MARK"' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        "$@"
    )
    rc=$?
    hl_cleanup_to "$mark"  # in case the subshell could not (killed)
    if [[ -n $HL_TMP && -s "$HL_TMP/failed.$mark" ]]; then  # an hl_fail in a command substitution
        ((rc != 0)) || rc=1
        rm -f "$HL_TMP/failed.$mark"
    fi
    if ((rc == 0)); then
        HL_PASSED=$((HL_PASSED + 1))
        printf 'PASS: %s (%ss)\n' "$name" "$((SECONDS - start))"
    else
        HL_FAILED=$((HL_FAILED + 1))
        HL_FAILED_NAMES+=("$name")
        printf 'FAIL: %s (%ss)\n' "$name" "$((SECONDS - start))"
    fi
    ((rc == 130 || rc == 143)) && exit "$rc"
    return 0
}

# hl_run_selected "NAME:FUNC"... -- ARG...: runs each test whose NAME starts
# with an ARG or whose FUNC is ARG or t_ARG; every test when no ARG is given.
hl_run_selected() {
    local -a tests=()
    while (($# > 0)) && [[ "$1" != -- ]]; do tests+=("$1"); shift; done
    shift  # the --
    local entry name fn arg want
    for entry in "${tests[@]}"; do
        name="${entry%%:*}" fn="${entry##*:}"
        want=$((($# == 0)))
        for arg in "$@"; do [[ "$name" == "$arg"* || "$fn" == "$arg" || "$fn" == "t_$arg" ]] && want=1; done
        ((want)) && hl_run_test "$name" "$fn"
    done
    return 0
}

hl_summary() {
    ((HL_FAILED == 0)) || printf 'failed: %s\n' "${HL_FAILED_NAMES[*]}"
    printf '%d passed, %d failed\n' "$HL_PASSED" "$HL_FAILED"
    ((HL_FAILED == 0))
}

# ---------------------------------------------------------------- waiting

# hl_wait_for TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds; 1 on timeout.
hl_wait_for() {
    local timeout="$1" i max
    shift
    max=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 20 }')
    for ((i = 0; i <= max; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

hl_now_ms() { date +%s%3N; }

# hl_wait_log FILE PATTERN TIMEOUT_S [MIN_COUNT]: waits until FILE has MIN_COUNT (1) lines matching PATTERN (grep -E).
hl_wait_log() {
    local file="$1" pat="$2" timeout="$3" want="${4:-1}"
    _hl_log_has() { (($(grep -cE -- "$pat" "$file" 2>/dev/null) >= want)); }
    hl_wait_for "$timeout" _hl_log_has
}

hl_count_log() { grep -cE -- "$2" "$1" 2>/dev/null || true; }  # FILE PATTERN

hl_free_port() {  # [ADDR]: a TCP port nobody uses (random, bounded tries)
    local i p
    for ((i = 0; i < 50; i++)); do
        # Below the ephemeral range (32768-60999 here): a port picked there
        # can be taken by any outgoing connection before the server binds it.
        p=$((20000 + RANDOM % 12700))
        if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- cgroups

# hl_cgroup_make VAR NAME: makes <cgroup2 mount>/NAME, registers its removal, sets VAR to its path.
# (Helpers that make things set a variable rather than print: in $(...) a failure could not end the test.)
hl_cgroup_make() {
    local root path
    root="$(hl_cgroup2_mount)" || hl_fail "no cgroup v2 mount"
    path="$root/$2"
    mkdir -p "$path" || hl_fail "cannot make cgroup $path"
    hl_defer hl_cgroup_remove "$path"
    printf -v "$1" '%s' "$path"
}

# hl_cgroup_remove PATH: kills what is left in it (children first), waits until
# it is empty, then removes it. "Empty" is cgroup.events' populated 0, not an
# empty cgroup.procs: a killed process whose parent is gone stays a zombie,
# and keeps the cgroup busy, until init reaps it (over a second here).
# Bounded: 10 s.
hl_cgroup_remove() {
    local path="$1" i pid sub
    [[ -d "$path" ]] || return 0
    for sub in "$path"/*/; do
        [[ -d "$sub" && -f "$sub/cgroup.procs" ]] && hl_cgroup_remove "${sub%/}"
    done
    for ((i = 0; i < 100; i++)); do
        grep -qx 'populated 0' "$path/cgroup.events" 2>/dev/null && break
        if [[ -e "$path/cgroup.kill" ]]; then
            echo 1 >"$path/cgroup.kill" 2>/dev/null
        else
            while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$path/cgroup.procs"
        fi
        sleep 0.1
    done
    rmdir "$path" 2>/dev/null || { sleep 0.5; rmdir "$path" 2>/dev/null; } ||
        echo "    cleanup: cannot remove cgroup $path" >&2
}

hl_cgroup_id() { stat -c %i "$1"; }  # the cgroup id is the kernfs inode number

# hl_in_cgroup CGROUP CMD...: runs CMD as a child moved into CGROUP first (the caller stays put).
hl_in_cgroup() {
    local cg="$1"
    shift
    bash -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' hl-in-cgroup "$cg" "$@"
}

# hl_in_cgroup_netns CGROUP NETNS CMD...: into the cgroup first (ip netns exec
# remounts /sys and hides the cgroup tree), then into the netns.
hl_in_cgroup_netns() {
    local cg="$1" ns="$2"
    shift 2
    bash -c 'echo $$ >"$1/cgroup.procs" || exit 125; ns="$2"; shift 2; exec ip netns exec "$ns" "$@"' \
        hl-in-cgroup "$cg" "$ns" "$@"
}

# ---------------------------------------------------------------- network namespaces

# hl_netns_make NAME: a netns with lo up and no routes; registers its removal and /etc/netns/NAME.
hl_netns_make() {
    local ns="$1"
    ip netns add "$ns" || hl_fail "cannot make netns $ns"
    hl_defer hl_netns_remove "$ns"
    ip -n "$ns" link set lo up || hl_fail "cannot bring lo up in $ns"
}

hl_netns_remove() {
    local ns="$1" pid
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
}

# hl_netns_hosts NS LINE...: /etc/netns/NS/hosts (ip netns exec binds it over /etc/hosts).
hl_netns_hosts() {
    local ns="$1"
    shift
    mkdir -p "/etc/netns/$ns" || hl_fail "cannot make /etc/netns/$ns"
    hl_defer rm -rf "/etc/netns/$ns"
    { echo "127.0.0.1 localhost"; printf '%s\n' "$@"; } >"/etc/netns/$ns/hosts"
}

# hl_bridge_make NAME: a bridge with no address on the host (traffic stays between the netns on it).
hl_bridge_make() {
    local br="$1"
    ip link add "$br" type bridge || hl_fail "cannot make bridge $br"
    hl_defer ip link del "$br"
    ip link set "$br" up || hl_fail "cannot bring $br up"
}

# hl_netns_join_bridge NS BRIDGE ADDR/LEN HOSTIF: a veth pair, HOSTIF on the bridge, the peer
# (eth0) in NS with ADDR. Only the connected route: no default route.
hl_netns_join_bridge() {
    local ns="$1" br="$2" addr="$3" hostif="$4"
    ip link add "$hostif" type veth peer name "${hostif}p" || hl_fail "cannot make veth $hostif"
    hl_defer ip link del "$hostif"
    ip link set "${hostif}p" netns "$ns" name eth0 || hl_fail "cannot move veth into $ns"
    ip link set "$hostif" master "$br" up || hl_fail "cannot put $hostif on $br"
    ip -n "$ns" addr add "$addr" dev eth0 || hl_fail "cannot address eth0 in $ns"
    ip -n "$ns" link set eth0 up || hl_fail "cannot bring eth0 up in $ns"
}

# ---------------------------------------------------------------- servers

# hl_nginx_start VAR DIR LISTEN=TEXT...: one nginx (not the system's) with a server per
# LISTEN (ADDR:PORT) answering TEXT; optional HL_NGINX_NETNS runs it in that netns.
# Sets VAR to the master's pid; registers its stop. Does not wait: see hl_wait_http.
hl_nginx_start() {
    local var="$1" dir="$2" spec listen text pid
    shift 2
    mkdir -p "$dir" || hl_fail "cannot make $dir"
    local nv tmp_paths="" m
    nv="$(nginx -V 2>&1)"
    for m in fastcgi uwsgi scgi; do
        [[ "$nv" == *"--without-http_${m}_module"* ]] || tmp_paths+="  ${m}_temp_path $dir/tmp-$m;"$'\n'
    done
    [[ "$nv" == *"--without-http_proxy_module"* ]] || tmp_paths+="  proxy_temp_path $dir/tmp-proxy;"$'\n'
    {
        echo "worker_processes 1;"
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/error.log warn;"
        echo "events { worker_connections 512; }"
        echo "http {"
        echo "  access_log off;"
        echo "  default_type text/plain;"
        echo "  client_body_temp_path $dir/tmp-body;"
        printf '%s' "$tmp_paths"
        for spec in "$@"; do
            listen="${spec%%=*}"
            text="${spec#*=}"
            echo "  server { listen $listen; location / { return 200 \"$text\\n\"; } }"
        done
        echo "}"
    } >"$dir/nginx.conf"
    if [[ -n "${HL_NGINX_NETNS:-}" ]]; then
        ip netns exec "$HL_NGINX_NETNS" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
            -g 'daemon off;' >"$dir/stdout.log" 2>&1 &
    else
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' >"$dir/stdout.log" 2>&1 &
    fi
    pid=$!
    hl_defer hl_stop_pid "$pid"
    printf -v "$var" '%s' "$pid"
}

# hl_wait_http URL TEXT [TIMEOUT_S]: waits until URL answers with TEXT (run by the caller, outside any cgroup).
hl_wait_http() {
    local url="$1" text="$2" timeout="${3:-10}"
    _hl_http_ok() { [[ "$("${HL_CURL[@]}" "$url")" == *"$text"* ]]; }
    hl_wait_for "$timeout" _hl_http_ok || hl_fail "$url did not answer '$text' within ${timeout}s"
}

# hl_stop_pid PID [SIGNAL]: signals a process we started and waits (bounded) for it to go.
hl_stop_pid() {
    local pid="$1" sig="${2:-TERM}" i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# ---------------------------------------------------------------- hoplessd

# hl_pin_dir VAR NAME: sets VAR to a pin dir path under /sys/fs/bpf, with its cleanup
# registered (hoplessd --cleanup, then removal of anything left).
hl_pin_dir() {
    local pin="/sys/fs/bpf/hopless-e2e-$HL_ID-$2"
    hl_defer hl_pin_remove "$pin"
    printf -v "$1" '%s' "$pin"
}

hl_pin_remove() {
    local pin="$1"
    [[ -e "$pin" ]] || return 0
    "$HOPLESSD" --cleanup --pin-dir "$pin" >/dev/null 2>&1
    rm -rf "$pin"
}

# hl_test_env NAME: what one daemon test needs, all named for NAME and undone
# when the test ends: a cgroup ($CG), a pin dir ($PIN), a directory ($DIR)
# holding the config ($CFG) and the daemon's log ($LOG), a free metrics port
# ($MPORT) and its URL ($METRICS).
# shellcheck disable=SC2034  # the variables are the caller's
hl_test_env() {
    local name="$1"
    hl_cgroup_make CG "hopless-e2e-$HL_ID-$name"
    hl_pin_dir PIN "$name"
    DIR="$HL_TMP/$name"
    mkdir -p "$DIR" || hl_fail "cannot make $DIR"
    CFG="$DIR/hopless.yaml"
    LOG="$DIR/hoplessd.log"
    MPORT="$(hl_free_port)" || hl_fail "no free port"
    METRICS="http://127.0.0.1:$MPORT/metrics"
}

# hl_daemon_start CONFIG PIN LOG: starts hoplessd in the background and waits
# (bounded: HL_DAEMON_WAIT seconds, 15) until it says it is running. Sets HL_DAEMON_PID. Registers its stop.
hl_daemon_start() {
    local cfg="$1" pin="$2" log="$3"
    # The control socket and the saved registry beside the log: each test's
    # daemon has its own (HL_SOCK is what the test's CLI calls pass).
    HL_SOCK="$(dirname "$log")/hopless.sock"
    # HL_DAEMON_NETNS: the daemon in that network namespace (nsenter, not ip
    # netns exec, which would remount /sys and hide bpffs and the cgroups).
    local -a pre=()
    [[ -n "${HL_DAEMON_NETNS:-}" ]] && pre=(nsenter "--net=/var/run/netns/$HL_DAEMON_NETNS")
    "${pre[@]}" "$HOPLESSD" --config "$cfg" --pin-dir "$pin" --socket "$HL_SOCK" --state-dir "$(dirname "$log")/state" \
        --log-level "${HL_LOG_LEVEL:-info}" >>"$log" 2>&1 &
    HL_DAEMON_PID=$!
    hl_defer hl_stop_pid "$HL_DAEMON_PID"
    local i
    for ((i = 0; i < ${HL_DAEMON_WAIT:-15} * 20; i++)); do
        grep -q "hoplessd running (pid $HL_DAEMON_PID)" "$log" 2>/dev/null && return 0
        kill -0 "$HL_DAEMON_PID" 2>/dev/null || break
        sleep 0.05
    done
    hl_fail "hoplessd did not come up (log $log): $(tail -n 5 "$log")"
}

# hl_trace_until PIN: the deadline of the tracer's lease in PIN's
# hl_tracectl_v1 (0: nobody traces).
hl_trace_until() {
    bpftool -j map dump pinned "$1/hl_tracectl_v1" | grep -o '"until_ns":[0-9]*' | cut -d: -f2
}

# hl_trace_wait_lease PIN SECS: until a tracer holds the lease (a tracer just
# started sees nothing before: under the sanitizers it starts slowly).
hl_trace_wait_lease() {
    _hl_traced() { [[ "$(hl_trace_until "$1")" =~ ^[1-9] ]]; }
    hl_wait_for "$2" _hl_traced "$1"
}

# hl_metrics_valid URL: one scrape of URL, checked by tests/tools/prom_check
# (the unit tests' strict parser of the exposition format: families whole
# and once, labels escaped, histograms cumulative up to +Inf); fails the
# test with the first problem. Prints prom_check's summary.
hl_metrics_valid() {
    local check="${HOPLESS_BUILD:-$(dirname "$HOPLESSD")}/tests/prom_check" body out
    [[ -x "$check" ]] || hl_fail "$check is missing (cmake --build: target prom_check)"
    body="$HL_TMP/scrape.$$.txt"
    "${HL_CURL[@]}" -o "$body" "$1" || hl_fail "scrape of $1 failed"
    out="$("$check" <"$body" 2>&1)" || hl_fail "the scrape of $1 is not valid Prometheus text: $out"
    rm -f "$body"
    printf '%s\n' "$out"
}

# hl_metric URL NAME LABELMATCH...: the value of the first sample of NAME whose
# labels contain every LABELMATCH (e.g. 'service="web"'); 0 when absent.
hl_metric() {
    local url="$1" name="$2"
    shift 2
    local body
    body="$("${HL_CURL[@]}" "$url")" || { echo "scrape-failed"; return 1; }
    printf '%s\n' "$body" | awk -v n="$name" -v want="$(printf '%s\x1f' "$@")" '
        BEGIN { k = split(want, w, "\x1f") }
        index($0, n "{") == 1 || $1 == n {
            ok = 1
            for (i = 1; i < k; i++) if (index($0, w[i]) == 0) ok = 0
            if (ok) { print $NF; found = 1; exit }
        }
        END { if (!found) print 0 }'
}
