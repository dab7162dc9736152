#!/usr/bin/env bash
# Every failpoint of the failpoint build (ckptd-fp, CKPTD_FAILPOINT=NAME): drive the operation that
# reaches it, prove it was reached (its log line; SIGKILL for -crash points), look at what the
# crash left on disk, then restart the normal daemon on the same data directory and check the
# invariants: acknowledged checkpoints intact, nothing partial or unacknowledged visible (except
# after-index-commit-crash, whose commit must survive although the client got no 201), DATA/tmp
# empty, DATA/blobs exactly the listed blobs, quarantine whole, PRAGMA integrity_check ok. The -eio
# points must answer 500, then 503 read_only for writes while reads work.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
need_python
VERIFY_COMPACT=1
if [ ! -x "$CKPTD_FP" ]; then
    skip "failpoints" "SKIPPED: no failpoint build at $CKPTD_FP (make builds it)"
    exit 0
fi

# Every failpoint the daemon's sources define is exercised below (a new one needs a scenario).
TESTED="after-dir-fsync-crash after-index-commit-crash after-rename-crash before-fdatasync-crash"
TESTED="$TESTED dir-fsync-eio during-delete-crash during-recovery-crash fdatasync-eio"
TESTED="$TESTED mid-body-crash temp-open-crash"
# Retention's points have their scenarios in 141_retention_crash.sh.
TESTED="$TESTED after-retention-commit-crash during-retention-crash"
# Group commit's points have theirs in 156_group_commit.sh.
TESTED="$TESTED commit-batch-delay index-item-eio"
# recovery-scan-delay has its scenario in 101_shutdown.sh.
TESTED="$TESTED recovery-scan-delay"
TESTED=$(printf '%s\n' $TESTED | sort | paste -sd ' ')
defined=$(grep -ho 'failpoint("[a-z0-9-]*")' "$HARNESS_ROOT"/daemon/*.c |
    sed 's/failpoint("//; s/")//' | sort -u | paste -sd ' ')
check_eq "every failpoint in daemon/*.c has a scenario here" "$TESTED" "$defined"

rand_file "$WORK/fix1" 70001
rand_file "$WORK/fix2" 1500000
rand_file "$WORK/big" 3145728   # 3 MiB: past mid-body-crash's 1 MiB
rand_file "$WORK/small" 200003
BIG_SHA=$(sha256_hex "$WORK/big")
SMALL_SHA=$(sha256_hex "$WORK/small")
FIX1_SHA=$(sha256_hex "$WORK/fix1")
FIX2_SHA=$(sha256_hex "$WORK/fix2")

# The fixture: a stopped data dir with two committed checkpoints (ids FIX1, FIX2). Each scenario
# starts from a copy of it (fresh_store: sets D and the expectations).
TEMPLATE=$(new_tmpdir)
start_ckptd_on "$TEMPLATE" || bail "ckptd starts on a fresh data dir"
upload fp "epoch=1" "$WORK/fix1" -H "X-Checkpoint-SHA256: $FIX1_SHA"
[ "$STATUS" = 201 ] || bail "fixture upload 1 answers 201" "HTTP $STATUS $(body_head)"
FIX1=$(jbody .id)
upload fp "epoch=2" "$WORK/fix2" -H "X-Checkpoint-SHA256: $FIX2_SHA"
[ "$STATUS" = 201 ] || bail "fixture upload 2 answers 201" "HTTP $STATUS $(body_head)"
FIX2=$(jbody .id)
stop_ckptd "fixture daemon exits 0 on SIGTERM"
fresh_store()
{
    D=$(new_tmpdir)
    cp -a "$TEMPLATE/." "$D/"
    expect_reset
    expect_must "$FIX1" "$FIX1_SHA" 70001
    expect_must "$FIX2" "$FIX2_SHA" 1500000
    expect_content "$BIG_SHA" 3145728
    expect_content "$SMALL_SHA" 200003
}

# start_fp NAME: start the failpoint build on $D with NAME armed.
start_fp()
{
    CKPTD=$CKPTD_FP CKPTD_FAILPOINT=$1 start_ckptd_on "$D" || bail "ckptd-fp starts with $1 armed"
    FP_ERR=$CKPTD_ERR
}

# crash_op NAME CMD...: run CMD (a client request, its output in $st) against the daemon armed
# with crash point NAME, then check that the daemon died by SIGKILL there.
crash_op()
{
    local name=$1
    shift
    # stderr off: bash would report the killed background job ("Killed ...").
    {
        st=$("$@")
        reap "$CKPTD_PID" 10
    } 2>/dev/null
    check_eq "$name: ckptd-fp is killed by SIGKILL at the failpoint (exit 137)" 137 "$EXIT_RC"
    check "$name: the log says 'failpoint $name reached'" failpoint_reached "$name" "$FP_ERR"
    CKPTD_PIDS=()
}

# no_answer DESC STATUS: curl saw no final status (000, or only the interim 100 Continue).
no_answer()
{
    check_match "$1" '000|100' "$2"
}

# restart_normal NAME: restart the normal daemon on $D; it must be ready within 2 s.
restart_normal()
{
    start_timed "$D" || bail "$1: the normal ckptd restarts on the same data dir"
    check "$1: the normal ckptd is ready within 2 s of the restart (${READY_MS} ms)" \
        [ "$READY_MS" -le 2000 ]
}

# put_status FILE [QUERY]: upload FILE to run fp, print the HTTP status (000 if none).
put_status()
{
    curl -s -o "$RESP_BODY" -w '%{http_code}' --max-time 30 -T "$1" \
        -H "X-Checkpoint-SHA256: $(sha256_hex "$1")" "$BASE/v1/runs/fp/checkpoints${2:+?$2}" \
        2>/dev/null
}

# ---------------------------------------------------------------- crashes before the commit
for fp in temp-open-crash mid-body-crash before-fdatasync-crash; do
    fresh_store
    start_fp "$fp"
    crash_op "$fp" put_status "$WORK/big"
    no_answer "$fp: the client gets no answer" "$st"
    # What the crash left in DATA/tmp: one temp file, of a size that says where it stopped.
    left=$(find "$D/tmp" -type f -printf '%s\n')
    case $fp in
    temp-open-crash) what="an empty temp file" min=0 max=0 ;;
    mid-body-crash) what="a partial temp file (0 < size < 3 MiB)" min=1 max=3145727 ;;
    before-fdatasync-crash) what="the whole body in a temp file" min=3145728 max=3145728 ;;
    esac
    if [ "$(printf '%s\n' "$left" | grep -c .)" = 1 ] && [ "$left" -ge "$min" ] &&
        [ "$left" -le "$max" ]; then
        ok "$fp: the crash left $what in DATA/tmp ($left bytes)"
    else
        fail "$fp: the crash left $what in DATA/tmp" "temp file sizes: $(echo $left)"
    fi
    check_eq "$fp: no blob file was created" "" \
        "$(find "$D/blobs" -name "$BIG_SHA" 2>/dev/null)"
    restart_normal "$fp"
    verify_state "$fp"
    http GET /v1/runs/fp/checkpoints?min_epoch=0
    check_eq "$fp: the run lists only the two fixtures" "$FIX1 $FIX2" \
        "$(jbody '[.checkpoints[].id] | map(tostring) | join(" ")')"
    stop_ckptd "$fp: ckptd exits 0 on SIGTERM"
done

# ---------------------------------------------------------------- crashes between rename and commit
for fp in after-rename-crash after-dir-fsync-crash; do
    fresh_store
    start_fp "$fp"
    crash_op "$fp" put_status "$WORK/small"
    no_answer "$fp: the client gets no answer" "$st"
    bp=$D/blobs/${SMALL_SHA:0:2}/$SMALL_SHA
    check "$fp: the crash left the whole blob at blobs/${SMALL_SHA:0:2}/<sha>" \
        bash -c "[ \"\$(sha256sum '$bp' | cut -d' ' -f1)\" = $SMALL_SHA ]"
    restart_normal "$fp"
    check "$fp: at restart the unreferenced blob leaves DATA/blobs" test ! -e "$bp"
    check "$fp: and is in DATA/quarantine as <sha>.<ms>" quarantined "$SMALL_SHA"
    check "$fp: the log says it moved the blob to quarantine" \
        grep -q "moved unreferenced blob $SMALL_SHA to quarantine" "$CKPTD_ERR"
    http GET /v1/runs/fp/checkpoints
    check_eq "$fp: no checkpoint row for the blob" 0 \
        "$(jbody "[.checkpoints[] | select(.sha256 == \"$SMALL_SHA\")] | length")"
    verify_state "$fp"
    stop_ckptd "$fp: ckptd exits 0 on SIGTERM"
done

# ---------------------------------------------------------------- crash after the commit
fp=after-index-commit-crash
fresh_store
start_fp "$fp"
crash_op "$fp" put_status "$WORK/small" "epoch=77&loss=0.25&metric.acc=0.5"
no_answer "$fp: the client gets no answer (no 201)" "$st"
restart_normal "$fp"
http GET /v1/runs/fp/checkpoints?min_epoch=77
check_eq "$fp: the committed checkpoint is there after restart" 1 "$(jbody '.checkpoints | length')"
expect_json "$fp: with its size, SHA-256 and metadata" \
    ".checkpoints[0] | .sha256 == \"$SMALL_SHA\" and .size == 200003 and .loss == 0.25 and
     .metrics.acc == 0.5 and .corrupt == false"
nid=$(jbody '.checkpoints[0].id')
http GET "/v1/checkpoints/$nid/blob"
check "$fp: its blob downloads intact" cmp -s "$WORK/small" "$RESP_BODY"
check "$fp: its blob was not quarantined" test -e "$D/blobs/${SMALL_SHA:0:2}/$SMALL_SHA"
verify_state "$fp" --adopt --expect-new "$SMALL_SHA"
stop_ckptd "$fp: ckptd exits 0 on SIGTERM"

# ---------------------------------------------------------------- crash in a delete
fp=during-delete-crash
for shared in no yes; do
    label=$fp
    [ "$shared" = yes ] && label="$fp (blob shared by another checkpoint)"
    fresh_store
    if [ "$shared" = yes ]; then
        # A second checkpoint with FIX1's bytes: the blob must outlive the deleted row.
        start_ckptd_on "$D" || bail "ckptd starts"
        upload fp "epoch=9" "$WORK/fix1"
        twin=$(jbody .id)
        expect_must "$twin" "$FIX1_SHA" 70001
        stop_ckptd "ckptd exits 0"
    fi
    sha1=$FIX1_SHA
    start_fp "$fp"
    crash_op "$fp" curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X DELETE \
        "$BASE/v1/checkpoints/$FIX1"
    no_answer "$label: the client gets no answer" "$st"
    restart_normal "$label"
    http GET "/v1/checkpoints/$FIX1"
    expect_error "$label: the deleted row is gone after restart (404)" 404 checkpoint_not_found
    expect_gone "$FIX1"
    if [ "$shared" = yes ]; then
        check "$label: the shared blob stays in DATA/blobs" test -e "$D/blobs/${sha1:0:2}/$sha1"
        http GET "/v1/checkpoints/$twin/blob"
        check "$label: the other checkpoint still downloads intact" cmp -s "$WORK/fix1" "$RESP_BODY"
    else
        check "$label: its blob is gone from DATA/blobs (removed or quarantined)" \
            test ! -e "$D/blobs/${sha1:0:2}/$sha1"
    fi
    verify_state "$label"
    stop_ckptd "$label: ckptd exits 0 on SIGTERM"
done

# ---------------------------------------------------------------- crash in the recovery scan
fp=during-recovery-crash
fresh_store
sha2=$FIX2_SHA
rm -f "$D/blobs/${sha2:0:2}/$sha2"   # a lost blob, so that the scan has something to flag
expect_corrupt "$FIX2"
CKPTD_FAILPOINT=$fp "$CKPTD_FP" --listen 127.0.0.1:0 --data "$D" >"$WORK/rec.out" 2>"$WORK/rec.err" \
    </dev/null &
rp=$!
CKPTD_PIDS+=("$rp")
{ reap "$rp" 10; } 2>/dev/null
check_eq "$fp: ckptd-fp is killed by SIGKILL in the background scan (exit 137)" 137 "$EXIT_RC"
check "$fp: the log says 'failpoint $fp reached'" failpoint_reached "$fp" "$WORK/rec.err"
CKPTD_PIDS=()
restart_normal "$fp"
check "$fp: the next start flags the checkpoint whose blob is missing" \
    wait_for 5 bash -c "[ \"\$(curl -s $BASE/v1/checkpoints/$FIX2 | jq .corrupt)\" = true ]"
http GET "/v1/checkpoints/$FIX2/blob"
expect_error "$fp: its bytes are not served" 409 checkpoint_corrupt
http GET /healthz
expect_json "$fp: /healthz says ok" '.status == "ok"'
verify_state "$fp"
stop_ckptd "$fp: ckptd exits 0 on SIGTERM"

# ---------------------------------------------------------------- failed syncs: read-only
for fp in fdatasync-eio dir-fsync-eio; do
    fresh_store
    start_fp "$fp"
    st=$(put_status "$WORK/small")
    check_eq "$fp: the upload answers 500" 500 "$st"
    check_eq "$fp: with code internal_error" internal_error "$(jbody .error.code)"
    check "$fp: the log says 'failpoint $fp reached'" failpoint_reached "$fp" "$FP_ERR"
    st=$(put_status "$WORK/fix1")
    check_eq "$fp: the next upload answers 503 read_only" "503 read_only" "$st $(jbody .error.code)"
    http DELETE "/v1/checkpoints/$FIX2"
    expect_error "$fp: DELETE answers 503 read_only" 503 read_only
    http GET /healthz
    expect_json "$fp: /healthz answers read_only" '.status == "read_only" and .read_only == true'
    http GET "/v1/checkpoints/$FIX2/blob"
    check "$fp: reads keep working (the fixture downloads intact)" cmp -s "$WORK/fix2" "$RESP_BODY"
    check "$fp: nothing was stored (no blob file for the upload)" \
        test ! -e "$D/blobs/${SMALL_SHA:0:2}/$SMALL_SHA"
    check "$fp: no temp file is left" wait_for 3 tmp_is_empty
    stop_ckptd "$fp: ckptd-fp exits 0 on SIGTERM"
    CKPTD_PIDS=()
    restart_normal "$fp"
    verify_state "$fp"
    st=$(put_status "$WORK/small")
    check_eq "$fp: after a restart uploads work again (201)" 201 "$st"
    stop_ckptd "$fp: ckptd exits 0 on SIGTERM"
done
