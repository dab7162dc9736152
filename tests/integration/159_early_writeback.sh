#!/usr/bin/env bash
# Early writeback of large uploads to a disk, watched with strace on the running daemon:
# - an upload of stated size (Content-Length, or X-Checkpoint-Size on a chunked body) of 8 MiB or
#   more gets its blocks allocated before its first byte (one fallocate FALLOC_FL_KEEP_SIZE of
#   that size), and the writeback thread starts each further 8 MiB of whole pages on its way to
#   the disk (sync_file_range SYNC_FILE_RANGE_WRITE over consecutive ranges, within the size);
# - a smaller upload, or one of unstated size, gets neither;
# - a failed fallocate (ENOSPC injected) or sync_file_range (EIO injected) changes nothing a
#   client sees: 201, the bytes download intact, nothing left in tmp/, fsck clean;
# - on tmpfs there is no writeback thread and no fallocate.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
if ! command -v strace >/dev/null; then
    skip "early writeback" "SKIPPED: strace is not installed"
    harness_exit
fi

# The data directory must be on a disk that preallocates ($WORK may be a tmpfs); outside $WORK,
# test_cleanup removes it.
DISK=""
SHM=""
test_cleanup()
{
    [ -z "$DISK" ] || rm -rf "$DISK"
    [ -z "$SHM" ] || rm -rf "$SHM"
}
on_disk() { case $(stat -f -c %T "$1" 2>/dev/null) in tmpfs | ramfs | "") return 1 ;; esac; }
for parent in "$WORK" /var/tmp "$PWD"; do
    [ -d "$parent" ] && [ -w "$parent" ] && on_disk "$parent" || continue
    DISK=$(mktemp -d "$parent/ckptd-wb.XXXXXX") || continue
    if fallocate -l 8M "$DISK/probe" 2>/dev/null; then
        rm -f "$DISK/probe"
        break
    fi
    rm -rf "$DISK"
    DISK=""
done
if [ -z "$DISK" ]; then
    skip "early writeback" "SKIPPED: no writable directory on a disk file system with fallocate"
    harness_exit
fi

MiB=1048576
rand_file "$WORK/big" $((40 * MiB))
rand_file "$WORK/big2" $((24 * MiB + 12345))
rand_file "$WORK/small" $((MiB))
BIG_SHA=$(sha256_hex "$WORK/big")

start_ckptd_on "$DISK" || bail "ckptd starts on $DISK"

threads() { cat /proc/"$CKPTD_PID"/task/*/comm 2>/dev/null; }
check "on a disk, the daemon runs a ckptd-writeback thread" grep -qx ckptd-writeback <(threads)

# traced ARGS... -- CMD...: run CMD with strace attached to every thread of the daemon (and the
# threads it starts), tracing fallocate and sync_file_range with the strace options ARGS; the
# calls land in $WORK/trace.
traced()
{
    local opts=() i
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    : >"$WORK/strace.err"
    strace -f -p "$CKPTD_PID" -e trace=fallocate,sync_file_range "${opts[@]}" \
        -o "$WORK/trace" 2>"$WORK/strace.err" &
    SPID=$!
    # strace says "Process N attached with T threads" once it holds them all.
    for i in $(seq 1 250); do # or 5 s
        grep -q attached "$WORK/strace.err" && break
        running "$SPID" || break
        sleep 0.02
    done
    "$@"
    # The writeback thread may still work after the 201: wait until its calls stop coming and
    # none is in progress (or 10 s).
    local before=-1 now
    for i in $(seq 1 50); do
        now=$(calls sync_file_range)
        [ "$now" = "$before" ] && [ "$(grep -c '<unfinished' "$WORK/trace")" = \
            "$(grep -c 'resumed>' "$WORK/trace")" ] && break
        before=$now
        sleep 0.2
    done
    safe_kill INT "$SPID" strace
    reap "$SPID" 10
}

# calls NAME: how many NAME calls the trace shows (a call split by another thread's counts once).
calls() { grep -c "$1(" "$WORK/trace"; }
# fallocs: "COUNT: MODE OFFSET LEN = RESULT" of the traced fallocate calls.
fallocs()
{
    printf '%s: %s' "$(calls fallocate)" "$(sed -nE \
        's/.*fallocate\([^,]*, ([A-Z_|0-9]+), ([0-9]+), ([0-9]+)\) += (-?[0-9]+).*/\1 \2 \3 = \4/p' \
        "$WORK/trace" | tr '\n' ' ' | sed 's/ $//')"
}

# 1. A 40 MiB upload with Content-Length.
traced -- upload wb "epoch=1" "$WORK/big"
if [ "$(wc -c <"$WORK/trace")" = 0 ] && grep -qi "operation not permitted\|ptrace" "$WORK/strace.err"; then
    skip "early writeback" "SKIPPED: strace cannot attach: $(head -c 200 "$WORK/strace.err")"
    stop_ckptd
    harness_exit
fi
check_eq "40 MiB with Content-Length: 201" 201 "$STATUS"
ID=$(jbody .id)
check_eq "40 MiB: one fallocate of the stated size, which succeeded" \
    "1: FALLOC_FL_KEEP_SIZE 0 $((40 * MiB)) = 0" "$(fallocs)"
