#!/usr/bin/env bash
# Hostile HTTP/1.x over raw sockets (tests/hostile/http_hostile.py): smuggling through
# Content-Length + Transfer-Encoding, repeated lengths, whitespace before a colon, obs-fold and NUL
# bytes; unsupported codings; bad chunk sizes and extensions; bodies past --max-upload; oversized
# request lines and headers; control bytes and escapes in paths and queries; absolute-form, HTTP/1.0
# and 0.9; pipelining; every route without a token. Each case prints its own line with the status
# it observed. After all of it: the daemon is alive and healthy, stored exactly what it
# acknowledged (rows counted through the API), left no temp file, and is back to its fd count.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/procstat.sh"
need_daemon_binary

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SUITE=$HARNESS_ROOT/tests/hostile/http_hostile.py
MAX_UPLOAD=65536

# run_suite NAME ARGS...: run the Python suite and pass each of its lines on through ok/fail, so
# the counts at the end include them. (NAME, not ARGS, goes into messages: ARGS may hold a token.)
run_suite()
{
    local name=$1 line finished=0
    shift
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*)
            T_FAIL=$((T_FAIL + 1))
            printf '%s\n' "$line"
            ;;
        "# done") finished=1 ;;
        *) printf '%s\n' "$line" ;;
        esac
    done < <(timeout 120 "$PY" "$SUITE" "$@" 2>&1)
    check_eq "the hostile suite ($name) ran to its end" 1 "$finished"
}

# stored_runs: {"RUN": checkpoints, ...} as the daemon lists them (sorted keys).
stored_runs()
{
    curl -s --max-time 10 ${AUTH:+-H "Authorization: Bearer $AUTH"} "$BASE/v1/runs" |
        jq -S -c '[.runs[] | {(.run): .checkpoints}] | add // {}'
}

# after_checks NAME BASELINE_FDS BASELINE_THREADS STATE_FILE: the daemon survived, answers,
# holds exactly what was acknowledged, and let go of every connection.
after_checks()
{
    local name=$1 fds0=$2 thr0=$3 state=$4 expect actual total
    check "$name: ckptd is still running after the hostile requests" is_alive "$CKPTD_PID"
    http GET /healthz
    expect_status "$name: /healthz answers 200 after the hostile requests" 200
    expect=$(jq -S -c '.runs' "$state" 2>/dev/null)
    actual=$(stored_runs)
    total=$(jq '[.[]] | add // 0' <<<"$actual")
    if [ -n "$expect" ] && [ "$expect" = "$actual" ]; then
        ok "$name: the daemon stores exactly the $total checkpoints it acknowledged with 201 (runs counted via GET /v1/runs)"
    else
        fail "$name: the daemon stores exactly the checkpoints it acknowledged with 201" \
            "acknowledged: $expect" "listed:       $actual"
    fi
    check "$name: DATA/tmp is empty (no temp file left behind)" wait_for 5 tmp_is_empty
    back_to_baseline "$name" "$CKPTD_PID" "$fds0" "$thr0"
    check "$name: ckptd stderr has no sanitizer report" \
        bash -c "! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' '$CKPTD_ERR'"
}

# ---- the main daemon: no tokens, a small --max-upload so oversized bodies are cheap.
start_ckptd --max-upload "$MAX_UPLOAD" || bail "ckptd starts with --max-upload $MAX_UPLOAD"
warm_up "$BASE"
FDS0=$(fd_count_conn "$CKPTD_PID")
THR0=$(threads_of "$CKPTD_PID")
diag "baseline: $(fd_count "$CKPTD_PID") open fds ($FDS0 besides the index), $THR0 threads"
start=$SECONDS
run_suite main --port "$PORT" --suite main --max-upload "$MAX_UPLOAD" --state "$WORK/main.state"
diag "main suite took $((SECONDS - start)) s"
after_checks "main" "$FDS0" "$THR0" "$WORK/main.state"
stop_ckptd "main: ckptd exits 0 on SIGTERM after the hostile requests"

# ---- a daemon with tokens: every route refuses a request without one.
D=$(new_tmpdir)
TOKEN=$("$CKPTD" token add hostile --role admin --data "$D" 2>/dev/null)
check_match "token add prints ID.SECRET" '[0-9a-f]{16}\.[0-9a-f]{64}' "$TOKEN"
start_ckptd_on "$D" || bail "ckptd starts with a token"
warm_up "$BASE" -H "Authorization: Bearer $TOKEN"
FDS0=$(fd_count_conn "$CKPTD_PID")
THR0=$(threads_of "$CKPTD_PID")
run_suite auth --port "$PORT" --suite auth --token "$TOKEN" --state "$WORK/auth.state"
AUTH=$TOKEN after_checks "auth" "$FDS0" "$THR0" "$WORK/auth.state"
stop_ckptd "auth: ckptd exits 0 on SIGTERM after the hostile requests"
