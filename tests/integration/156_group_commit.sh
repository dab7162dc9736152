#!/usr/bin/env bash
# Group commit: uploads whose blobs are synced at the same moment share one index transaction
# (store.c commit_batch). The failpoint build's commit-batch-delay point holds each batch for
# 300 ms so that concurrent uploads queue behind it, which makes batches certain rather than
# timing-dependent. Checked: uploads really are batched (ckptd_commit_batches_total below
# ckptd_commit_batch_uploads_total); every 201 is a checkpoint that downloads intact; one item
# failing inside a batch (index-item-eio, for run "failpoint-item") answers 500 and leaves no row
# and no blob while its batch-mates commit; identical bytes uploaded together into a run whose
# policy keeps only the newest keep exactly one checkpoint and its blob; after a restart of the
# normal daemon, fsck finds nothing wrong.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
CKPTD_FP=${CKPTD_FP:-$BUILD_DIR/ckptd-fp}
if [ ! -x "$CKPTD_FP" ]; then
    skip "group commit" "SKIPPED: no failpoint build at $CKPTD_FP (make builds it)"
    exit 0
fi

D=$(new_tmpdir)
CKPTD=$CKPTD_FP CKPTD_FAILPOINT=commit-batch-delay,index-item-eio start_ckptd_on "$D" ||
    bail "ckptd-fp starts with commit-batch-delay and index-item-eio armed"

# metric NAME: the sample of an unlabelled metric.
metric()
{
    curl -s "$BASE/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# put_bg NAME RUN FILE: upload FILE to RUN in the background, the status and body to $WORK/NAME.*
put_bg()
{
    curl -s -o "$WORK/$1.body" -w '%{http_code}' --max-time 60 -T "$3" \
        -H "X-Checkpoint-SHA256: $(sha256_hex "$3")" \
        "$BASE/v1/runs/$2/checkpoints?step=${1//[!0-9]/}" >"$WORK/$1.status" 2>/dev/null &
}

# 1. Twelve concurrent uploads: eight good ones, four into the run whose inserts fail.
for i in $(seq 1 12); do
    rand_file "$WORK/f$i" $((50000 + i * 1000))
done
b0=$(metric ckptd_commit_batches_total)
u0=$(metric ckptd_commit_batch_uploads_total)
pids=()
for i in $(seq 1 12); do
    run=good
    [ $((i % 3)) = 0 ] && run=failpoint-item
    put_bg "u$i" "$run" "$WORK/f$i"
    pids+=($!)
done
wait "${pids[@]}"
b1=$(metric ckptd_commit_batches_total)
u1=$(metric ckptd_commit_batch_uploads_total)
batches=$((b1 - b0))
carried=$((u1 - u0))
diag "12 concurrent uploads: $batches group commits carried $carried uploads"
check_eq "every one of the 12 uploads went through a group commit" 12 "$carried"
check "the 12 uploads took fewer group commits than uploads ($batches)" \
    bash -c "[ $batches -ge 1 ] && [ $batches -lt 12 ]"

good=0
for i in $(seq 1 12); do
    st=$(<"$WORK/u$i.status")
    if [ $((i % 3)) = 0 ]; then
        check_match "upload $i (run failpoint-item, its insert fails): 500 internal_error" \
            '500 .*"code":"internal_error".*' "$st $(<"$WORK/u$i.body")"
        check "upload $i: no blob file for its bytes" \
            test ! -e "$(blob_path "$(sha256_hex "$WORK/f$i")")"
    else
        check_eq "upload $i (run good): 201" 201 "$st"
        id=$(jq -r .id <"$WORK/u$i.body")
        http GET "/v1/checkpoints/$id/blob"
        check "upload $i: checkpoint $id downloads intact" cmp -s "$WORK/f$i" "$RESP_BODY"
        good=$((good + 1))
    fi
done
check_eq "run good lists its 8 checkpoints" 8 "$(run_count good)"
check_eq "run failpoint-item has none" 0 "$(run_count failpoint-item)"
check_eq "the blob store holds exactly the 8 committed blobs" 8 "$(blob_count)"
check "DATA/tmp is empty again" wait_for 5 tmp_is_empty

# 2. The same bytes six times at once into a run that keeps only its newest checkpoint: inside
# one batch, a later item's retention drops an earlier row of the same blob; the blob must stay
# for the row that remains.
http PUT /v1/runs/newest/policy -d '{"keep_last":1}'
expect_status "PUT policy keep_last 1 on run newest: 200" 200
rand_file "$WORK/same" 77777
pids=()
for i in $(seq 1 6); do
    put_bg "s$i" newest "$WORK/same"
    pids+=($!)
done
wait "${pids[@]}"
n201=0
for i in $(seq 1 6); do
    [ "$(<"$WORK/s$i.status")" = 201 ] && n201=$((n201 + 1))
done
check_eq "the six identical uploads all answer 201" 6 "$n201"
check_eq "run newest keeps exactly one checkpoint" 1 "$(run_count newest)"
http GET /v1/runs/newest/latest
id=$(jbody .id)
http GET "/v1/checkpoints/$id/blob"
check "the one left (id $id) downloads intact: its blob survived its batch-mates' retention" \
    cmp -s "$WORK/same" "$RESP_BODY"
check "the blob of the identical bytes is on disk" test -f "$(blob_path "$(sha256_hex "$WORK/same")")"

stop_ckptd "ckptd-fp exits 0 on SIGTERM"

# 3. The normal daemon on the same data: everything acknowledged is there; fsck is clean.
out=$("$CKPTD" fsck --data "$D" 2>&1)
rc=$?
check_eq "ckptd fsck on the data directory: exit 0" 0 "$rc"
diag "$out"
start_ckptd_on "$D" || bail "ckptd restarts on the same data"
check_eq "after the restart run good still lists 8" 8 "$(run_count good)"
check_eq "after the restart run newest still lists 1" 1 "$(run_count newest)"
stop_ckptd
harness_exit
