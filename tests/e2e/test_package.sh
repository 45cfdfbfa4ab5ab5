#!/usr/bin/env bash
# End-to-end tests of the Debian package, installed into this machine with
# dpkg (the package is purged again at the end, also when a test fails).
#
#   sudo HOPLESSD=build/hoplessd bash tests/e2e/test_package.sh [TEST...]
#
# The package is the build tree's (cpack, as `cmake --build build --target
# package` makes it). The upgrade goes to a package with a higher version
# made without a second build: the same objects relinked with the version
# <version>+next (targets hoplessd_next, hopless_cli_next: one source
# compiled, two links), put into a copy of the package whose control file
# says that version.
#
#   contents  the .deb: name, version, computed Depends (libbpf1, ...),
#             conffile, maintainer scripts, files
#   install   dpkg -i without systemd as PID 1: the files, --version of both
#             binaries agrees with the package, man pages, completion,
#             systemd-analyze verify of the installed unit, the unit is not
#             enabled, the shipped config loads and serves nothing
#   upgrade   a daemon from /usr/sbin keeps a datapath; a client keeps
#             dialing a VIP while the package is upgraded and the daemon
#             restarted from the new binary: no connect fails, the pinned
#             links now run the new daemon's programs, the edited config stays
#   remove    dpkg -r keeps the config, the state and the pinned datapath
#             (clients still reach the backend with no daemon); dpkg -P runs
#             hoplessd --cleanup (the datapath is gone) and removes config and
#             state: nothing named hopless is left outside the package
#
# Refuses to run (fails) when hopless is already installed here. The last
# line is "N passed, M failed"; 77 without root or BPF (1 under
# HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_etcd.sh"

hl_init dpkg dpkg-deb dpkg-query cpack cmake strip objdump ldd nginx curl jq systemd-analyze man

BUILD="${HOPLESS_BUILD:-$(dirname "$HOPLESSD")}"
[[ -f "$BUILD/CPackConfig.cmake" ]] || hl_fail "no CPackConfig.cmake in $BUILD (set HOPLESS_BUILD to the build tree)"
VERSION="$("$HOPLESSD" --version | awk '{ print $2 }')"
NEXT="$VERSION+next"
ARCH="$(dpkg --print-architecture)"
MARK=/var/lib/hopless/.package-test   # says: this install is the test's (a killed run's leftover)
export DEBIAN_FRONTEND=noninteractive

# ------------------------------------------------------------------ the machine before

pkg_state() { dpkg-query -W -f='${db:Status-Status}' hopless 2>/dev/null || echo not-installed; }

# pkg_purge: purges the package if it is here, whatever its state, and removes
# what an interrupted run can leave (only called when the test installed it).
pkg_purge() {
    [[ "$(pkg_state)" == not-installed ]] || dpkg --purge --force-all hopless >>"$HL_TMP/dpkg.log" 2>&1
    rm -rf /etc/hopless /var/lib/hopless /run/hopless
}

if [[ "$(pkg_state)" != not-installed || -e /etc/hopless || -e /var/lib/hopless ]]; then
    if [[ -e "$MARK" ]]; then
        hl_info "purging the package a killed run left installed"
        pkg_purge
    else
        hl_fail "hopless is installed here ($(pkg_state); /etc/hopless or /var/lib/hopless exist): this test installs and purges the package; purge it first (dpkg -P hopless)"
    fi
fi
hl_defer pkg_purge
hl_defer rm -f "$MARK"

# Everything named hopless outside the test's own files, before any install.
leftovers() {
    find /etc /usr /lib /var /run /opt -xdev -name '*hopless*' 2>/dev/null | grep -v "^/run/netns/\|hopless-e2e-$HL_ID" | sort
}
BEFORE="$(leftovers)"

# ------------------------------------------------------------------ the packages

PKG="$HL_TMP/pkg"
mkdir -p "$PKG"
t0=$SECONDS
# cpack builds what is out of date first (nothing, after a full build).
(cd "$BUILD" && cpack -G DEB -B "$PKG") >"$PKG/cpack.log" 2>&1 || hl_fail "cpack failed: $(tail -n 20 "$PKG/cpack.log")"
DEB="$PKG/hopless_${VERSION}_$ARCH.deb"
[[ -f "$DEB" ]] || hl_fail "cpack made no $DEB: $(ls "$PKG")"
cmake --build "$BUILD" --target hoplessd_next hopless_cli_next >"$PKG/next.log" 2>&1 ||
    hl_fail "building the +next binaries failed: $(tail -n 20 "$PKG/next.log")"
