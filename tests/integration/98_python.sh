#!/usr/bin/env bash
# The Python binding (client/python/ckpt) against a real ckptd: tests/python/test_client.py (the
# Client API without torch, errors, threads, corrupt blobs), tests/python/test_torch.py
# (Client.save/load and Checkpointer: resume bit for bit, weights only, latest/best versions,
# failures), and the README's training loop (client/python/examples/train.py) killed with SIGKILL
# in the middle of a checkpoint upload, then resumed; then tests/python/test_auth.py against a
# ckptd that requires tokens. The 1 GiB test is 99_python_large.sh.
. "$(dirname "$0")/../lib/harness.sh"
. "$HARNESS_ROOT/tests/python/python.sh"
need_daemon_binary
py_setup || exit 0
start_ckptd || bail "ckptd starts"
export CKPT_URL=$BASE

run_py test_client.py "$DATA" "$(new_tmpdir)"

# auth_tests: the binding against a second ckptd that requires tokens (tests/python/test_auth.py).
auth_tests()
{
    local d t_write t_read t_scoped
    d=$(new_tmpdir)
    t_write=$("$CKPTD" token add pywrite --role write --data "$d" 2>/dev/null)
    t_read=$("$CKPTD" token add pyread --role read --data "$d" 2>/dev/null)
    t_scoped=$("$CKPTD" token add pyexp --role write --runs exp- --data "$d" 2>/dev/null)
    if [ -z "$t_write" ] || [ -z "$t_read" ] || [ -z "$t_scoped" ]; then
        fail "ckptd token add mints the tokens for the Python auth tests"
        return
    fi
    start_ckptd_on "$d" || { fail "ckptd starts with tokens"; return; }
    CKPT_URL=$BASE T_WRITE=$t_write T_READ=$t_read T_SCOPED=$t_scoped run_py test_auth.py
    stop_ckptd "ckptd with tokens exits 0 on SIGTERM"
}

if ! have_torch; then
    ok "skipped: SKIPPED torch is not installed"
    check "ckptd still running after the Python tests" is_alive "$CKPTD_PID"
    stop_ckptd
    auth_tests
    exit 0
fi

run_py test_torch.py "$DATA" "$(new_tmpdir)"

# ---------------------------------------------------------------- the README's training loop
EX=$HARNESS_ROOT/client/python/examples/train.py
# epochs RUN: the run's checkpoint epochs, in commit order, on one line.
epochs()
{
    curl -s --max-time 30 "$BASE/v1/runs/$1/checkpoints?limit=1000" | jq -r '[.checkpoints[].epoch] | join(" ")'
}
if [ ! -f "$EX" ]; then
    ok "skipped: SKIPPED the example training loop $EX does not exist"
else
    "$PY" "$EX" --run ex-whole --epochs 6 >"$WORK/ex-whole.out" 2>&1
    check_eq "the example trains 6 epochs uninterrupted" 0 "$?"
    whole=$(sed -n 's/^final parameters sha256 //p' "$WORK/ex-whole.out")
    check_match "it prints its final parameters' digest" '[0-9a-f]{64}' "$whole"

    # (braces: the shell's own "Killed" notice goes to /dev/null, the example's output to the file)
    { "$PY" "$PYTESTS/crash_train.py" "$EX" 3 --run ex-killed --epochs 6 >"$WORK/ex-killed.out" 2>&1; rc=$?; } 2>/dev/null
    check_eq "the example is killed (SIGKILL) in the middle of epoch 3's upload" \
        "137 killing the process in the middle of epoch 3's upload" "$rc $(tail -n 1 "$WORK/ex-killed.out")"
    check_eq "the server holds the checkpoints of epochs 0-2 only" "0 1 2" "$(epochs ex-killed)"
    check "the killed upload left no temporary file (within 10 s)" wait_for 10 tmp_is_empty

    "$PY" "$EX" --run ex-killed --epochs 6 >"$WORK/ex-resumed.out" 2>&1
    check_eq "the example rerun exits 0" 0 "$?"
    check "it resumed at epoch 3" grep -q 'resumed from checkpoint [0-9]* at epoch 3' "$WORK/ex-resumed.out"
    check_eq "and ends with exactly the uninterrupted run's parameters" "$whole" \
        "$(sed -n 's/^final parameters sha256 //p' "$WORK/ex-resumed.out")"
    check_eq "the run now holds epochs 0-5 once each" "0 1 2 3 4 5" "$(epochs ex-killed)"
fi

check "ckptd still running after the Python tests" is_alive "$CKPTD_PID"
stop_ckptd
auth_tests
