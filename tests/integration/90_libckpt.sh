#!/usr/bin/env bash
# libckpt's public API against a real ckptd: tests/client/libckpt.c (build/tests/client_libckpt)
# prints one ok/not ok line per check; this script starts the daemon and passes them through.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

run_client libckpt "$BASE" "$(new_tmpdir)"

# What the program left on the server side: aborted and refused uploads stored nothing.
check "no upload left a temporary file in DATA/tmp" wait_for 3 tmp_is_empty
check "ckptd still running after the library tests" is_alive "$CKPTD_PID"
stop_ckptd
