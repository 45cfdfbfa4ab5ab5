# shellcheck shell=bash
# Real etcd for the end-to-end tests: one member or a cluster, from Debian's
# etcd-server (v3.4), on free loopback ports, data under the run's temp dir.
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/lib_etcd.sh"
#   hl_init etcd etcdctl
#
#   hl_etcd_start VAR NAME [MEMBERS]  # starts cluster NAME (1 member by default), waits until every
#                                     # member is healthy; VAR = the client URLs, comma-separated
#   hl_etcd_endpoint VAR NAME I       # VAR = member I's client URL (http://127.0.0.1:PORT)
#   hl_etcd_stop NAME I [SIGNAL]      # TERM (default) or KILL; waits until it is gone
#   hl_etcd_pause NAME I              # SIGSTOP: connections stay open, nothing answers
#   hl_etcd_resume NAME I             # SIGCONT
#   hl_etcd_restart NAME I            # starts member I again from its data dir, waits until healthy
#   hl_etcd_wait_healthy NAME I [SECS]  # 0 once /health says true (bounded: SECS, 15)
#   hl_etcd_leader VAR NAME           # VAR = the index of the leading member
#   hl_etcd_ctl NAME ARGS...          # etcdctl (API v3) against NAME's running members
#
# Everything is registered for cleanup the moment it exists (members killed,
# data removed), also when a test fails half-way. Member I of NAME is named
# mI; its log is $HL_TMP/etcd-NAME/mI.log. State lives in files, so a test's
# subshell and the main shell's cleanup agree.

_hl_etcd_dir() { printf '%s/etcd-%s' "$HL_TMP" "$1"; }

# _hl_etcd_ports NAME I: prints "CLIENT PEER" of member I.
_hl_etcd_ports() { sed -n "$(($2 + 1))p" "$(_hl_etcd_dir "$1")/ports"; }

hl_etcd_endpoint() {  # VAR NAME I
    local ports
    ports="$(_hl_etcd_ports "$2" "$3")" || hl_fail "no etcd member $3 in $2"
    [[ -n "$ports" ]] || hl_fail "no etcd member $3 in $2"
    printf -v "$1" 'http://127.0.0.1:%s' "${ports%% *}"
}

_hl_etcd_members() { wc -l <"$(_hl_etcd_dir "$1")/ports"; }

# _hl_etcd_spawn NAME I: starts member I in the background (no wait).
_hl_etcd_spawn() {
    local name="$1" i="$2" dir cluster="" j n ports client peer
    dir="$(_hl_etcd_dir "$name")"
    n=$(_hl_etcd_members "$name")
    for ((j = 0; j < n; j++)); do
        ports="$(_hl_etcd_ports "$name" "$j")"
        cluster+="${cluster:+,}m$j=http://127.0.0.1:${ports##* }"
    done
    ports="$(_hl_etcd_ports "$name" "$i")"
    client="http://127.0.0.1:${ports%% *}"
    peer="http://127.0.0.1:${ports##* }"
    # Fast heartbeats and elections on loopback; --initial-cluster-state is
    # ignored once the data dir exists (a restart).
    etcd --name "m$i" --data-dir "$dir/m$i.etcd" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "$cluster" --initial-cluster-token "hle-$HL_ID-$name" --initial-cluster-state new \
        --heartbeat-interval 50 --election-timeout 500 \
        --logger zap --log-outputs stderr --log-level warn \
        </dev/null >>"$dir/m$i.log" 2>&1 &
    echo $! >"$dir/m$i.pid"
}

# _hl_etcd_kill_member DIR I SIGNAL: signals member I if it is still ours (its
# command line names DIR: a reused pid is left alone), waits (bounded) until it is gone.
_hl_etcd_kill_member() {
    local dir="$1" i="$2" sig="$3" pid k
    pid="$(cat "$dir/m$i.pid" 2>/dev/null)" || return 0
    [[ -n "$pid" ]] || return 0
    # (stderr off: bash reports "Killed" for a job it reaps, wherever it reaps it)
    {
        if [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == *"$dir/"* ]]; then
            kill -CONT "$pid"
            kill -"$sig" "$pid"
            for ((k = 0; k < 100; k++)); do
                kill -0 "$pid" || break
                sleep 0.05
            done
            kill -0 "$pid" && kill -9 "$pid"
        fi
        wait "$pid"
    } 2>/dev/null
    : >"$dir/m$i.pid"
    return 0
}

_hl_etcd_cleanup() {  # DIR: every member killed, the data removed
    local dir="$1" f i
    for f in "$dir"/m*.pid; do
        [[ -e "$f" ]] || continue
        i="${f##*/m}"
        i="${i%.pid}"
        _hl_etcd_kill_member "$dir" "$i" KILL
    done
    rm -rf "$dir"
}

