#!/usr/bin/env bash
# Commit order, seen from the system calls: strace attaches to a running ckptd (every thread)
# while a few uploads (Content-Length and chunked, sequential and concurrent, one a duplicate of
# another's bytes) and a delete run. For each upload: every write to its temp file < fdatasync of
# the temp file < rename into blobs/ab/<sha> < fsync of blobs/ab (and of blobs/ when ab/ was new)
# < the index commit's sync of index.db-wal < the first byte of the 201 on that client's socket.
# For the delete: the index commit's sync < unlink of the blob < the 204. The log is parsed by
# tests/lib/strace_order.py; skipped visibly when strace is missing or cannot attach.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
need_python
if ! command -v strace >/dev/null; then
    skip "commit order under strace" "SKIPPED: strace is not installed"
    exit 0
fi

start_ckptd || bail "ckptd starts"
REAL_DATA=$(cd "$DATA" && pwd -P)

TRACED=write,pwrite64,writev,pwritev,pwritev2,fdatasync,fsync,sync_file_range,renameat2,renameat
TRACED=$TRACED,rename,linkat,unlinkat,unlink,mkdirat,sendto,sendmsg,sendfile
# Attach to every thread of the running daemon; startup is not traced (nothing to check there).
strace -f -ttt -yy -s 256 -o "$WORK/trace" \
    -e trace="$TRACED" -p "$CKPTD_PID" 2>"$WORK/strace.err" &
SPID=$!
if ! wait_for 10 grep -q 'attached' "$WORK/strace.err"; then
    safe_kill KILL "$SPID"
    wait "$SPID" 2>/dev/null
    skip "commit order under strace" "SKIPPED: strace cannot attach: $(head -c 200 "$WORK/strace.err")"
    stop_ckptd
    exit 0
fi
ok "strace attached to every thread of ckptd ($(head -n 1 "$WORK/strace.err"))"

rand_file "$WORK/a" 2097152
rand_file "$WORK/b" 1
rand_file "$WORK/d" 1500000
# c's blob shares a's directory blobs/ab/ (its last 8 bytes varied until the first byte of the
# SHA-256 matches): c's publish finds ab/ made by a's, which must not count as new for c.
"$PYTHON" - "$WORK/a" "$WORK/c" 3000017 <<'PY' || bail "a file whose SHA-256 shares a's first byte"
import hashlib, os, sys
want = hashlib.sha256(open(sys.argv[1], "rb").read()).digest()[0]
body = os.urandom(int(sys.argv[3]) - 8)
base = hashlib.sha256(body)
for n in range(1 << 16):
    h = base.copy()
    tail = n.to_bytes(8, "little")
    h.update(tail)
    if h.digest()[0] == want:
        with open(sys.argv[2], "wb") as f:
            f.write(body + tail)
        sys.exit(0)
sys.exit(1)
PY
check_eq "c's blob goes to the same blobs/ab/ as a's" "$(sha256_hex "$WORK/a" | cut -c1-2)" \
    "$(sha256_hex "$WORK/c" | cut -c1-2)"
: >"$WORK/clients"
# record NAME: append the answer of upload NAME to the clients file for the parser.
record()
{
    local st port
    read -r st port <"$WORK/$1.status"
    printf 'upload %s %s %s %s %s\n' "$port" "$st" "$(jq -r .id <"$WORK/$1.json")" \
        "$(jq -r .sha256 <"$WORK/$1.json")" "$(jq -r .size <"$WORK/$1.json")" >>"$WORK/clients"
    check_eq "upload $1 answers 201" 201 "$st"
}

# Two sequential uploads (one with a stated digest), then three at once: chunked from a pipe,
# Content-Length, and a second copy of a's bytes (deduplicated: the rename finds the blob).
upload_bg a seq "epoch=1" "$WORK/a" -H "X-Checkpoint-SHA256: $(sha256_hex "$WORK/a")"
wait "$BG_PID"
record a
upload_bg b seq "epoch=2" "$WORK/b"
wait "$BG_PID"
record b
curl -s -o "$WORK/c.json" -w '%{http_code} %{local_port}' --max-time 60 -T - \
    "$BASE/v1/runs/conc/checkpoints?epoch=3" <"$WORK/c" >"$WORK/c.status" 2>/dev/null &
p1=$!
upload_bg d conc "epoch=4" "$WORK/d"
p2=$BG_PID
upload_bg e conc "epoch=5" "$WORK/a"
p3=$BG_PID
wait "$p1" "$p2" "$p3"
for n in c d e; do record $n; done

# Delete b (its blob is not shared: the blob file goes too).
bid=$(jq -r .id <"$WORK/b.json")
out=$(curl -s -o /dev/null -w '%{http_code} %{local_port}' --max-time 30 -X DELETE \
    "$BASE/v1/checkpoints/$bid")
printf 'delete %s %s %s %s\n' "${out#* }" "${out%% *}" "$bid" "$(sha256_hex "$WORK/b")" >>"$WORK/clients"
check_eq "DELETE of b answers 204" 204 "${out%% *}"

# Detach (SIGINT: strace detaches from every thread and flushes its log).
safe_kill INT "$SPID" strace
reap "$SPID" 10
# strace exits 130 when SIGINT ends its tracing (128 + SIGINT), after detaching.
check_match "strace detaches and exits (status $EXIT_RC)" '0|130' "$EXIT_RC"
check "ckptd keeps running after strace detached" is_alive "$CKPTD_PID"
http GET /healthz
expect_status "/healthz answers 200 after the traced requests" 200

"$PYTHON" "$HARNESS_ROOT/tests/lib/strace_order.py" "$WORK/trace" "$REAL_DATA" "$WORK/clients" \
    >"$WORK/order.out" 2>"$WORK/order.err"
check "the strace log parser runs" bash -c "[ -s '$WORK/order.out' ] && [ ! -s '$WORK/order.err' ]"
while IFS=$'\t' read -r kind name detail; do
    case $kind in
    PASS) ok "$name" ;;
    FAIL) fail "$name" "$detail" ;;
    esac
done <"$WORK/order.out"
[ -s "$WORK/order.err" ] && diag "$(tail -n 5 "$WORK/order.err")"
diag "trace: $(wc -l <"$WORK/trace") lines"
stop_ckptd
