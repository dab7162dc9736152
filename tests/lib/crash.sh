# shellcheck shell=bash
# Helpers for the crash and fault-injection tests (tests/integration/72_..78_*.sh). Source it after
# harness.sh. It finds python3 and tests/lib/crashkit.py (load generator and invariant checker),
# the failpoint build of the daemon, and turns crashkit's verdicts into ok/not ok lines.

BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
# The system python3 when there is one: version-manager shims can take a second to start.
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
CRASHKIT=$HARNESS_ROOT/tests/lib/crashkit.py
# The failpoint build next to the daemon under test (build/ckptd-fp, build-san/ckptd-fp).
CKPTD_FP=${CKPTD_FP:-$BUILD_DIR/ckptd-fp}

# need_python: bail when python3 cannot run crashkit.py.
need_python()
{
    "$PYTHON" -c 'import sqlite3, hashlib' 2>/dev/null ||
        bail "python3 with the sqlite3 module is available ($PYTHON)"
}

# now_ms_int: milliseconds since the epoch (integer).
now_ms_int()
{
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# start_timed DIR [ARGS...]: start_ckptd_on, and set READY_MS to the milliseconds it took from
# launch to the ready line (the harness polls every 0.1 s, so this is up to 100 ms late).
start_timed()
{
    local t0 r
    t0=$(now_ms_int)
    start_ckptd_on "$@"
    r=$?
    READY_MS=$(($(now_ms_int) - t0))
    return $r
}

# kit ARGS...: run crashkit.py.
kit()
{
    "$PYTHON" "$CRASHKIT" "$@"
}

# What the client knows, for verify_state. The state lives in $CRASH_STATE (a crashkit STATE file
# that verify keeps up to date); notes made here are handed to the next verify. expect_reset
# starts over; expect_must ID SHA SIZE (answered 2xx); expect_gone ID (answered 204);
# expect_content SHA SIZE (sent, answer unknown or refused); expect_corrupt ID (damaged on
# purpose: it must be flagged corrupt).
CRASH_STATE=$WORK/crash-state.json
expect_reset()
{
    rm -f "$CRASH_STATE"
    EXP_ARGS=()
}
expect_reset
expect_must()
{
    EXP_ARGS+=(--must "$1" "$2" "$3")
}
expect_gone()
{
    EXP_ARGS+=(--gone "$1")
}
expect_content()
{
    EXP_ARGS+=(--content "$1" "$2")
}
expect_corrupt()
{
    EXP_ARGS+=(--corrupt "$1")
}

# verify_state LABEL [VERIFY ARGS...]: check the invariants (crashkit verify) against the current
# daemon and $DATA, one check per invariant prefixed with LABEL (with VERIFY_COMPACT=1, one ok
# line for all of them when they all hold, and a not ok line per invariant that fails). Sets
# VERIFY_FAILS (count).
verify_state()
{
    local label=$1 out=$WORK/verify.out kind name detail npass=0 what=
    shift
    VERIFY_FAILS=0
    if ! kit verify "$CRASH_STATE" --base "$BASE" --data "$DATA" "${EXP_ARGS[@]}" "$@" >"$out" \
        2>"$WORK/verify.err"; then
        fail "$label: the invariant checker ran" "$(tail -n 5 "$WORK/verify.err")"
        VERIFY_FAILS=1
        return 0
    fi
    EXP_ARGS=()
    while IFS=$'\t' read -r kind name detail; do
        case $kind in
        PASS)
            npass=$((npass + 1))
            [ "${VERIFY_COMPACT:-0}" = 1 ] || ok "$label: $name"
            case $name in
            */healthz*) what="$what, /healthz as expected" ;;
            *descriptors*) what="$what, fds at baseline" ;;
            esac
            ;;
        FAIL)
            fail "$label: $name" "$detail"
            VERIFY_FAILS=$((VERIFY_FAILS + 1))
            ;;
        INFO) [ "${VERIFY_COMPACT:-0}" = 1 ] || diag "$label: $name" ;;
        esac
    done <"$out"
    if [ "$npass" = 0 ] && [ "$VERIFY_FAILS" = 0 ]; then
        fail "$label: the invariant checker printed verdicts" "$(tail -n 5 "$WORK/verify.err")"
        VERIFY_FAILS=1
    elif [ "${VERIFY_COMPACT:-0}" = 1 ] && [ "$VERIFY_FAILS" = 0 ]; then
        ok "$label: all $npass invariants hold (acknowledged data intact, nothing else visible, tmp empty, blobs = rows, quarantine whole, integrity_check ok$what)"
    fi
    return 0
}

# running PID: our child PID has not exited yet. A builtin test with no process to start; an
# unreaped child's PID cannot be reused, so this is safe where signalling a stale PID is not.
running()
{
    local j
    j=$(jobs -rp)
    [[ $'\n'$j$'\n' == *$'\n'$1$'\n'* ]]
}

# reap PID SECONDS: wait (polling every 20 ms) up to SECONDS for our child PID to exit, then
# SIGKILL it if needed (safe_kill) and reap it. Sets EXIT_RC and TIMED_OUT like wait_exit.
reap()
{
    local pid=$1 i
    TIMED_OUT=0
    for ((i = 0; i < $2 * 50; i++)); do
        running "$pid" || break
        sleep 0.02
    done
    if running "$pid"; then
        TIMED_OUT=1
        safe_kill KILL "$pid"
    fi
    wait "$pid" 2>/dev/null
    EXIT_RC=$?
}

# kill9_now: SIGKILL the current daemon (only if it is still ours) and reap it at once.
kill9_now()
{
    {
        safe_kill KILL "$CKPTD_PID" "$CKPTD" && wait "$CKPTD_PID"
    } 2>/dev/null
    return 0
}

# fd_count PID: number of open file descriptors of PID.
fd_count()
{
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# failpoint_reached NAME [ERRFILE]: the daemon's stderr says it reached failpoint NAME.
failpoint_reached()
{
    grep -q "failpoint $1 reached" "${2:-$CKPTD_ERR}"
}

# quarantined SHA: a file for blob SHA is in DATA/quarantine/.
quarantined()
{
    find "$DATA/quarantine" -maxdepth 1 -name "$1.*" 2>/dev/null | grep -q .
}

# upload_bg NAME RUN QUERY FILE [CURL ARGS...]: upload in the background; the status, the client's
# local port and the body land in $WORK/NAME.{status,json}. Sets BG_PID.
upload_bg()
{
    local name=$1 run=$2 q=$3 file=$4
    shift 4
    curl -s -o "$WORK/$name.json" -w '%{http_code} %{local_port}' --max-time 60 -T "$file" "$@" \
        "$BASE/v1/runs/$run/checkpoints${q:+?$q}" >"$WORK/$name.status" 2>/dev/null &
    BG_PID=$!
}