# The next package: the first one's tree with the relinked binaries (stripped,
# as cpack strips) and the higher version.
dpkg-deb -R "$DEB" "$PKG/next" || hl_fail "dpkg-deb -R $DEB"
for b in hoplessd hopless; do
    strip -o "$PKG/next/usr/sbin/$b" "$BUILD/next/$b" || hl_fail "strip $BUILD/next/$b"
done
sed -i "s/^Version: .*/Version: $NEXT/" "$PKG/next/DEBIAN/control"
(cd "$PKG/next" && find usr -type f -exec md5sum {} + | sort -k 2 >DEBIAN/md5sums.new &&
    grep -v ' usr/' DEBIAN/md5sums >>DEBIAN/md5sums.new; mv DEBIAN/md5sums.new DEBIAN/md5sums)
NEXT_DEB="$PKG/hopless_${NEXT}_$ARCH.deb"
dpkg-deb --root-owner-group -b "$PKG/next" "$NEXT_DEB" >/dev/null || hl_fail "dpkg-deb -b $NEXT_DEB"
hl_info "packages: $(basename "$DEB"), $(basename "$NEXT_DEB") ($((SECONDS - t0))s)"

# ------------------------------------------------------------------ helpers

# dpkg_do ARGS...: dpkg, output kept in the log; a failure fails the test with it.
dpkg_do() {
    local out
    out="$(dpkg --force-confold "$@" 2>&1)" || hl_fail "dpkg $* failed: $out"
    printf '%s\n' "$out" >>"$HL_TMP/dpkg.log"
    hl_assert_not_contains "$out" "warning" "dpkg $*"
}

install_pkg() {  # DEB: installs it; the test's end purges it
    hl_defer pkg_purge
    dpkg_do -i "$1"
    touch "$MARK"
}

# datapath_env NAME: test env, one nginx backend on loopback, and
# /etc/hopless/hopless.yaml edited (as an operator would) to serve service
# web at $VIP:$VPORT from it, pinned under $PIN, metrics on $MPORT.
datapath_env() {
    hl_test_env "$1"
    BPORT="$(hl_free_port)" || hl_fail "no free port"
    BACKEND="127.0.0.$((RANDOM % 200 + 30)):$BPORT"
    hl_nginx_start NGX "$DIR/nginx" "$BACKEND=pkg-backend"
    hl_wait_http "http://$BACKEND/" pkg-backend
    VIP="127.255.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))"
    VPORT=80
    cat >/etc/hopless/hopless.yaml <<EOF
pin_dir: $PIN
metrics: { listen: "127.0.0.1:$MPORT" }
attach:
  - { cgroup: "$CG", namespace: default }
services:
  - name: web
    vip: $VIP
    port: $VPORT
    backends: [ { address: ${BACKEND%:*}, port: $BPORT } ]
EOF
    cp /etc/hopless/hopless.yaml "$DIR/edited.yaml"
}

# start_installed LOG: hoplessd from /usr/sbin with the installed config, as
# the unit starts it (systemd would; there is none here).
start_installed() {
    HOPLESSD=/usr/sbin/hoplessd hl_daemon_start /etc/hopless/hopless.yaml "$PIN" "$1"
}

# man_page SECTION NAME: the page man finds by name, rendered from its file
# (`man -l` saves no cat page in /var/cache/man, which purge could not remove).
man_page() {
    local f
    f="$(man -w "$1" "$2" 2>&1)" || hl_fail "man -w $1 $2: $f"
    MANWIDTH=80 man -l "$f" 2>&1
}

dial() { hl_in_cgroup "$CG" "${HL_CURL[@]}" "http://$VIP:$VPORT/" || echo "ERR$?"; }

# connect_prog_id: the program id the pinned connect4 link of the test's cgroup runs.
connect_prog_id() {
    bpftool -j link show pinned "$PIN/links/$(hl_cgroup_id "$CG")/hl_connect4" 2>/dev/null | jq -r '.prog_id'
}

# ------------------------------------------------------------------ tests

