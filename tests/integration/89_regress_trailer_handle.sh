#!/usr/bin/env bash
# Regression: repeated streamed (trailer-digest) pushes on one libckpt client corrupted libcurl's
# heap (its trailer state survives curl_easy_reset). See tests/client/regress_trailer_handle.c.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
PROG=$BUILD_DIR/tests/client_regress_trailer_handle
[ -x "$PROG" ] || bail "regression program is built at $PROG"
start_ckptd || bail "ckptd starts"
${CKPT_WRAPPER:-} "$PROG" "$BASE"
check_eq "the regression program exits 0" 0 "$?"
check_eq "all six uploads are listed" 6 "$(run_count trailer-regress)"
stop_ckptd
