# shellcheck shell=bash
# Helpers for the client tests (tests/integration/9*_*.sh): where the ckpt CLI and the
# build/tests/client_* programs are, running them under $CKPT_WRAPPER (e.g. valgrind), a free
# port, and the fault-injecting proxy tests/lib/cutproxy.py. Source it after harness.sh.

BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
CKPT_BIN=$BUILD_DIR/ckpt
CUTPROXY=$HARNESS_ROOT/tests/lib/cutproxy.py
# The system python3 when there is one: version-manager shims can take a second to start.
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
# The CLI must not pick up the caller's server or token.
unset CKPT_URL CKPT_TOKEN CKPT_CACERT

# need_cli: bail when the ckpt CLI was not built.
need_cli()
{
    [ -x "$CKPT_BIN" ] || bail "ckpt CLI exists at $CKPT_BIN (run make)"
}

# ckpt ARGS...: run the CLI (under $CKPT_WRAPPER when set).
ckpt()
{
    # shellcheck disable=SC2086 # the wrapper is a command line
    ${CKPT_WRAPPER:-} "$CKPT_BIN" "$@"
}

# run_ckpt ARGS...: run the CLI with stdin from /dev/null unless redirected by the caller;
# stdout in $OUT (file), stderr in $ERR (file), exit status in $RC, seconds taken in $SECS.
OUT=$WORK/cli.out
ERR=$WORK/cli.err
run_ckpt()
{
    local t0 t1
    t0=$(date +%s.%N)
    ckpt "$@" >"$OUT" 2>"$ERR"
    RC=$?
    t1=$(date +%s.%N)
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# expect_rc DESC CODE: check the last run_ckpt's exit status; show its stderr when it differs.
expect_rc()
{
    if [ "$RC" = "$2" ]; then
        ok "$1"
    else
        fail "$1" "expected exit $2, got $RC" "stderr: $(head -c 600 "$ERR")" "stdout: $(head -c 300 "$OUT" | tr -d '\0')"
    fi
}

# run_client NAME ARGS...: run $BUILD_DIR/tests/client_NAME, letting its ok/not ok lines through.
# A crash or a non-zero exit without a `not ok` line is reported as a failure here; `not ok`
# lines it printed count as failures of this script too (so it exits non-zero).
run_client()
{
    local name=$1 bin=$BUILD_DIR/tests/client_$1 log=$WORK/client_$1.out rc nfail
    shift
    if [ ! -x "$bin" ]; then
        fail "client_$name is built ($bin; run make unit)"
        return 1
    fi
    # shellcheck disable=SC2086
    ${CKPT_WRAPPER:-} "$bin" "$@" >"$log" 2>"$WORK/client_$name.err" </dev/null
    rc=$?
    cat "$log"
    nfail=$(grep -c '^not ok' "$log")
    if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
        fail "client_$name exits 0" "exit status $rc" "stderr: $(tail -c 1500 "$WORK/client_$name.err")"
    elif [ "$rc" -ne 0 ]; then
        T_FAIL=$((T_FAIL + nfail))
        diag "client_$name exit status $rc" "$(tail -c 1500 "$WORK/client_$name.err")"
    elif [ -s "$WORK/client_$name.err" ]; then
        diag "client_$name stderr: $(head -c 1000 "$WORK/client_$name.err")"
    fi
    return 0
}

# free_port: print a loopback TCP port that was free a moment ago.
free_port()
{
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_proxy UPSTREAM_PORT [cutproxy OPTIONS...]: start cutproxy.py in front of 127.0.0.1:PORT;
# sets PROXY (its URL), PROXY_PID and PROXY_LOG (one line per request and per response).
PROXY_SEQ=0
start_proxy()
{
    local up=$1 pf i
    shift
    PROXY_SEQ=$((PROXY_SEQ + 1))
    pf=$WORK/proxy.$PROXY_SEQ.port
    PROXY_LOG=$WORK/proxy.$PROXY_SEQ.log
    : >"$PROXY_LOG"
    "$PYTHON" "$CUTPROXY" --upstream "127.0.0.1:$up" --port-file "$pf" --log "$PROXY_LOG" "$@" \
        2>"$WORK/proxy.$PROXY_SEQ.err" &
    PROXY_PID=$!
    PROXY=
    for i in $(seq 1 50); do
        if [ -s "$pf" ]; then
            PROXY=http://127.0.0.1:$(cat "$pf")
            return 0
        fi
        is_alive "$PROXY_PID" || break
        sleep 0.1
    done
    diag "cutproxy did not start: $(head -c 600 "$WORK/proxy.$PROXY_SEQ.err")"
    return 1
}

stop_proxy()
{
    # safe_kill (harness.sh): once the proxy has exited its PID may be reused by another
    # process (pid_max is 32768 here), so only signal it while it is still our child.
    [ -n "${PROXY_PID:-}" ] || return 0
    safe_kill TERM "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=
    return 0
}

# blob_requests: the request lines of blob downloads in the proxy log.
blob_requests()
{
    grep -E '^req [0-9]+ GET [^ ]*/blob' "$PROXY_LOG"
}

# flip_byte FILE OFFSET: flip the lowest bit of the byte at OFFSET, in place.
flip_byte()
{
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 1]))
EOF
}

# cli_id: the checkpoint id in the CLI's "pushed checkpoint N of run R" line in $OUT.
cli_id()
{
    sed -nE 's/^pushed checkpoint ([0-9]+) of run .*/\1/p' "$OUT" | head -n 1
}
