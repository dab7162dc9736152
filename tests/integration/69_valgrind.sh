#!/usr/bin/env bash
# A short mixed load with ckptd under valgrind memcheck: uploads (plain, chunked, refused),
# downloads with ranges, queries, deletes, a client hanging up mid-body, then SIGTERM: 0 errors
# and 0 bytes definitely lost. Skipped (visibly) under a sanitizer build or without valgrind.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
if ! command -v valgrind >/dev/null; then
    skip "ckptd under valgrind" "SKIPPED: valgrind is not installed"
    exit 0
fi
if nm "$CKPTD" 2>/dev/null | grep -q __asan_init; then
    skip "ckptd under valgrind" "SKIPPED: $CKPTD is an ASan build (valgrind cannot run it)"
    exit 0
fi
VLOG=$WORK/valgrind.log
CKPTD_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --log-file=$VLOG --error-exitcode=99"
READY_WAIT=60
EXIT_WAIT=90
start_ckptd || bail "ckptd starts under valgrind"

for i in 1 2 3 4; do
    rand_file "$WORK/f$i" $((i * 300000))
    upload vg "epoch=$i&loss=0.$i&metric.acc=0.$((9 - i))" "$WORK/f$i"
    check_eq "upload $i under valgrind answers 201" 201 "$STATUS"
done
s=$(curl -s -o /dev/null -w '%{http_code}' -T - "$BASE/v1/runs/vg/checkpoints?epoch=5" <"$WORK/f1")
check_eq "a chunked upload answers 201" 201 "$s"
s=$(curl -s -o /dev/null -w '%{http_code}' -T "$WORK/f1" -H "X-Checkpoint-SHA256: $(printf '%064d' 0)" \
    "$BASE/v1/runs/vg/checkpoints")
check_eq "a digest mismatch answers 400" 400 "$s"
s=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs/vg/checkpoints?epcoh=1")
check_eq "an unknown parameter answers 400" 400 "$s"
curl -s -o "$WORK/dl" "$BASE/v1/runs/vg/best/blob"
check "best/blob (lowest loss: the first upload) downloads intact" cmp -s "$WORK/dl" "$WORK/f1"
s=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=10-99' "$BASE/v1/checkpoints/1/blob")
check_eq "a range answers 206" 206 "$s"
s=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs/vg/checkpoints?order_by=metric.acc&limit=2")
check_eq "a listing answers 200" 200 "$s"
out=$(curl -s "$BASE/v1/runs/vg/best" "$BASE/v1/runs/vg/best" "$BASE/v1/runs/vg/checkpoints?limit=2" \
    "$BASE/v1/runs/vg/checkpoints?limit=2" | jq -s -c '[.[0].id, .[1].id, .[2].checkpoints[0].id, .[3].checkpoints[0].id]')
check_eq "best and a listing, each asked twice on one connection (the second time from the query cache)" \
    "[1,1,1,1]" "$out"
s=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")
check_eq "runs answers 200" 200 "$s"
s=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE/v1/checkpoints/2")
check_eq "a delete answers 204" 204 "$s"
# a client that hangs up mid-body
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PUT /v1/runs/vg/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
s.close()
PY
check "the hung-up upload leaves no temp file" wait_for 10 tmp_is_empty
stop_ckptd "ckptd under valgrind exits 0 on SIGTERM (valgrind's error exit is 99)"
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$VLOG" | tail -n 1)
check "valgrind reports no errors" test -z "$(grep -E 'Invalid|uninitialised|definitely lost: [1-9]' "$VLOG")"
[ -s "$VLOG" ] && diag "valgrind log:" "$(head -c 1500 "$VLOG")"
diag "valgrind error summary: ${errors:-none printed (quiet mode prints only problems)}"
