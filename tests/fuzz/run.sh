#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz and
# runs each for a bounded time from the seed corpus.
#
#   tests/fuzz/run.sh            # 30 s per target
#   tests/fuzz/run.sh 20         # CI's short run
#   tests/fuzz/run.sh 3600 fuzz_config    # a long run of one target
#   JOBS=2 tests/fuzz/run.sh 600          # two fuzzing processes per target (-fork=2)
#
# No root needed. Seeds: tests/fuzz/corpus/<corpus>/ (read only); what the
# fuzzer finds grows build-fuzz/corpus/<target>/; crashes, leaks and timeouts
# land in build-fuzz/artifacts/ and make the script exit 1. Reproduce one with
#   build-fuzz/<target> build-fuzz/artifacts/<file>
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SECONDS_PER_TARGET=${1:-${FUZZ_SECONDS:-30}}
shift || true
BUILD=${FUZZ_BUILD:-$REPO/build-fuzz}
JOBS=${JOBS:-1}
[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ && $SECONDS_PER_TARGET -ge 1 && $SECONDS_PER_TARGET -le 86400 ]] ||
    { echo "fuzz/run.sh: seconds must be 1-86400" >&2; exit 2; }

CXX=${FUZZ_CXX:-$(command -v clang++ || true)}
CC=${FUZZ_CC:-$(command -v clang || true)}
[[ -n $CXX && -n $CC ]] || { echo "fuzz/run.sh: clang/clang++ not found (tools/install-deps.sh)" >&2; exit 1; }

mkdir -p "$BUILD"
LAUNCH=()
if command -v ccache >/dev/null 2>&1; then  # as tools/test.sh: hits from a clone at any path
    LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR="$REPO" CCACHE_DIR="${CCACHE_DIR:-/var/cache/hopless-ccache}" CCACHE_NOHASHDIR=1
fi
cmake -S "$HERE" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" -DHOPLESS_FUZZ=ON "${LAUNCH[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD/cmake.log" 2>&1 || { cat "$BUILD/cmake.log" >&2; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" >>"$BUILD/cmake.log" 2>&1 || { tail -50 "$BUILD/cmake.log" >&2; exit 1; }

# target -> seed corpus directory (under tests/fuzz/corpus), dictionary, longest input
declare -A CORPUS=([fuzz_config]=config [fuzz_config_apply]=config [fuzz_cli_args]=cli
                   [fuzz_control_http]=control_http [fuzz_registration_json]=registration [fuzz_dns_responder]=dns
                   [fuzz_etcd_layout]=etcd [fuzz_oci_state]=oci)
declare -A DICT=([fuzz_config]=config.dict [fuzz_config_apply]=config.dict
                 [fuzz_control_http]=http.dict [fuzz_registration_json]=json.dict [fuzz_oci_state]=oci.dict
                 [fuzz_etcd_layout]=json.dict)
declare -A MAXLEN=([fuzz_control_http]=20000)  # past the 8 KiB header limit
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(fuzz_config fuzz_config_apply fuzz_cli_args fuzz_control_http fuzz_registration_json
                               fuzz_dns_responder fuzz_etcd_layout fuzz_oci_state)

mkdir -p "$BUILD/artifacts"
failed=0
for t in "${TARGETS[@]}"; do
    [[ -x $BUILD/$t ]] || { echo "fuzz/run.sh: no target $t" >&2; failed=1; continue; }
    work=$BUILD/corpus/$t
    mkdir -p "$work"
    seeds=$HERE/corpus/${CORPUS[$t]:-config}
    dict=()
    [[ -n ${DICT[$t]:-} && -f $HERE/${DICT[$t]} ]] && dict=(-dict="$HERE/${DICT[$t]}")
    par=()
    ((JOBS > 1)) && par=(-fork="$JOBS" -ignore_crashes=0)
    echo "== $t: ${SECONDS_PER_TARGET}s, seeds $seeds"
    # -timeout: a single input slower than 10 s is a finding (a config is small).
    if ! "$BUILD/$t" "$work" "$seeds" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
        -rss_limit_mb=2048 -max_len="${MAXLEN[$t]:-8192}" "${par[@]}" -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/$t-" 2>"$BUILD/$t.log"; then
        failed=1
        echo "FAIL $t: see $BUILD/$t.log and $BUILD/artifacts/" >&2
        grep -E 'ERROR|SUMMARY|fuzz_config|Test unit written' "$BUILD/$t.log" | head -20 >&2 || true
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$BUILD/$t.log" | tr '\n' ' '
        echo
        echo "ok $t: corpus $(ls "$work" | wc -l) inputs"
    fi
done
exit $failed
