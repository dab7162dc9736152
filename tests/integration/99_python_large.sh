#!/usr/bin/env bash
# A 1 GiB state dict through the Python binding's Client.save and Client.load against a real
# ckptd (tests/python/test_large.py): equal after the round trip, and the peak RSS each costs
# (save streams without a second copy; load holds at most one extra copy). Skips visibly without
# torch, 6 GB of free disk or 8 GiB of available memory.
. "$(dirname "$0")/../lib/harness.sh"
. "$HARNESS_ROOT/tests/python/python.sh"
need_daemon_binary
py_setup || exit 0
if ! have_torch; then
    ok "skipped: SKIPPED torch is not installed"
    exit 0
fi
start_ckptd || bail "ckptd starts"
export CKPT_URL=$BASE
run_py test_large.py "$DATA"
check "ckptd still running after the large transfers" is_alive "$CKPTD_PID"
stop_ckptd