# Each range: sync_file_range(FD, OFF, LEN, FLAGS ...: "OFF LEN FLAGS".
ranges=$(grep -oE 'sync_file_range\([^,]*, [0-9]+, [0-9]+, [A-Z_|]+' "$WORK/trace" |
    sed -E 's/sync_file_range\([^,]*, ([0-9]+), ([0-9]+), ([A-Z_|]+)/\1 \2 \3/')
n=$(printf '%s\n' "$ranges" | grep -c .)
check "40 MiB: the writeback thread was asked for at least 4 ranges ($n)" [ "$n" -ge 4 ]
check_eq "40 MiB: every range SYNC_FILE_RANGE_WRITE only, whole pages, back to back from 0, within the size" \
    ok "$(printf '%s\n' "$ranges" | awk -v size=$((40 * MiB)) '
        { if ($3 != "SYNC_FILE_RANGE_WRITE" || $1 != next_off || $2 % 4096 || $1 + $2 > size) bad = 1
          next_off = $1 + $2 }
        END { print (NR && !bad) ? "ok" : "bad: " NR " ranges" }' next_off=0)"
http GET "/v1/checkpoints/$ID/blob"
check_eq "40 MiB: downloads intact" "$BIG_SHA" "$(sha256_hex "$RESP_BODY")"
check_eq "40 MiB: the blob file is exactly the body's size" $((40 * MiB)) \
    "$(stat -c %s "$DISK/blobs/${BIG_SHA:0:2}/$BIG_SHA")"

# 2. Chunked with X-Checkpoint-Size (what libckpt sends): the same, for an odd size.
SHA2=$(sha256_hex "$WORK/big2")
traced -- upload wb "epoch=2" "$WORK/big2" -H "Transfer-Encoding: chunked" \
    -H "X-Checkpoint-Size: $((24 * MiB + 12345))"
check_eq "chunked, X-Checkpoint-Size: 201" 201 "$STATUS"
check_eq "chunked, X-Checkpoint-Size: one fallocate of the stated size" \
    "1: FALLOC_FL_KEEP_SIZE 0 $((24 * MiB + 12345)) = 0" "$(fallocs)"
check "chunked, X-Checkpoint-Size: writeback ranges asked for" [ "$(calls sync_file_range)" -ge 2 ]
check_eq "chunked, X-Checkpoint-Size: downloads intact" "$SHA2" \
    "$(http GET "/v1/checkpoints/$(jbody .id)/blob" && sha256_hex "$RESP_BODY")"

# 3. Chunked without a size, and a small upload: neither.
traced -- upload wb "epoch=3" "$WORK/big" -H "Transfer-Encoding: chunked"
check_eq "chunked without a size: 201" 201 "$STATUS"
check_eq "chunked without a size: no fallocate, no writeback" "0 0" \
    "$(calls fallocate) $(calls sync_file_range)"
traced -- upload wb "epoch=4" "$WORK/small"
check_eq "1 MiB: 201" 201 "$STATUS"
check_eq "1 MiB (under 8 MiB): no fallocate, no writeback" "0 0" \
    "$(calls fallocate) $(calls sync_file_range)"

# 4. Failures of either call are not the client's concern.
rand_file "$WORK/big3" $((16 * MiB))
SHA3=$(sha256_hex "$WORK/big3")
traced -e inject=fallocate:error=ENOSPC -- upload wb "epoch=5" "$WORK/big3"
check_eq "fallocate failing with ENOSPC: still 201" 201 "$STATUS"
check_eq "fallocate failing: the upload then gets no early writeback" 0 "$(calls sync_file_range)"
check_eq "fallocate failing: downloads intact" "$SHA3" \
    "$(http GET "/v1/checkpoints/$(jbody .id)/blob" && sha256_hex "$RESP_BODY")"
rand_file "$WORK/big4" $((16 * MiB))
SHA4=$(sha256_hex "$WORK/big4")
traced -e inject=sync_file_range:error=EIO -- upload wb "epoch=6" "$WORK/big4"
check_eq "sync_file_range failing with EIO: still 201" 201 "$STATUS"
check "sync_file_range failing: the failures were injected" grep -q "sync_file_range(.*EIO" "$WORK/trace"
check_eq "sync_file_range failing: downloads intact" "$SHA4" \
    "$(http GET "/v1/checkpoints/$(jbody .id)/blob" && sha256_hex "$RESP_BODY")"
check_eq "nothing is left in tmp/" "" "$(ls -A "$DISK/tmp")"
http GET "/v1/runs/wb/checkpoints?limit=100"
check_eq "run wb lists the six uploads" 6 "$(jbody '.checkpoints | length')"
stop_ckptd
"$CKPTD" fsck --data "$DISK" >"$WORK/fsck.out" 2>&1
check_eq "fsck finds the data directory clean" 0 "$?"

# 5. tmpfs: no thread, no fallocate.
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
    SHM=$(mktemp -d /dev/shm/ckptd-wb.XXXXXX)
    start_ckptd_on "$SHM" || bail "ckptd starts on $SHM"
    check "on tmpfs, no ckptd-writeback thread" bash -c "! grep -qx ckptd-writeback /proc/$CKPTD_PID/task/*/comm"
    traced -- upload wb "epoch=1" "$WORK/big"
    check_eq "tmpfs, 40 MiB: 201" 201 "$STATUS"
    check_eq "tmpfs, 40 MiB: no fallocate, no writeback" "0 0" \
        "$(calls fallocate) $(calls sync_file_range)"
    stop_ckptd
else
    skip "tmpfs case" "SKIPPED: /dev/shm is not a writable tmpfs"
fi

harness_exit
