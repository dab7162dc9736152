#!/usr/bin/env bash
# The scrub against concurrent writes: while a slow scrub runs (1 MB/s over 30 blobs), half the
# checkpoints are deleted, new ones are uploaded, and deleted content is uploaded again. None of
# that is a finding: the scrub ends with 0 corrupt and 0 missing, nothing is flagged, nothing is
# quarantined, and every remaining checkpoint downloads intact.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary
start_ckptd --scrub-rate 1 || bail "ckptd starts"

declare -a ID
for i in $(seq 1 30); do
    rand_file "$WORK/s$i" 150000
    upload race "epoch=$i" "$WORK/s$i"
    [ "$STATUS" = 201 ] || bail "upload $i answers 201"
    ID[i]=$(jbody .id)
done
http POST /v1/admin/scrub
expect_status "a scrub of 30 blobs at 1 MB/s (about 4.5 s) starts" 202
sleep 0.3
deleted=0
for i in $(seq 2 2 30); do
    http DELETE "/v1/checkpoints/${ID[i]}"
    [ "$STATUS" = 204 ] && deleted=$((deleted + 1))
done
check_eq "15 checkpoints deleted while it runs" 15 "$deleted"
check_eq "  ... and the scrub was still running then" running "$(scrub_state)"
added=0
for i in $(seq 31 40); do
    rand_file "$WORK/s$i" 150000
    upload race "epoch=$i" "$WORK/s$i"
    [ "$STATUS" = 201 ] && added=$((added + 1)) && ID[i]=$(jbody .id)
done
# Deleted content stored again: same name, a new file.
for i in 2 4 6; do
    upload race "epoch=$((100 + i))" "$WORK/s$i"
    [ "$STATUS" = 201 ] && added=$((added + 1)) && ID[100 + i]=$(jbody .id)
done
check_eq "13 uploads committed while it runs (3 of deleted content)" 13 "$added"
check "the scrub finishes" wait_for 60 scrub_idle
scrub_status
expect_json "it found nothing: 0 corrupt, 0 missing" '.corrupt_found == 0 and .missing_found == 0'
check_eq "no checkpoint is flagged corrupt" "" "$(corrupt_ids race)"
check_eq "nothing was quarantined" 0 "$(find "$DATA/quarantine" -type f | wc -l)"
good=0
for i in $(seq 1 2 30) $(seq 31 40) 102 104 106; do
    src=$WORK/s$i
    [ "$i" -gt 100 ] && src=$WORK/s$((i - 100))
    http GET "/v1/checkpoints/${ID[i]}/blob"
    [ "$STATUS" = 200 ] && cmp -s "$RESP_BODY" "$src" && good=$((good + 1))
done
check_eq "all 28 remaining checkpoints download intact" 28 "$good"
http POST /v1/admin/scrub
check "a second scrub finishes" wait_for 60 scrub_idle
scrub_status
expect_json "  ... checks the 28 blobs and finds nothing" \
    '.blobs_total == 28 and .blobs_checked == 28 and .corrupt_found == 0 and .missing_found == 0'
stop_ckptd
harness_exit
