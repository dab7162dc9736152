#!/usr/bin/env bash
# /readyz, the readiness probe: 200 {"status":"ready","checks":{...}} with the four checks "ok";
# open without a token (like /healthz) while /metrics needs one; 503 not_ready with
# "read_only":"failed: ..." after a failed fdatasync (failpoint build, CKPTD_FAILPOINT=fdatasync-eio)
# while /healthz stays 200 (liveness) and /metrics shows ckptd_read_only 1 and one fsync failure;
# then, on a small tmpfs in a private mount namespace (root only, skipped visibly otherwise),
# "disk" failing when free space falls to the reserve and "data_dir_writable" failing when tmp/
# is a read-only bind mount, each recovering when the cause goes.

# Re-run in a private mount namespace (mounts vanish with the process) when we can.
if [ "${CKPTD_READYZ_NS:-}" != 1 ] && [ "$(id -u)" = 0 ] &&
    unshare -m --propagation private true 2>/dev/null; then
    CKPTD_READYZ_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
PROMCHECK=$HARNESS_ROOT/tests/lib/promcheck.py

CHECKS='["data_dir_writable","disk","index","read_only"]'

# ---------------------------------------------------------------- ready
start_ckptd || bail "ckptd starts"
http GET /readyz
expect_status "/readyz answers 200 on a healthy store" 200
check_match "it is JSON" 'application/json.*' "$(header Content-Type)"
expect_json "status is ready and every check says ok" \
    ".status == \"ready\" and (.checks | keys) == $CHECKS and ([.checks[]] | all(. == \"ok\"))"
http HEAD /readyz
expect_status "HEAD /readyz answers 200" 200
http GET "/readyz?verbose=1"
expect_error "/readyz with a query parameter answers 400 unknown_parameter" 400 unknown_parameter
http POST /readyz
expect_error "POST /readyz answers 405" 405 method_not_allowed

"$CKPTD" token add probe --role read --data "$DATA" >/dev/null 2>&1
http GET /readyz
expect_status "once tokens exist, /readyz stays open without one" 200
http GET /healthz
expect_status "and so does /healthz" 200
http GET /metrics
expect_error "while /metrics needs a token" 401 unauthorized
stop_ckptd

# ---------------------------------------------------------------- not ready: read-only after a failed fsync
if [ ! -x "$CKPTD_FP" ]; then
    skip "readyz after a failed fsync" "SKIPPED: no failpoint build at $CKPTD_FP (make builds it)"
else
    CKPTD=$CKPTD_FP CKPTD_FAILPOINT=fdatasync-eio start_ckptd ||
        bail "ckptd-fp starts with fdatasync-eio armed"
    http GET /readyz
    expect_status "the failpoint build is ready before the fault" 200
    rand_file "$WORK/a" 50000
    upload ro "epoch=1" "$WORK/a"
    expect_error "the upload whose fdatasync fails answers 500" 500 internal_error
    check "the failpoint was reached" failpoint_reached fdatasync-eio "$CKPTD_ERR"
    http GET /readyz
    expect_status "/readyz now answers 503" 503
    expect_json "status not_ready, read_only failed with a reason, the other checks ok" \
        '.status == "not_ready" and (.checks.read_only | startswith("failed: ")) and
         .checks.index == "ok" and .checks.disk == "ok" and .checks.data_dir_writable == "ok"'
    diag "read_only: $(jbody .checks.read_only)"
    http GET /healthz
    expect_status "/healthz (liveness) still answers 200" 200
    expect_json "and says read_only" '.status == "read_only"'
    http GET /metrics
    cp "$RESP_BODY" "$WORK/ro.prom"
    check "the read-only scrape passes the grammar" python3 "$PROMCHECK" check "$WORK/ro.prom"
    check_eq "ckptd_read_only is 1" 1 "$(python3 "$PROMCHECK" value "$WORK/ro.prom" ckptd_read_only)"
    check_eq "ckptd_fsync_failures_total is 1" 1 \
        "$(python3 "$PROMCHECK" value "$WORK/ro.prom" ckptd_fsync_failures_total)"
    stop_ckptd "ckptd-fp exits 0 on SIGTERM"
    CKPTD_FAILPOINT= start_ckptd_on "$DATA" || bail "the normal ckptd restarts on that data dir"
    http GET /readyz
    expect_status "after a restart the store is ready again" 200
    stop_ckptd
fi

# ---------------------------------------------------------------- not ready: disk and writability
SMALL=$WORK/small
test_cleanup()
{
    if [ -n "${CKPTD_PID:-}" ] && safe_kill KILL "$CKPTD_PID" "$CKPTD"; then
        wait "$CKPTD_PID" 2>/dev/null
    fi
    mountpoint -q "$SMALL/data/tmp" 2>/dev/null && umount "$SMALL/data/tmp"
    mountpoint -q "$SMALL" 2>/dev/null && umount "$SMALL"
    return 0
}
mkdir -p "$SMALL"
if [ "${CKPTD_READYZ_NS:-}" != 1 ] || ! mount -t tmpfs -o size=24m tmpfs "$SMALL" 2>"$WORK/mount.err"; then
    skip "readyz disk and data_dir_writable" \
        "SKIPPED: cannot mount a 24 MiB tmpfs (needs root and unshare): $(head -c 100 "$WORK/mount.err" 2>/dev/null)"
    exit 0
fi
start_ckptd_on "$SMALL/data" || bail "ckptd starts on a 24 MiB tmpfs"
http GET /readyz
expect_status "ready on a 24 MiB tmpfs" 200
free=$(df -B1 --output=avail "$SMALL" | tail -n 1 | tr -d ' ')
# Leave 4 MiB: below the 8 MiB minimum (the size of DATA/reserve).
fallocate -l $((free - 4194304)) "$SMALL/filler" 2>/dev/null || head -c $((free - 4194304)) /dev/zero >"$SMALL/filler"
http GET /readyz
expect_status "with 4 MiB free /readyz answers 503" 503
expect_json "disk failed (with the free bytes), the other checks ok" \
    '.status == "not_ready" and (.checks.disk | startswith("failed: ")) and .checks.index == "ok" and
     .checks.read_only == "ok" and .checks.data_dir_writable == "ok"'
diag "disk: $(jbody .checks.disk)"
rm -f "$SMALL/filler"
http GET /readyz
expect_status "with the space back it answers 200" 200
# tmp/ made read-only by a read-only bind mount over it (a remount of the whole filesystem is
# refused while the index is open for writing; root ignores permission bits).
mount --bind "$DATA/tmp" "$DATA/tmp" && mount -o remount,bind,ro "$DATA/tmp"
check "tmp/ is now on a read-only bind mount" bash -c "! touch '$DATA/tmp/probe' 2>/dev/null"
http GET /readyz
expect_status "with tmp/ read-only /readyz answers 503" 503
expect_json "data_dir_writable failed, naming the cause; the other checks ok" \
    '.status == "not_ready" and .checks.data_dir_writable == "failed: Read-only file system" and
     .checks.index == "ok" and .checks.read_only == "ok" and .checks.disk == "ok"'
umount "$DATA/tmp"
http GET /readyz
expect_status "writable again: 200" 200
stop_ckptd
umount "$SMALL"
