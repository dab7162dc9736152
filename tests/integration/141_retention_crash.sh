#!/usr/bin/env bash
# kill -9 during policy application leaves either the old or the new state, never half of it
# (issue 5). With the failpoint build (ckptd-fp): SIGKILL inside the index transaction that applies
# a policy (on PUT and on an upload's commit), and right after that transaction committed but
# before the dropped blobs are unlinked. After a restart of the normal daemon: the old state
# (everything there, no policy, no new row) or the new one (dropped rows gone, their blobs swept to
# quarantine/ by the recovery scan), every listed checkpoint served whole, PRAGMA integrity ok.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/crash.sh"
need_daemon_binary
if [ ! -x "$CKPTD_FP" ]; then
    skip "retention crash points" "SKIPPED: no failpoint build at $CKPTD_FP (make builds it)"
    exit 0
fi

ids() { curl -s "$BASE/v1/runs/$1/checkpoints?limit=1000" | jq -r '[.checkpoints[].id] | join(",")'; }

# fixture D: run cr with three checkpoints (files c1..c3), no policy. Sets SHA1..SHA3.
fixture()
{
    D=$(new_tmpdir)
    start_ckptd_on "$D" || bail "ckptd starts for the fixture"
    for i in 1 2 3; do
        rand_file "$WORK/c$i" $((20000 + i))
        upload cr "epoch=$i" "$WORK/c$i"
        [ "$STATUS" = 201 ] || bail "fixture upload $i" "HTTP $STATUS $(body_head)"
        eval "SHA$i=$(sha256_hex "$WORK/c$i")"
    done
    stop_ckptd "fixture daemon stops"
}

start_fp()
{
    CKPTD=$CKPTD_FP CKPTD_FAILPOINT=$1 start_ckptd_on "$D" || bail "ckptd-fp starts with $1 armed"
    FP_ERR=$CKPTD_ERR
    FP_PID=$CKPTD_PID
}

# crash_op NAME CMD...: run CMD (its output in $st) against the daemon armed with NAME, then
# check that it died by SIGKILL there.
crash_op()
{
    local name=$1
    shift
    # stderr off: bash would report the killed background job ("Killed ...").
    {
        st=$("$@")
        reap "$FP_PID" 10
    } 2>/dev/null
    crashed "$name"
}

# crashed NAME: the armed daemon died by SIGKILL at NAME.
crashed()
{
    check_eq "$1: ckptd-fp is killed by SIGKILL at the failpoint (exit 137)" 137 "$EXIT_RC"
    check "$1: the log says 'failpoint $1 reached'" failpoint_reached "$1" "$FP_ERR"
    CKPTD_PIDS=()
}

put_policy()
{
    curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PUT -d '{"keep_last":1}' \
        "$BASE/v1/runs/cr/policy" 2>/dev/null
}
put_c4()
{
    curl -s -o /dev/null -w '%{http_code}' --max-time 20 -T "$WORK/c4" \
        "$BASE/v1/runs/cr/checkpoints?epoch=4" 2>/dev/null
}

# all_served IDS FILES...: each listed checkpoint is served byte for byte.
served()
{
    local id=$1 file=$2
    curl -s "$BASE/v1/checkpoints/$id/blob" | cmp -s - "$file"
}

integrity()
{
    check "$1: PRAGMA integrity_check is ok" \
        [ "$(/usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])" "$D/index.db")" = ok ]
}

# ---- 1. during-retention-crash on PUT policy: the old state, policy not stored
fixture
start_fp during-retention-crash
crash_op during-retention-crash put_policy
check_eq "PUT policy: the client gets no answer" 000 "$st"
start_ckptd_on "$D" || bail "the normal ckptd restarts"
check_eq "PUT policy crash: all three checkpoints are still there (old state)" "1,2,3" "$(ids cr)"
http GET /v1/runs/cr/policy
expect_json "PUT policy crash: no policy was stored" '.source == "none"'
check "checkpoint 1 served whole" served 1 "$WORK/c1"
check "checkpoint 2 served whole" served 2 "$WORK/c2"
check "checkpoint 3 served whole" served 3 "$WORK/c3"
stop_ckptd
integrity "PUT policy crash"

# ---- 2. during-retention-crash inside an upload's commit: the old state, no new row
fixture
start_ckptd_on "$D" || bail "ckptd starts"
http POST /v1/checkpoints/1/pin
http PUT /v1/runs/cr/policy -d '{"keep_last":2}'
expect_json "keep_last 2 with 1 pinned drops nothing yet" '.dropped == []'
stop_ckptd
start_fp during-retention-crash
rand_file "$WORK/c4" 30004
crash_op during-retention-crash put_c4
check_match "upload: the client gets no 201" '000|100' "$st"
start_ckptd_on "$D" || bail "the normal ckptd restarts"
check_eq "upload crash: the old three are there and the new one is not" "1,2,3" "$(ids cr)"
check "upload crash: the new blob is swept to quarantine/ as unreferenced" \
    wait_for 5 quarantined "$(sha256_hex "$WORK/c4")"
check "upload crash: the old blobs are all in place" \
    bash -c "[ -f '$(blob_path "$SHA1")' ] && [ -f '$(blob_path "$SHA2")' ] && [ -f '$(blob_path "$SHA3")' ]"
# The same upload again, without the failpoint, applies the policy.
upload cr "epoch=4" "$WORK/c4"
expect_status "the upload, retried, answers 201" 201
new=$(jbody .id)
check_eq "and the policy applies: pinned 1, last two (3 and new)" "1,3,$new" "$(ids cr)"
check "the dropped checkpoint's blob is unlinked" [ ! -e "$(blob_path "$SHA2")" ]
stop_ckptd
integrity "upload crash"

# ---- 3. after-retention-commit-crash: the new state; dropped blobs swept at the next start
fixture
start_fp after-retention-commit-crash
crash_op after-retention-commit-crash put_policy
check_eq "commit then crash: the client gets no answer" 000 "$st"
check "before the restart the dropped blobs are still on disk" \
    bash -c "[ -f '$(blob_path "$SHA1")' ] && [ -f '$(blob_path "$SHA2")' ]"
start_ckptd_on "$D" || bail "the normal ckptd restarts"
check_eq "after-commit crash: the new state (only the latest)" "3" "$(ids cr)"
http GET /v1/runs/cr/policy
expect_json "after-commit crash: the policy was stored" '.source == "run" and .policy.keep_last == 1'
check "the dropped blobs are moved to quarantine/ by the recovery scan" \
    wait_for 5 bash -c "find '$D/quarantine' -name '$SHA1.*' | grep -q . && find '$D/quarantine' -name '$SHA2.*' | grep -q ."
check "the kept checkpoint is served whole" served 3 "$WORK/c3"
check_eq "blobs/ holds exactly the one kept blob" 1 "$(blob_count)"
stop_ckptd
integrity "after-commit crash"
