#!/usr/bin/env bash
# Crash loop: concurrent uploads (1 byte to 64 MiB, Content-Length or chunked, digest stated in a
# header or a trailer, plus empty and wrong-digest bodies that must be refused) and deletes, then
# kill -9 at a random moment and restart on the same data directory, CRASH_LOOPS times (default
# 100; `make test-long` runs 1000). After every restart: ready within 2 s; every checkpoint
# answered 201 (and not deleted with a 204) is listed and downloads with its size and SHA-256;
# every 204 delete stays deleted; no other checkpoint is visible except one whose 201 was lost in
# the kill (its content must be one the client sent with a correct digest, and it must be intact);
# DATA/tmp is empty; DATA/blobs holds exactly the listed checkpoints' blobs; quarantined blobs are
# whole; PRAGMA integrity_check is ok. CRASH_SEED reproduces the sizes and kill delays.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
need_python

# Run a private copy of the daemon: a rebuild of the build tree during a long loop must not pull
# the binary away between two restarts.
cp "$CKPTD" "$WORK/ckptd" || bail "copy $CKPTD"
CKPTD=$WORK/ckptd

LOOPS=${CRASH_LOOPS:-100}
SEED=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
diag "CRASH_LOOPS=$LOOPS CRASH_SEED=$SEED"

# One master file of random bytes; uploads are slices of it, so nothing is generated per round.
head -c $((65 * 1048576)) /dev/urandom >"$WORK/master"
STATE=$WORK/state.json
kit catalog "$STATE" --master "$WORK/master" --seed "$SEED" --count 40 >"$WORK/catalog.out" ||
    bail "crashkit catalog runs" "$(cat "$WORK/catalog.out")"
diag "$(cat "$WORK/catalog.out")"

D=$(new_tmpdir)
start_timed "$D" || bail "ckptd starts"

# Verdicts are gathered over all rounds: one line per invariant at the end, details as they come.
declare -A NFAIL NSEEN FIRST SUM
NAMES=()
record()
{
    local name=$1 verdict=$2 detail=${3:-}
    if [ -z "${NFAIL[$name]+set}" ]; then
        NAMES+=("$name")
        NFAIL[$name]=0
        NSEEN[$name]=0
    fi
    NSEEN[$name]=$((NSEEN[$name] + 1))
    if [ "$verdict" != ok ]; then
        NFAIL[$name]=$((NFAIL[$name] + 1))
        [ -n "${FIRST[$name]:-}" ] || FIRST[$name]="round $ROUND: $detail"
        diag "round $ROUND: FAILED: $name: $detail"
        ROUND_FAILED=1
    fi
}

max_ready=0
t_start=$SECONDS
for ROUND in $(seq 1 "$LOOPS"); do
    ROUND_FAILED=0
    t_a=$(now_ms_int)
    kit load "$STATE" --base "$BASE" --journal "$WORK/journal.$ROUND" --seed $((SEED + ROUND)) \
        2>"$WORK/load.err" &
    lp=$!
    delay=$((RANDOM % 570 + 30))
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
    if running "$CKPTD_PID"; then
        record "the daemon is still running when it is killed" ok
    else
        record "the daemon is still running when it is killed" fail \
            "it died on its own: $(tail -c 300 "$CKPTD_ERR")"
    fi
    prev_err=$CKPTD_ERR
    prev_out=$CKPTD_OUT
    t_b=$(now_ms_int)
    kill9_now
    t_c=$(now_ms_int)
    reap "$lp" 30
    if [ "$TIMED_OUT" = 1 ]; then
        record "the load generator stops once the daemon is gone" fail "still running after 30 s"
    else
        record "the load generator stops once the daemon is gone" ok
    fi
    if [ -s "$WORK/load.err" ]; then
        record "the load generator runs without errors" fail "$(tail -c 300 "$WORK/load.err")"
    else
        record "the load generator runs without errors" ok
    fi
    # Every daemon so far has been reaped: forget their PIDs (cleanup walks this list).
    CKPTD_PIDS=()

    t_d=$(now_ms_int)
    if ! start_timed "$D"; then
        record "ckptd restarts after kill -9" fail "see the diagnostics above"
        break
    fi
    record "ckptd restarts after kill -9" ok
    [ "$READY_MS" -gt "$max_ready" ] && max_ready=$READY_MS
    if [ "$READY_MS" -le 2000 ]; then
        record "ready within 2 s of each restart" ok
    else
        record "ready within 2 s of each restart" fail "took $READY_MS ms"
    fi

    # Every 10th round (and the last) downloads every checkpoint again, not only new ones.
    full=
    [ $((ROUND % 10)) -eq 0 ] || [ "$ROUND" -eq "$LOOPS" ] && full=--full
    t_v=$(now_ms_int)
    if kit verify "$STATE" --base "$BASE" --data "$D" --journal "$WORK/journal.$ROUND" --adopt \
        --prune 8,67108864 $full >"$WORK/verify.out" 2>"$WORK/verify.err"; then
        record "the invariant checker runs" ok
    else
        record "the invariant checker runs" fail "$(tail -n 3 "$WORK/verify.err")"
    fi
    t_e=$(now_ms_int)
    info=
    while IFS=$'\t' read -r kind name detail; do
        case $kind in
        PASS) record "$name" ok ;;
        FAIL) record "$name" fail "$detail" ;;
        INFO) info=$name ;;
        esac
    done <"$WORK/verify.out"
    for k in load:$((t_b - t_a)) kill:$((t_c - t_b)) loadgen-exit:$((t_d - t_c)) \
        restart:$((t_v - t_d)) verify:$((t_e - t_v)); do
        SUM[${k%%:*}]=$((${SUM[${k%%:*}]:-0} + ${k#*:}))
    done
    if [ "$READY_MS" -gt 1000 ]; then
        diag "round $ROUND: slow restart (${READY_MS} ms); load average: $(cat /proc/loadavg)"
    fi
    if [ $((ROUND % 10)) -eq 0 ] || [ "$ROUND_FAILED" = 1 ]; then
        diag "round $ROUND (killed after ${delay} ms, ready in ${READY_MS} ms): ${info:-}"
    fi
    if [ "$ROUND_FAILED" = 0 ]; then
        rm -f "$prev_err" "$prev_out" "$WORK/journal.$ROUND"
    else
        diag "the load generator's journal of round $ROUND (last 12 lines):" \
            "$(tail -n 12 "$WORK/journal.$ROUND")"
    fi
done
DONE=$ROUND
ROUND=end

diag "$DONE rounds in $((SECONDS - t_start)) s; slowest restart ${max_ready} ms; mean ms per round:" \
    "$(for k in load kill loadgen-exit restart verify; do
        printf '%s %d ' $k $((${SUM[$k]:-0} / DONE))
    done)" "totals: $(jq -c .stats "$STATE")"
check_eq "all $LOOPS rounds ran" "$LOOPS" "$DONE"
for name in "${NAMES[@]}"; do
    if [ "${NFAIL[$name]}" -eq 0 ]; then
        ok "$name (all ${NSEEN[$name]} rounds)"
    else
        fail "$name (failed in ${NFAIL[$name]} of ${NSEEN[$name]} rounds)" "first: ${FIRST[$name]}"
    fi
done
acked=$(jq '.stats.acked // 0' "$STATE")
check "the rounds acknowledged uploads at all (acked: $acked)" [ "$acked" -gt 0 ]
stop_ckptd
