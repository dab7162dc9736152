#!/usr/bin/env bash
# System-call faults injected with strace into a running ckptd: the Nth write, pwrite64 (index
# WAL), fdatasync, fsync, renameat2 or openat of an upload fails with EIO or ENOSPC, for N = 1, 2,
# ... until an upload runs past every injection point. After each: a 201 only when the checkpoint
# downloads intact, otherwise a clean 500 internal_error (EIO) or 507 insufficient_storage
# (ENOSPC) with nothing stored; the daemon stays up, is read-only exactly when an fsync or
# fdatasync failed, and its open file descriptors are back to the baseline; the invariants hold
# (tests/lib/crashkit.py verify), and still hold after a kill -9 and restart.
#
# strace attaches with -p after startup (so SQLite's startup syncs are not hit) and detaches after
# each upload. Its `when=N` counts calls per thread: an upload's body is written by one HTTP
# thread, and its commit (fdatasync, rename, directory fsync, index insert) runs on one worker
# thread, so with a fresh attach per upload the Nth call of a kind is the Nth of that upload.
# The injected call is read back from the strace log and named in each check.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
need_python
VERIFY_COMPACT=1
if ! command -v strace >/dev/null; then
    skip "syscall fault injection" "SKIPPED: strace is not installed"
    exit 0
fi

start_ckptd || bail "ckptd starts"
D=$DATA
REAL_D=$(cd "$D" && pwd -P)
rand_file "$WORK/fix" 123457
FIX_SHA=$(sha256_hex "$WORK/fix")
upload fix "epoch=1" "$WORK/fix" -H "X-Checkpoint-SHA256: $FIX_SHA"
[ "$STATUS" = 201 ] || bail "fixture upload answers 201" "HTTP $STATUS $(body_head)"
expect_must "$(jbody .id)" "$FIX_SHA" 123457

# baseline: the daemon's fd count when idle (measured once per daemon process).
baseline()
{
    BASE_FDS=$(fd_count "$CKPTD_PID")
}
baseline
diag "idle ckptd has $BASE_FDS open file descriptors"

