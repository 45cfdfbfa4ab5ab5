#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs
# every test (unit, integration through the real kernel, end to end), then
# unit, integration and e2e again with AddressSanitizer + UBSan builds, then a
# short fuzz run.
#   sudo tools/test.sh            everything
#   HOPLESS_SKIP_SANITIZE=1 / HOPLESS_SKIP_FUZZ=1 to leave those parts out
# Under HOPLESS_REQUIRE_BPF=1 (CI) a test that would skip for lack of root or
# BPF fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

if [[ $EUID -ne 0 ]]; then
  if [[ "${HOPLESS_REQUIRE_BPF:-0}" == 1 ]]; then
    echo "test.sh: HOPLESS_REQUIRE_BPF=1 but not root: the kernel tests cannot run" >&2
    exit 1
  fi
  echo "test.sh: not root: the integration and e2e tests will skip" >&2
else
  bash tools/install-deps.sh
fi

step() { printf '\n==== %s ====\n' "$*"; }

# ccache (installed by install-deps) keeps a second run of the same sources,
# in any clone, from compiling them again: CI's clone on this machine too.
# NOHASHDIR: with -g, ccache otherwise hashes the build directory, so a clone
# at another path never hits (debug info then names the first clone's path).
LAUNCH=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$ROOT" CCACHE_DIR="${CCACHE_DIR:-/var/cache/hopless-ccache}" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  export CCACHE_NOHASHDIR=1
  LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

step "build (RelWithDebInfo) into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCH[@]}" >/dev/null
cmake --build build -j"$JOBS"

step "tests: unit, integration, e2e (ctest)"
(cd build && ctest --output-on-failure --timeout 900)

if [[ "${HOPLESS_SKIP_SANITIZE:-0}" != 1 ]]; then
  # Unit, integration, etcd and the daemon/datapath end-to-end tests again, every
  # binary built with AddressSanitizer + UBSan. A report from any process
  # (hoplessd too, whose stderr the tests keep in temp logs) lands in
  # $ASAN_DIR and fails this step. (The reliability load test is left out:
  # it measures under load, which the sanitizers slow down; so is the
  # package test: a package of sanitizer builds is no package; and the test
  # of the etcd bash helpers, which runs no binary of ours.)
  step "unit, integration and e2e tests under AddressSanitizer + UBSan (build-asan/)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHOPLESS_SANITIZE=ON "${LAUNCH[@]}" >/dev/null
  cmake --build build-asan -j"$JOBS" --target unit_tests integration_tests etcd_tests hoplessd hopless_cli prom_check man
  ASAN_DIR=$(mktemp -d /tmp/hopless-asan.XXXXXX)
  rc=0
  # HOPLESS_SANITIZER_PASS: a test file may run a subset here (test_etcd.sh
  # runs the tests that cover every path of its code, not all of them again;
  # the scale cases of test_datapath.sh and test_oci.sh run smaller).
  (cd build-asan &&
    HOPLESS_SANITIZER_PASS=1 ASAN_OPTIONS="detect_leaks=1:log_path=$ASAN_DIR/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$ASAN_DIR/ubsan" \
      ctest --output-on-failure --timeout 900 -E 'reliability|package|etcd_lib') || rc=$?
  if compgen -G "$ASAN_DIR/*" >/dev/null; then
    echo "sanitizer reports:" >&2
    head -n 40 "$ASAN_DIR"/* >&2
    rc=1
  fi
  rm -rf "$ASAN_DIR"
  ((rc == 0)) || { echo "test.sh: tests under the sanitizers failed" >&2; exit 1; }
fi

if [[ "${HOPLESS_SKIP_FUZZ:-0}" != 1 && -x tests/fuzz/run.sh ]]; then
  step "fuzz targets, short run"
  FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash tests/fuzz/run.sh
fi
step "all tests passed"
