#!/usr/bin/env bash
# The `make bench` entry point: checks the tools, builds the load program (tests/bench/load.c,
# linked against libckpt) into a temp dir, and runs bench.py, which prints the results table
# and saves it as tests/bench/results/YYYY-MM-DD-<commit>.md. Not part of `make test`.
# Usage: tests/bench/run.sh [BUILD_DIR]   (environment: see the top of bench.py)

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${1:-$ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac

missing=""
for tool in nginx wrk sqlite3 curl openssl python3 cc pkg-config dd split; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "bench: missing tools:$missing (Debian: apt-get install nginx-light wrk sqlite3 ...)" >&2
    exit 1
fi
if ! nginx -V 2>&1 | grep -q -- --with-http_dav_module; then
    echo "bench: this nginx has no WebDAV module (needed for PUT); install nginx-light" >&2
    exit 1
fi
for f in ckptd ckpt libckpt.a; do
    if [ ! -e "$BUILD_DIR/$f" ]; then
        echo "bench: $BUILD_DIR/$f is missing; run make first" >&2
        exit 1
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-bench-load.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# shellcheck disable=SC2046 # pkg-config output is a list of flags
if ! cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla \
    -I"$ROOT/client" -o "$WORK/load" "$ROOT/tests/bench/load.c" "$BUILD_DIR/libckpt.a" \
    $(pkg-config --libs libcurl libcrypto) -lpthread -lm; then
    echo "bench: cannot build the load program" >&2
    exit 1
fi

echo "bench: start $(date -u '+%Y-%m-%dT%H:%M:%SZ')" >&2
start=$(date +%s)
# Debian's python3 first: bench.py needs nothing beyond the standard library.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" "$ROOT/tests/bench/bench.py" "$BUILD_DIR" "$WORK/load"
rc=$?
echo "bench: end $(date -u '+%Y-%m-%dT%H:%M:%SZ'), $(($(date +%s) - start)) s, exit $rc" >&2
exit $rc