hl_etcd_wait_healthy() {  # NAME I [SECS]
    local url
    hl_etcd_endpoint url "$1" "$2"
    _hl_etcd_healthy() { [[ "$("${HL_CURL[@]}" "$url/health")" == *'"health":"true"'* ]]; }
    hl_wait_for "${3:-15}" _hl_etcd_healthy
}

hl_etcd_start() {  # VAR NAME [MEMBERS]
    local var="$1" name="$2" n="${3:-1}" dir i p used=" " c pr urls=""
    command -v etcd >/dev/null || hl_fail "etcd is not installed (tools/install-deps.sh: etcd-server)"
    dir="$(_hl_etcd_dir "$name")"
    [[ ! -e "$dir" ]] || hl_fail "etcd cluster $name exists already"
    mkdir -p "$dir" || hl_fail "cannot make $dir"
    hl_defer _hl_etcd_cleanup "$dir"
    : >"$dir/ports"
    for ((i = 0; i < n; i++)); do
        for p in c pr; do
            local port k
            for ((k = 0; k < 20; k++)); do
                port="$(hl_free_port)" || hl_fail "no free port"
                [[ "$used" != *" $port "* ]] && break
            done
            used+="$port "
            printf -v "$p" '%s' "$port"
        done
        echo "$c $pr" >>"$dir/ports"
        urls+="${urls:+,}http://127.0.0.1:$c"
    done
    for ((i = 0; i < n; i++)); do _hl_etcd_spawn "$name" "$i"; done
    for ((i = 0; i < n; i++)); do
        hl_etcd_wait_healthy "$name" "$i" 15 ||
            hl_fail "etcd $name member m$i did not become healthy: $(tail -n 5 "$dir/m$i.log")"
    done
    printf -v "$var" '%s' "$urls"
}

hl_etcd_stop() {  # NAME I [SIGNAL]
    _hl_etcd_kill_member "$(_hl_etcd_dir "$1")" "$2" "${3:-TERM}"
}

hl_etcd_pause() {  # NAME I
    local pid
    pid="$(cat "$(_hl_etcd_dir "$1")/m$2.pid")"
    [[ -n "$pid" ]] || hl_fail "etcd $1 member m$2 is not running"
    kill -STOP "$pid" || hl_fail "cannot stop etcd $1 m$2"
}

hl_etcd_resume() {  # NAME I
    local pid
    pid="$(cat "$(_hl_etcd_dir "$1")/m$2.pid")"
    [[ -n "$pid" ]] || hl_fail "etcd $1 member m$2 is not running"
    kill -CONT "$pid" || hl_fail "cannot continue etcd $1 m$2"
}

hl_etcd_restart() {  # NAME I
    local dir
    dir="$(_hl_etcd_dir "$1")"
    [[ -z "$(cat "$dir/m$2.pid" 2>/dev/null)" ]] || hl_fail "etcd $1 member m$2 is still running"
    _hl_etcd_spawn "$1" "$2"
    hl_etcd_wait_healthy "$1" "$2" 15 ||
        hl_fail "etcd $1 member m$2 did not come back: $(tail -n 5 "$dir/m$2.log")"
}

# _hl_etcd_live NAME: the client URLs of the members that run (comma-separated).
_hl_etcd_live() {
    local dir n i urls="" url
    dir="$(_hl_etcd_dir "$1")"
    n=$(_hl_etcd_members "$1")
    for ((i = 0; i < n; i++)); do
        [[ -n "$(cat "$dir/m$i.pid" 2>/dev/null)" ]] || continue
        hl_etcd_endpoint url "$1" "$i"
        urls+="${urls:+,}$url"
    done
    printf '%s' "$urls"
}

hl_etcd_ctl() {  # NAME ARGS...
    local name="$1"
    shift
    ETCDCTL_API=3 etcdctl --endpoints="$(_hl_etcd_live "$name")" --dial-timeout=2s --command-timeout=5s "$@"
}

hl_etcd_leader() {  # VAR NAME
    local var="$1" name="$2" n i url status
    n=$(_hl_etcd_members "$name")
    for ((i = 0; i < n; i++)); do
        [[ -n "$(cat "$(_hl_etcd_dir "$name")/m$i.pid" 2>/dev/null)" ]] || continue
        hl_etcd_endpoint url "$name" "$i"
        # etcd's JSON gateway: the leader's id and the answering member's.
        status="$("${HL_CURL[@]}" -X POST -d '{}' "$url/v3/maintenance/status")" || continue
        if [[ "$(jq -r '.leader' <<<"$status")" == "$(jq -r '.header.member_id' <<<"$status")" ]]; then
            printf -v "$var" '%s' "$i"
            return 0
        fi
    done
    hl_fail "etcd $name has no leader"
}
