#!/usr/bin/env bash
# Every fuzz corpus (tests/fuzz/corpus/NAME) replays cleanly through its harness, built with the
# ordinary compiler and tests/fuzz/replay.c by `make fuzz-replay` (tests/mk/fuzz.mk) - with SAN=1's
# sanitizers when BUILD_DIR is a build-san tree. Each replayer prints
# `ok - NAME: N inputs replayed`, or one `not ok` line per input that crashes, trips a sanitizer,
# breaks a property or hangs. Needs no clang: `make fuzz` is the one that fuzzes.
. "$(dirname "$0")/../lib/harness.sh"

BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
BUILD_DIR=${BUILD_DIR%/}
case $BUILD_DIR in
"$HARNESS_ROOT/build") make_args=() ;;
"$HARNESS_ROOT/build-san") make_args=(SAN=1) ;;
*build-san) make_args=(SAN=1 "BUILD=$BUILD_DIR") ;;
*) make_args=("BUILD=$BUILD_DIR") ;;
esac
CORPORA=$HARNESS_ROOT/tests/fuzz/corpus
REPLAY=$BUILD_DIR/fuzz-replay

if ! make -s -C "$HARNESS_ROOT" "${make_args[@]}" fuzz-replay >"$WORK/make.log" 2>&1; then
    bail "make fuzz-replay builds the replayers" "$(tail -n 20 "$WORK/make.log")"
fi

names=()
for src in "$HARNESS_ROOT"/tests/fuzz/fuzz_*.c; do
    names+=("$(basename "$src" .c)")
done
check "there are fuzz harnesses to replay" [ "${#names[@]}" -gt 0 ]

for name in "${names[@]}"; do
    if [ ! -d "$CORPORA/$name" ]; then
        fail "$name has a seed corpus in tests/fuzz/corpus/$name"
        continue
    fi
    # The replayer prints its own ok / not ok lines; its exit status says whether all passed.
    if ! "$REPLAY/$name" "$CORPORA/$name"; then
        T_FAIL=$((T_FAIL + 1))
    fi
done

for dir in "$CORPORA"/*/; do
    name=$(basename "$dir")
    [ -f "$HARNESS_ROOT/tests/fuzz/$name.c" ] ||
        fail "corpus tests/fuzz/corpus/$name belongs to a harness" "no tests/fuzz/$name.c"
done
