#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs
# every test (unit, integration through the real kernel, end to end), then
# the unit tests again under AddressSanitizer + UBSan, then a short fuzz run.
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

step "build (RelWithDebInfo) into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

step "tests: unit, integration, e2e (ctest)"
(cd build && ctest --output-on-failure --timeout 900)

if [[ "${HOPLESS_SKIP_SANITIZE:-0}" != 1 ]]; then
  step "unit tests under AddressSanitizer + UBSan (build-asan/)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHOPLESS_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$JOBS" --target unit_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build-asan/tests/unit_tests
fi

if [[ "${HOPLESS_SKIP_FUZZ:-0}" != 1 && -x tests/fuzz/run.sh ]]; then
  step "fuzz targets, short run"
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash tests/fuzz/run.sh
fi
step "all tests passed"