t_contents() {
    local info files
    info="$(dpkg-deb -I "$DEB")"
    hl_assert_contains "$info" "Package: hopless" "control"
    hl_assert_contains "$info" "Version: $VERSION" "control"
    # Computed by dpkg-shlibdeps: the package of every library the two
    # binaries link is in Depends, by its Debian name.
    # (The package of a library: dpkg -S of the path the loader finds; a
    # package name may carry a suffix in Depends, libspdlog1.10-fmt9.)
    local depends lib path dep
    depends="$(grep '^ Depends:' <<<"$info")"
    hl_assert_contains "$depends" "libbpf1" "Depends"
    for lib in $(objdump -p "$BUILD/hoplessd" "$BUILD/hopless" "$BUILD/hopless-etcd.so" | awk '$1 == "NEEDED" { print $2 }' | sort -u); do
        # (ldd names the loader by its path alone: "/lib64/ld-linux-x86-64.so.2 (0x...)".)
        path="$(ldd "$BUILD/hoplessd" "$BUILD/hopless" "$BUILD/hopless-etcd.so" |
            awk -v l="$lib" '$1 == l && $2 == "=>" { print $3; exit } $1 ~ ("/" l "$") { print $1; exit }')"
        [[ -n $path ]] || hl_fail "ldd does not say where $lib is"
        dep="$(dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null)" || hl_fail "no package has $lib ($path)"
        hl_assert_contains "$depends" " ${dep%%:*}" "Depends (for $lib)"
    done
    hl_assert_eq "/etc/hopless/hopless.yaml" "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)" "conffiles"
    local s
    for s in postinst prerm postrm; do hl_assert_contains "$info" " $s " "maintainer scripts"; done
    files="$(dpkg-deb -c "$DEB" | awk '{ print $NF }')"
    local f
    for f in ./usr/sbin/hoplessd ./usr/sbin/hopless ./lib/systemd/system/hopless.service \
        ./etc/hopless/hopless.yaml ./usr/share/bash-completion/completions/hopless ./usr/lib/hopless/hopless-etcd.so \
        ./usr/share/man/man8/hoplessd.8.gz ./usr/share/man/man8/hopless.8.gz ./usr/share/man/man5/hopless.yaml.5.gz; do
        grep -qx -- "$f" <<<"$files" || hl_fail "$f is not in the package: $files"
    done
    # Whatever hooks.d files the OCI hook work ships.
    for f in "$HL_REPO"/packaging/oci-hooks.d/*.json; do
        [[ -e "$f" ]] || continue
        grep -qx -- "./usr/share/containers/oci/hooks.d/$(basename "$f")" <<<"$files" ||
            hl_fail "$(basename "$f") is not in the package's hooks.d"
    done
    hl_assert_eq "Version: $NEXT" "$(dpkg-deb -f "$NEXT_DEB" Version | sed 's/^/Version: /')" "the next package's version"
}

t_install() {
    hl_test_env install
    install_pkg "$DEB"
    hl_assert_eq installed "$(pkg_state)" "package state"
    local f
    for f in /usr/sbin/hoplessd /usr/sbin/hopless; do [[ -x "$f" ]] || hl_fail "$f is not installed"; done
    for f in /lib/systemd/system/hopless.service /etc/hopless/hopless.yaml \
        /usr/share/bash-completion/completions/hopless /usr/share/man/man8/hopless.8.gz; do
        [[ -f "$f" ]] || hl_fail "$f is not installed"
    done
    hl_assert_eq "hoplessd $VERSION" "$(/usr/sbin/hoplessd --version)" "hoplessd --version"
    hl_assert_eq "hopless $VERSION" "$(/usr/sbin/hopless --version)" "hopless --version"
    hl_assert_eq "$VERSION" "$(dpkg-query -W -f='${Version}' hopless)" "the package's version"
    [[ -d /var/lib/hopless && "$(stat -c %a /var/lib/hopless)" == 700 ]] || hl_fail "/var/lib/hopless is not 0700"
    # man finds the pages by name.
    hl_assert_contains "$(man_page 8 hopless)" "hopless endpoint register" "man 8 hopless"
    hl_assert_contains "$(man_page 5 hopless.yaml)" "max_services" "man 5 hopless.yaml"
    hl_assert_contains "$(man_page 8 hoplessd)" "--cleanup" "man hoplessd"
    hl_assert_eq "complete -F _hopless hopless" \
        "$(bash -c 'source /usr/share/bash-completion/completions/hopless && complete -p hopless')" "complete -p"
    # The installed unit, with its binary in place. (--man=no: verify would
    # run man, which saves cat pages in /var/cache/man that no purge removes;
    # the pages of Documentation= are found by man -w instead.)
    local out page
    out="$(systemd-analyze verify --man=no /lib/systemd/system/hopless.service 2>&1)" ||
        hl_fail "systemd-analyze verify: $out"
    [[ -z "$out" ]] || hl_fail "systemd-analyze verify warns: $out"
    for page in $(sed -n 's/^Documentation=//p' /lib/systemd/system/hopless.service); do
        page="${page#man:}"
        man -w "${page%(*}" >/dev/null 2>&1 || hl_fail "Documentation=$page: man -w finds no page"
    done
    # Not enabled by the install: the shipped config serves nothing.
    [[ -z "$(find /etc/systemd/system -name 'hopless*' 2>/dev/null)" ]] ||
        hl_fail "the install enabled the unit: $(find /etc/systemd/system -name 'hopless*')"
    # The shipped config loads (pinned under the test's pin dir) and serves nothing.
    HOPLESSD=/usr/sbin/hoplessd hl_daemon_start /etc/hopless/hopless.yaml "$PIN" "$LOG"
    hl_assert_contains "$(cat "$LOG")" "0 services" "the daemon's log with the shipped config"
    hl_assert_eq "no services" "$(/usr/sbin/hopless --pin-dir "$PIN" service list)" "hopless service list"
    hl_stop_pid "$HL_DAEMON_PID"
    # etcd lives in a module the daemon loads only when etcd: is configured:
    # the daemon itself maps no gRPC, and the installed one finds its module.
    if ldd /usr/sbin/hoplessd | grep -Eq 'grpc|protobuf'; then hl_fail "hoplessd links gRPC: $(ldd /usr/sbin/hoplessd)"; fi
    [[ -f /usr/lib/hopless/hopless-etcd.so ]] || hl_fail "the etcd module is not installed"
    local eps cfg="$HL_TMP/etcd.yaml"
    hl_etcd_start eps pkg
    printf 'etcd:\n  endpoints: [ "%s" ]\n  prefix: /hl-pkg-%s\n  host: pkg-host\nservices: []\n' "$eps" "$HL_ID" >"$cfg"
    : >"$LOG"
    HOPLESSD=/usr/sbin/hoplessd hl_daemon_start "$cfg" "$PIN" "$LOG"
    local health
    health="$("${HL_CURL[@]}" --unix-socket "$HL_SOCK" http://localhost/v1/health)"
    hl_assert_eq "pkg-host true" "$(jq -r '"\(.etcd.host) \(.etcd.up)"' <<<"$health")" "the installed daemon's etcd (/v1/health)"
    hl_stop_pid "$HL_DAEMON_PID"
    # Without its module, etcd: is refused with what is missing.
    local out
    if out="$(HOPLESS_ETCD_MODULE=/nonexistent/hopless-etcd.so timeout 20 /usr/sbin/hoplessd --config "$cfg" \
        --pin-dir "$PIN" --socket "$HL_TMP/nomod.sock" --state-dir "$HL_TMP/nomod" 2>&1)"; then
        hl_fail "hoplessd started with etcd: and no module"
    fi
    hl_assert_contains "$out" "module hopless-etcd.so that talks to it is not installed" "the error without the module"
}

t_upgrade() {
    install_pkg "$DEB"
    datapath_env upgrade
    start_installed "$LOG"
    hl_assert_eq pkg-backend "$(dial)" "a dial before the upgrade"
    local before_prog
    before_prog="$(connect_prog_id)"
    [[ "$before_prog" =~ ^[0-9]+$ ]] || hl_fail "no pinned connect4 link: '$before_prog'"

    # A client in the cgroup dials the VIP every 20 ms until told to stop.
    local clog="$DIR/client.log"
    # shellcheck disable=SC2016  # expanded by the client's bash
    hl_in_cgroup "$CG" bash -c 'for ((i = 0; i < 3000; i++)); do
            [[ -e "$1" ]] && exit 0
            out="$(curl -s --connect-timeout 1 --max-time 2 "http://$0/")" || out="ERR$?"
            echo "$out"; sleep 0.02
        done' "$VIP:$VPORT" "$DIR/stop" >"$clog" 2>&1 &
    hl_defer hl_stop_pid $!
    hl_defer touch "$DIR/stop"
    _dials() { (($(wc -l <"$clog") >= $1)); }
    hl_wait_for 10 _dials 10 || hl_fail "the client does not dial: $(tail -n 3 "$clog")"

    dpkg_do -i "$NEXT_DEB"
    local at_upgrade
    at_upgrade=$(wc -l <"$clog")
    hl_assert_eq "$NEXT" "$(dpkg-query -W -f='${Version}' hopless)" "the package's version after the upgrade"
    hl_assert_eq "hoplessd $NEXT" "$(/usr/sbin/hoplessd --version)" "hoplessd --version after the upgrade"
    hl_assert_eq "hopless $NEXT" "$(/usr/sbin/hopless --version)" "hopless --version after the upgrade"
    cmp -s "$DIR/edited.yaml" /etc/hopless/hopless.yaml || hl_fail "the upgrade changed the edited config"

    # What systemd's try-restart does: stop, start the new binary.
    hl_stop_pid "$HL_DAEMON_PID"
    start_installed "$LOG.next"
    hl_assert_contains "$(cat "$LOG.next")" "adopted 1 services from pinned maps" "the new daemon's log"
    local after_prog
    after_prog="$(connect_prog_id)"
    [[ "$after_prog" =~ ^[0-9]+$ && "$after_prog" != "$before_prog" ]] ||
        hl_fail "the pinned link still runs program $before_prog (now '$after_prog')"
    hl_wait_for 10 _dials $((at_upgrade + 20)) || hl_fail "the client stopped dialing: $(tail -n 3 "$clog")"
    touch "$DIR/stop"
    local total bad
    total=$(wc -l <"$clog")
    bad=$(grep -vc '^pkg-backend$' "$clog" || true)
    hl_log "client: $total dials through the upgrade and the restart, $bad failed; connect4 program $before_prog -> $after_prog"
    hl_assert_eq 0 "$bad" "failed dials (e.g. $(grep -v '^pkg-backend$' "$clog" | head -n 3 | tr '\n' ' '))"
}

t_remove() {
    install_pkg "$DEB"
    datapath_env remove
    start_installed "$LOG"
    hl_assert_eq pkg-backend "$(dial)" "a dial with the daemon up"
    # What the unit's stop in prerm does under systemd: SIGTERM.
    hl_stop_pid "$HL_DAEMON_PID"

    dpkg_do -r hopless
    hl_assert_eq config-files "$(pkg_state)" "package state after remove"
    local f
    for f in /usr/sbin/hoplessd /usr/sbin/hopless /lib/systemd/system/hopless.service \
        /usr/share/bash-completion/completions/hopless /usr/share/man/man8/hopless.8.gz; do
        [[ ! -e "$f" ]] || hl_fail "$f is left after remove"
    done
    cmp -s "$DIR/edited.yaml" /etc/hopless/hopless.yaml || hl_fail "remove did not keep the config"
    [[ -d /var/lib/hopless ]] || hl_fail "remove did not keep /var/lib/hopless"
    [[ -e "$PIN/hl_svc_v1" ]] || hl_fail "remove did not keep the pinned datapath"
    hl_assert_eq pkg-backend "$(dial)" "a dial after remove (no daemon, no package)"

    dpkg_do -P hopless
    hl_assert_eq not-installed "$(pkg_state)" "package state after purge"
    [[ ! -e "$PIN" ]] || hl_fail "purge left the pinned datapath: $(find "$PIN" | head)"
    hl_assert_contains "$(dial)" "ERR" "a dial after purge (not redirected)"
    local after
    after="$(leftovers)"
    [[ "$after" == "$BEFORE" ]] || hl_fail "left after purge: $(comm -13 <(echo "$BEFORE") <(echo "$after") | tr '\n' ' ')"
}

hl_run_selected \
    "contents:t_contents" \
    "install:t_install" \
    "upgrade:t_upgrade" \
    "remove:t_remove" \
    -- "$@"
hl_summary
