#!/usr/bin/env bash
# Run every test program: the unit tests BUILD_DIR/tests/test_* and the integration scripts
# tests/integration/*.sh (against $CKPTD, default BUILD_DIR/ckptd). Each program prints
# `ok - ...` / `not ok - ...` lines; this script counts them across all programs, shows the
# failing lines, and ends with exactly `N passed, N failed`. Exit 0 iff nothing failed.
# Usage: tests/run.sh [BUILD_DIR]   (VERBOSE=1 shows every line; TEST_TIMEOUT overrides 600 s;
# each program's full output goes to BUILD_DIR/test-logs/, or TEST_LOG_DIR)

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
CKPTD=${CKPTD:-$BUILD_DIR/ckptd}
case $CKPTD in /*) ;; *) CKPTD=$PWD/$CKPTD ;; esac
export CKPTD BUILD_DIR
LIMIT=${TEST_TIMEOUT:-600}
# Each program's full output (diagnostics included) is kept here for a failure's post-mortem.
LOG_DIR=${TEST_LOG_DIR:-$BUILD_DIR/test-logs}
mkdir -p "$LOG_DIR" 2>/dev/null || LOG_DIR=
VERBOSE=${VERBOSE:-0}

passed=0
failed=0
failures=()
out=$(mktemp "${TMPDIR:-/tmp}/ckptd-run.XXXXXX")
trap 'rm -f "$out"' EXIT

progs=()
for t in "$BUILD_DIR"/tests/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    case $t in *.o | *.d) continue ;; esac
    progs+=("$t")
done
for t in "$ROOT"/tests/integration/*.sh; do
    [ -f "$t" ] && progs+=("$t")
done

for prog in "${progs[@]}"; do
    name=${prog#"$ROOT"/}
    start=$SECONDS
    case $prog in
    *.sh) timeout --kill-after=10 "$LIMIT" bash "$prog" >"$out" 2>&1 </dev/null ;;
    *) (cd "$ROOT" && timeout --kill-after=10 "$LIMIT" "$prog" >"$out" 2>&1 </dev/null) ;;
    esac
    rc=$?
    p=$(grep -Ec '^ok( |$)' "$out")
    f=$(grep -Ec '^not ok( |$)' "$out")
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$VERBOSE" = 1 ] && sed "s|^|$name: |" "$out"
    while IFS= read -r l; do
        failures+=("$name: $l")
    done < <(grep -E '^not ok( |$)' "$out")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        failed=$((failed + 1))
        failures+=("$name: not ok - finishes within ${LIMIT}s (timed out)")
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        failed=$((failed + 1))
        failures+=("$name: not ok - exits 0 (exit status $rc, no failing check printed)")
        [ "$VERBOSE" = 1 ] || tail -n 5 "$out" | sed "s|^|# $name: |"
    fi
    log=
    if [ -n "$LOG_DIR" ]; then
        log=$LOG_DIR/$(basename "$prog").log
        cp "$out" "$log"
    fi
    echo "# $name: $p passed, $f failed, exit $rc, $((SECONDS - start))s${log:+ (log: ${log#"$ROOT"/})}"
done

if [ "${#failures[@]}" -gt 0 ]; then
    echo "# failing checks:"
    printf '%s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