# attach ARGS...: attach strace to every thread of the daemon but the accept thread, with ARGS;
# false if it cannot. The accept thread signals a worker through an eventfd for each new
# connection: failing that write (which cannot fail for real) would strand the connection, and it
# would take N=1 of every write before the upload's own. No -f: with it strace attaches to every
# thread of a -p thread's process; no thread starts during these small uploads.
attach()
{
    local i t pids=()
    : >"$WORK/strace.err"
    for t in /proc/"$CKPTD_PID"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = ckptd-accept ] || pids+=(-p "${t##*/}")
    done
    strace -yy "${pids[@]}" -o "$WORK/trace" "$@" 2>"$WORK/strace.err" &
    SPID=$!
    for i in $(seq 1 500); do
        # strace says "Process N attached" for each thread.
        [ "$(grep -c attached "$WORK/strace.err")" -ge $((${#pids[@]} / 2)) ] && return 0
        running "$SPID" || return 1
        sleep 0.02
    done
    return 1
}

# detach: SIGINT makes strace detach from every thread and exit.
detach()
{
    safe_kill INT "$SPID" strace
    reap "$SPID" 10
}

# Can we attach and inject at all? One probe with an injection that never triggers.
if ! attach -e trace=fdatasync -e inject=fdatasync:error=EIO:when=1000; then
    detach
    skip "syscall fault injection" "SKIPPED: strace cannot attach: $(head -c 200 "$WORK/strace.err")"
    stop_ckptd
    exit 0
fi
detach
ok "strace can attach to the running daemon and detach again"

# restart: kill -9 and start again on the same data (a fresh process: not read-only, new baseline).
restart()
{
    kill9_now
    CKPTD_PIDS=()
    start_ckptd_on "$D" || bail "ckptd restarts after kill -9"
    baseline
}

SEQ=0
# one_run SYSCALL ERRNO N [STRACE ARGS...]: fail the Nth SYSCALL of one upload with ERRNO, then
# check the answer and the invariants. Sets INJECTED (0 when the upload ran past call N).
one_run()
{
    local sc=$1 err=$2 n=$3 label st code health f size mode sha want tidy
    shift 3
    SEQ=$((SEQ + 1))
    # 250-380 KB: a few body pieces, so that write has several calls to fail.
    size=$((250000 + RANDOM * 4))
    f=$WORK/up.$SEQ
    # Bytes whose blob directory blobs/ab/ does not exist yet, so the commit fsyncs blobs/ too.
    for _ in 1 2 3 4 5 6 7 8; do
        rand_file "$f" "$size"
        sha=$(sha256_hex "$f")
        [ -e "$D/blobs/${sha:0:2}" ] || break
    done
    mode=length
    [ $((SEQ % 2)) = 0 ] && mode=chunked
    attach -e trace="$sc" -e inject="$sc:error=$err:when=$n" "$@" ||
        bail "strace attaches for $sc $err N=$n" "$(head -c 300 "$WORK/strace.err")"
    if [ "$mode" = chunked ]; then
        st=$(curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 30 -T - -H "X-Checkpoint-SHA256: $sha" \
            "$BASE/v1/runs/inj/checkpoints?epoch=$SEQ" <"$f" 2>/dev/null)
    else
        st=$(curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 30 -T "$f" -H "X-Checkpoint-SHA256: $sha" \
            "$BASE/v1/runs/inj/checkpoints?epoch=$SEQ" 2>/dev/null)
    fi
    detach
    code=
    [[ $(<"$RESP_BODY") =~ \"code\":\"([a-z_]+)\" ]] && code=${BASH_REMATCH[1]}
    INJECTED=$(grep -c 'INJECTED' "$WORK/trace")
    # The access-log line goes to stderr once the answer is out: a write failed there is past
    # the data path (the line is lost, nothing else), so it counts as running past every call.
    grep -m1 'INJECTED' "$WORK/trace" | grep -q "^[0-9]* *write([0-9]*<$(realpath "$CKPTD_ERR")>" &&
        INJECTED=0
    # The failed call, shortened: "write(DATA/tmp/up-7)", "openat(DATA/tmp, "up-3")".
    TARGET=$(grep -m1 'INJECTED' "$WORK/trace" |
        sed -E 's/^[0-9]+ +//; s/^([a-z0-9_]+\([^,)]*(, "[^"]*")?).*/\1)/; s/[0-9]+<([^>]*)>/\1/g')
    TARGET=${TARGET//$REAL_D/DATA}
    case $TARGET in write\(* | pwrite64\(*) TARGET="${TARGET%%, \"*})" ;; esac
    label="$sc $err N=$n ($mode)"
    if [ "$INJECTED" = 0 ]; then
        label="$label, past the last call"
    else
        label="$label, failing $TARGET"
    fi
    if [ "$INJECTED" -gt 0 ]; then
        check_eq "$label: exactly one call was failed" 1 "$INJECTED"
    fi

    health=ok
    if [ "$INJECTED" = 0 ]; then
        check_eq "$label: upload answers 201" 201 "$st"
        if [ "$st" = 201 ] && [[ $(<"$RESP_BODY") =~ \"id\":([0-9]+) ]]; then
            expect_must "${BASH_REMATCH[1]}" "$sha" "$size"
            http GET "/v1/checkpoints/${BASH_REMATCH[1]}/blob"
            check "$label: the acknowledged checkpoint downloads intact" cmp -s "$f" "$RESP_BODY"
        fi
    else
        expect_content "$sha" "$size"
        case $err/$sc in
        EIO/*) want="500 internal_error" ;;
        ENOSPC/fsync | ENOSPC/fdatasync) want="500 internal_error|507 insufficient_storage" ;;
        ENOSPC/*) want="507 insufficient_storage" ;;
        esac
        check_match "$label: answers $want" "$want" "$st $code"
        case $sc in fsync | fdatasync) health=read_only ;; esac
    fi
    check "$label: ckptd is still running" is_alive "$CKPTD_PID"
    # A failed sync of the index's WAL leaves the commit's outcome open (proto/API.md, "When
    # the disk fails"): the frames may be replayed at the next open. ckptd keeps the blob, goes
    # read-only, and after a restart the checkpoint is either there, intact, or its blob is
    # swept to quarantine/. Checked after the restart, adopting that one upload.
    case $sc/$TARGET in
    fsync/*index.db-wal* | fdatasync/*index.db-wal*)
        check_eq "$label: /healthz says read_only" '"read_only"' "$(curl -s "$BASE/healthz" | jq .status)"
        restart
        unswept() { [ -z "$(find "$D/blobs" -name "$sha" 2>/dev/null)" ] || \
            curl -s "$BASE/v1/runs/inj/checkpoints?limit=1000" | grep -q "$sha"; }
        wait_for 5 unswept
        verify_state "$label, then kill -9 and restart (outcome open: adopted if committed)" \
            --adopt --repair --prune 4,100000000 --healthz ok
        return 0
        ;;
    esac
    # The invariants, /healthz (read_only exactly after a failed sync) and the fd count. A
    # read-only daemon cannot delete: pruning (and repairing) waits for the restart then.
    tidy=(--repair --prune 4,100000000)
    [ "$health" = read_only ] && tidy=()
    verify_state "$label" --wait-tmp 3 "${tidy[@]}" --healthz "$health" --pid "$CKPTD_PID" \
        --fds "$BASE_FDS"
    if [ "$health" = read_only ] || [ "$RESTART_EACH" = 1 ]; then
        restart
        verify_state "$label, then kill -9 and restart" --repair --prune 4,100000000 --healthz ok
    fi
    return 0
}

# sweep SYSCALL ERRNO NLIST [STRACE ARGS...]: one_run for each N in NLIST until an upload runs
# past every injection point (then that mode is done).
sweep()
{
    local sc=$1 err=$2 nlist=$3 n
    shift 3
    for n in $nlist; do
        one_run "$sc" "$err" "$n" "$@"
        [ "$INJECTED" = 0 ] && return 0
    done
    fail "$sc $err: an upload ran past the last injection point within N in {$nlist}"
}

# Body pieces are about 32 KB (half of ckptd's 64 KiB connection pool): up to 12 writes for a
# 380 KB upload; 24 leaves room for short pieces.
NS=$(seq -s ' ' 1 24)
for err in EIO ENOSPC; do
    RESTART_EACH=0
    # The body written to the temp file (one HTTP thread).
    sweep write "$err" "$NS"
    # The temp file's creation. -P: only calls on DATA/tmp count, not a lazy open elsewhere in
    # the same thread (glibc's first malloc in a thread reads /sys/devices/system/cpu/online).
    sweep openat "$err" "1 2" -P "$REAL_D/tmp"
    # openat on the blob directory (the commit opens blobs/ab to fsync it): -P limits tracing,
    # and so the count, to calls on DATA/blobs.
    sweep openat "$err" "1 2" -P "$REAL_D/blobs"
    sweep renameat2 "$err" "1 2"
    # Syncs: the temp file, then the index WAL (fdatasync); blobs/ab, then blobs/ (fsync).
    sweep fdatasync "$err" "1 2 3"
    sweep fsync "$err" "1 2 3"
    # The index commit's writes to index.db-wal (SQLite's pwrite64), then a kill -9 each time:
    # a failed commit must not come back from the WAL.
    RESTART_EACH=1
    sweep pwrite64 "$err" "1 2 4 8 12 14 16 18 20 24 28 32"
done
stop_ckptd
