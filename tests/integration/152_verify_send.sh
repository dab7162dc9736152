#!/usr/bin/env bash
# Serving never completes a download with wrong bytes. A blob not verified by the scrub since it
# was written is hashed while it is sent: a byte flipped behind the daemon's back (while it runs)
# makes the download fail short of its length (curl errors out, never 200 with the full length),
# and the blob is then quarantined and its checkpoint flagged corrupt (409 from then on). A blob
# whose size differs from the index is never served. Healthy blobs download intact both ways
# (hashed while sent, and by sendfile once the scrub, or a whole hashed download, verified
# them), with HEAD and ranges too.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary
start_ckptd --scrub-rate 0 || bail "ckptd starts"

SIZE=5000000
rand_file "$WORK/a" $SIZE
rand_file "$WORK/b" $SIZE
rand_file "$WORK/c" $SIZE
upload v "epoch=1" "$WORK/a"
A=$(jbody .id)
SHA_A=$(jbody .sha256)
upload v "epoch=2" "$WORK/b"
B=$(jbody .id)
SHA_B=$(jbody .sha256)
upload v "epoch=3" "$WORK/c"
C=$(jbody .id)
SHA_C=$(jbody .sha256)

# ---------------------------------------------------------------- healthy, both paths
http GET "/v1/checkpoints/$B/blob"
expect_status "a blob never scrubbed downloads: 200" 200
check "  ... intact (hashed while sent)" cmp -s "$RESP_BODY" "$WORK/b"
check_eq "  ... with Content-Length $SIZE" "$SIZE" "$(header Content-Length)"
http HEAD "/v1/checkpoints/$B/blob"
check_eq "HEAD of it: 200 with Content-Length $SIZE" "200 $SIZE" "$STATUS $(header Content-Length)"
http GET "/v1/checkpoints/$B/blob" -H "Range: bytes=1000-1999"
check_eq "a range of it: 206, 1000 bytes" "206 1000" "$STATUS $(stat -c %s "$RESP_BODY")"
check "  ... the right ones" cmp -s "$RESP_BODY" <(tail -c +1001 "$WORK/b" | head -c 1000)

# ---------------------------------------------------------------- flipped while running
flip_bit "$(blob_path "$SHA_A")" 4000000
out=$(curl -s -o "$WORK/a.out" -w '%{http_code} %{size_download}' --max-time 30 "$BASE/v1/checkpoints/$A/blob")
rc=$?
check "a download of a blob flipped behind the daemon's back fails in curl (exit $rc)" [ "$rc" -ne 0 ]
got=${out#* }
check "  ... short of its length ($got of $SIZE bytes): never a complete response" [ "$got" -lt "$SIZE" ]
check_eq "  ... after the 200 status line went out (the abort is mid-body)" 200 "${out% *}"
check "the blob is then flagged corrupt" wait_for 5 flagged "$A"
http GET "/v1/checkpoints/$A/blob"
expect_error "  ... and a new GET answers 409 checkpoint_corrupt" 409 checkpoint_corrupt
check "  ... the blob was moved to quarantine/" test -n "$(find "$DATA/quarantine" -name "$SHA_A.*")"
check "  ... and left blobs/" test ! -e "$(blob_path "$SHA_A")"
grep -q "aborting the download of checkpoint $A" "$CKPTD_ERR"
check_eq "  ... the log says why the download was aborted" 0 "$?"

# ---------------------------------------------------------------- after a scrub: sendfile
http POST /v1/admin/scrub
check "a scrub runs" wait_for 20 scrub_idle
scrub_status
expect_json "  ... it checked B and C and found nothing wrong" '.blobs_checked == 2 and .corrupt_found == 0'
http GET "/v1/checkpoints/$B/blob"
check "a blob the scrub verified downloads intact (sendfile)" cmp -s "$RESP_BODY" "$WORK/b"
# A write through the file system changes the blob's ctime: it counts as unverified again, and
# is hashed while sent.
flip_bit "$(blob_path "$SHA_B")" 10
out=$(curl -s -o "$WORK/b.out" -w '%{size_download}' --max-time 30 "$BASE/v1/checkpoints/$B/blob")
rc=$?
check "a verified blob flipped afterwards: the download fails too (curl exit $rc, $out bytes)" \
    bash -c "[ '$rc' -ne 0 ] && [ '$out' -lt '$SIZE' ]"
check "  ... and it is flagged corrupt" wait_for 5 flagged "$B"

# ---------------------------------------------------------------- wrong size
truncate -s 4000000 "$(blob_path "$SHA_C")"
http GET "/v1/checkpoints/$C/blob"
expect_error "a blob truncated while running is never served: 409 checkpoint_corrupt" 409 checkpoint_corrupt
check_eq "  ... and is flagged corrupt" true "$(is_corrupt "$C")"
http GET /v1/runs/v/latest
expect_error "latest has nothing left (all three corrupt): 404" 404 "run_not_found|checkpoint_not_found"

# ---------------------------------------------------------------- a hashed download verifies
# A whole download hashed as it was sent that matched records the blob as verified, as the scrub
# does: later downloads go out by sendfile. (A verification counts only from 1 s after the file's
# last change, VERIFY_CTIME_SLACK_MS, so wait that long after the upload.)
rand_file "$WORK/d" $SIZE
upload w "epoch=1" "$WORK/d"
D=$(jbody .id)
SHA_D=$(jbody .sha256)
sleep 1.2
verified_row()
{
    python3 -c "
import sqlite3, sys
c = sqlite3.connect('file:$DATA/index.db?mode=ro', uri=True)
sys.exit(c.execute('SELECT count(*) FROM blob_verified WHERE sha256 = ?', ('$1',)).fetchone()[0] != 1)"
}
verified_row "$SHA_D"
check_eq "a fresh blob has no verification yet" 1 "$?"
http GET "/v1/checkpoints/$D/blob"
check "its first download (hashed while sent) is intact" cmp -s "$RESP_BODY" "$WORK/d"
check "and records the blob as verified" wait_for 5 verified_row "$SHA_D"
if command -v strace >/dev/null; then
    strace -f -qq -e trace=sendfile -o "$WORK/sendfile.trace" -p "$CKPTD_PID" 2>"$WORK/strace.err" &
    SPID=$!
    sleep 1
    http GET "/v1/checkpoints/$D/blob"
    sleep 0.5
    safe_kill INT "$SPID" strace
    wait "$SPID" 2>/dev/null
    check "the next download is intact" cmp -s "$RESP_BODY" "$WORK/d"
    check "  ... and goes out by sendfile ($(grep -c sendfile "$WORK/sendfile.trace") calls)" \
        grep -q '^[0-9]* *sendfile' "$WORK/sendfile.trace"
else
    skip "sendfile after a hashed download" "SKIPPED: strace is not installed"
fi
flip_bit "$(blob_path "$SHA_D")" 10
out=$(curl -s -o "$WORK/d.out" -w '%{size_download}' --max-time 30 "$BASE/v1/checkpoints/$D/blob")
rc=$?
check "flipped afterwards, it is hashed again: the download fails (curl exit $rc, $out bytes)" \
    bash -c "[ '$rc' -ne 0 ] && [ '$out' -lt '$SIZE' ]"
check "  ... and it is flagged corrupt" wait_for 5 flagged "$D"

check "ckptd still running" is_alive "$CKPTD_PID"
stop_ckptd
harness_exit
