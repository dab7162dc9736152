#!/usr/bin/env bash
# The README's libckpt example program (client/examples/push_pull.c), built as a user would,
# pushes a file and fetches the run's best checkpoint back, byte for byte.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
EXAMPLE=$BUILD_DIR/tests/example_push_pull
[ -x "$EXAMPLE" ] || bail "example program is built at $EXAMPLE"
start_ckptd || bail "ckptd starts"

rand_file "$WORK/model.pt" 777777
out=$(${CKPT_WRAPPER:-} "$EXAMPLE" "$BASE" "$WORK/model.pt" "$WORK/best.pt" 2>&1)
rc=$?
check_eq "the example program exits 0" 0 "$rc"
check_match "it reports the stored checkpoint and its digest" \
    "stored checkpoint 1, sha256 $(sha256_hex "$WORK/model.pt")" "$(printf '%s\n' "$out" | head -n 1)"
check "the best checkpoint it fetched is identical to the file it pushed" cmp -s "$WORK/model.pt" "$WORK/best.pt"
http GET /v1/checkpoints/1
check_eq "the pushed checkpoint carries the example's metric" 0.91 "$(jbody '.metrics.val_acc')"
check_eq "and its epoch" 3 "$(jbody .epoch)"

"$EXAMPLE" "$BASE" "$WORK/does-not-exist" "$WORK/x.pt" >/dev/null 2>&1
check_eq "the example exits 1 when its input file is missing" 1 "$?"
check "and creates no output file" test ! -e "$WORK/x.pt"

# The README shows the same program; they must not drift apart.
readme_code=$(sed -n '/^```c$/,/^```$/p' "$HARNESS_ROOT/README.md" | sed '1d;$d')
example_code=$(sed -n '/^#include <stdio.h>/,$p' "$HARNESS_ROOT/client/examples/push_pull.c")
check_eq "the README's C example is client/examples/push_pull.c" "$example_code" "$readme_code"

stop_ckptd
