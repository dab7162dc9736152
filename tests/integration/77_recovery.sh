#!/usr/bin/env bash
# Startup recovery and disk failure: unreferenced blobs go to DATA/quarantine/, checkpoints whose
# blob is missing or the wrong size are flagged corrupt (listed, never served: 409, skipped by
# best/latest), a damaged index refuses to start, and a failed fdatasync makes ckptd refuse writes
# (503 read_only) while reads keep working.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"
for i in 1 2 3; do
    rand_file "$WORK/f$i" $((5000 + i))
    upload rec "epoch=$i&loss=0.$i" "$WORK/f$i"
done
H1=$(sha256_hex "$WORK/f1")
H2=$(sha256_hex "$WORK/f2")
H3=$(sha256_hex "$WORK/f3")
stop_ckptd

# With the daemon stopped: lose blob 1, truncate blob 3, add an unreferenced blob.
rm -f "$(blob_path "$H1")"
truncate -s 100 "$(blob_path "$H3")"
orphan=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mkdir -p "$DATA/blobs/01"
echo junk >"$DATA/blobs/01/$orphan"
start_ckptd_on "$DATA" || bail "ckptd restarts"

check "the unreferenced blob is moved out of blobs/" wait_for 3 test ! -e "$DATA/blobs/01/$orphan"
check "into quarantine/" bash -c "ls '$DATA/quarantine/' | grep -q '^$orphan\.'"
corrupt_of() { http GET "/v1/checkpoints/$1" && jbody .corrupt; }
check "the checkpoint whose blob is missing is flagged corrupt (background scan)" \
    wait_for 5 bash -c "[ \"\$(curl -s $BASE/v1/checkpoints/1 | jq .corrupt)\" = true ]"
check_eq "the checkpoint whose blob was truncated is flagged corrupt" true "$(corrupt_of 3)"
check_eq "the healthy checkpoint is not" false "$(corrupt_of 2)"
http GET /v1/checkpoints/1/blob
expect_error "a corrupt checkpoint's blob answers 409 checkpoint_corrupt" 409 checkpoint_corrupt
http GET /v1/checkpoints/3/blob
expect_error "a truncated blob is never served" 409 checkpoint_corrupt
http GET /v1/runs/rec/latest
check_eq "latest skips the corrupt newest checkpoint" 2 "$(jbody .id)"
http GET "/v1/runs/rec/best?mode=max"
check_eq "best skips corrupt checkpoints" 2 "$(jbody .id)"
http GET /v1/runs/rec/checkpoints
check_eq "listings still show all three, with the flag" '[true,false,true]' "$(jq -c '[.checkpoints[].corrupt]' <"$RESP_BODY")"
check "the log names the damaged blobs" grep -q "$H1 is missing or the wrong size" "$CKPTD_ERR"

# A blob damaged while the daemon runs is caught when served.
rand_file "$WORK/f4" 7000
upload rec "epoch=4" "$WORK/f4"
id4=$(jbody .id)
truncate -s 10 "$(blob_path "$(sha256_hex "$WORK/f4")")"
http GET "/v1/checkpoints/$id4/blob"
expect_error "a blob truncated under a running daemon is refused with 409, not served short" 409 checkpoint_corrupt
check_eq "and its checkpoint is flagged from then on" true "$(corrupt_of "$id4")"
stop_ckptd

# A damaged index: ckptd refuses to start and says why.
D2=$(new_tmpdir)
start_ckptd_on "$D2" || bail "second ckptd starts"
for i in $(seq 1 50); do upload idx "epoch=$i" "$WORK/f2" >/dev/null; done
stop_ckptd
size=$(stat -c %s "$D2/index.db")
# overwrite the middle pages with garbage (the header stays, so it still opens)
dd if=/dev/urandom of="$D2/index.db" bs=4096 seek=2 count=$((size / 4096 - 3)) conv=notrunc 2>/dev/null
timeout 10 "$CKPTD" --listen 127.0.0.1:0 --data "$D2" >"$WORK/bad.out" 2>"$WORK/bad.err"
check_eq "ckptd refuses to start on a damaged index (exit 1)" 1 "$?"
check "and says it cannot open the data directory" grep -q "cannot open" "$WORK/bad.err"

# A failed fdatasync (failpoint build): the upload fails, later writes get 503 read_only, reads
# keep working.
FP=${CKPTD_FP:-$(dirname "$CKPTD")/ckptd-fp}
if [ -x "$FP" ]; then
    D3=$(new_tmpdir)
    CKPTD_REAL=$CKPTD
    CKPTD=$FP CKPTD_FAILPOINT=fdatasync-eio start_ckptd_on "$D3" || bail "failpoint ckptd starts"
    s=$(curl -s -o "$RESP_BODY" -w '%{http_code}' -T "$WORK/f2" "$BASE/v1/runs/ro/checkpoints")
    check_eq "an upload whose fdatasync fails answers 500" 500 "$s"
    check "the failpoint was reached" grep -q 'failpoint fdatasync-eio reached' "$CKPTD_ERR"
    s=$(curl -s -o "$RESP_BODY" -w '%{http_code}' -T "$WORK/f2" "$BASE/v1/runs/ro/checkpoints")
    check_eq "the next upload answers 503 (fsync is never retried)" 503 "$s"
    check_eq "with code read_only" read_only "$(jq -r .error.code <"$RESP_BODY")"
    check_eq "/healthz says read_only" '"read_only"' "$(curl -s "$BASE/healthz" | jq .status)"
    check_eq "reads keep working" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")"
    check_eq "nothing was stored" 0 "$(find "$D3/blobs" -type f | wc -l)"
    check "no temp file is left" tmp_is_empty
    stop_ckptd
    CKPTD=$CKPTD_REAL
else
    skip "read-only after a failed fdatasync" "SKIPPED: no failpoint build at $FP"
fi
