#!/usr/bin/env bash
# End-to-end tests of names (DESIGN.md "Names (DNS)"), as a user runs them.
#
#   sudo HOPLESS=build/hopless bash tests/e2e/test_dns.sh [TEST...]
#
# The last line is "N passed, M failed"; the exit status is non-zero when a
# test failed, 77 when there is no root or BPF here (1 under HOPLESS_REQUIRE_BPF=1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hl_init

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

ALL=(
    "a resolv lines:t_resolv_lines"
    "b resolv errors:t_resolv_errors"
)
hl_run_selected "${ALL[@]}" -- "$@"
hl_summary
