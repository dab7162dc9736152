#!/usr/bin/env bash
# The Python binding's lifecycle calls (pin/unpin, aliases with compare-and-swap, resume, leases,
# the watch() iterator) against a real ckptd: tests/python/test_lifecycle.py.
. "$(dirname "$0")/../lib/harness.sh"
. "$HARNESS_ROOT/tests/python/python.sh"
need_daemon_binary
py_setup || exit 0
start_ckptd || bail "ckptd starts"
export CKPT_URL=$BASE

run_py test_lifecycle.py "$(new_tmpdir)"

check "ckptd still running after the Python lifecycle tests" is_alive "$CKPTD_PID"
stop_ckptd
