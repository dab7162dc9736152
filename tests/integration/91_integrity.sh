#!/usr/bin/env bash
# Integrity end to end with the client: a blob corrupted (or truncated) on the server's disk, or
# bytes flipped in transit, make `ckpt pull` exit 3 with no output file, no temporary file and an
# existing destination untouched; bytes flipped on the way up make the server answer
# digest_mismatch, `ckpt push` exit 3, and nothing is stored. The library's view of the same
# corruption is tests/client/integrity.c.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli
start_ckptd || bail "ckptd starts"

SRC=$WORK/good.bin
rand_file "$SRC" 3000000
run_ckpt --url "$BASE" push integ "$SRC" --epoch 1 --loss 0.5
expect_rc "push a 3 MB checkpoint" 0
ID=$(cli_id)
SHA=$(sha256_hex "$SRC")
BLOB=$(blob_path "$SHA")
check "its blob is on disk at blobs/ab/<sha256>" test -f "$BLOB"

# A second, healthy checkpoint for the in-transit tests.
SRC2=$WORK/good2.bin
rand_file "$SRC2" 2000000
run_ckpt --url "$BASE" push integ2 "$SRC2"
ID2=$(cli_id)

# ---- a byte flipped in place on the server's disk
flip_byte "$BLOB" 1234567
check "the blob on disk no longer has its SHA-256" test "$(sha256_hex "$BLOB")" != "$SHA"

D=$(new_tmpdir)
run_ckpt --url "$BASE" pull "$ID" -o "$D/out.bin"
expect_rc "pull of a corrupted blob exits 3" 3
check_match "  ... and says 'ckpt: pull failed: ...'" 'ckpt: pull failed: .+' "$(head -n 1 "$ERR")"
# The server checks what it sends (issue 5): it aborts the download and flags the checkpoint
# corrupt, so the client's retry meets checkpoint_corrupt; or the client's own check speaks.
check "  ... the message names the SHA-256 mismatch or checkpoint_corrupt" \
    grep -Eq 'SHA-256|checkpoint_corrupt' "$ERR"
check "  ... no output file is created" test ! -e "$D/out.bin"
check_eq "  ... no temporary file (.out.bin.ckpt-*) is left in the directory" "" "$(ls -A "$D")"

run_ckpt --url "$BASE" pull "$ID" -o "$D/out.bin" --retries 3
expect_rc "pull of a corrupted blob with --retries 3 still exits 3 (not retried into success)" 3

cd "$D" || bail "cd $D"
run_ckpt --url "$BASE" pull "$ID"
cd - >/dev/null || bail "cd back"
expect_rc "pull of a corrupted blob to the default file name exits 3" 3
check_eq "  ... neither integ-$ID.ckpt nor a temporary file exists" "" "$(ls -A "$D")"

printf 'precious old contents\n' >"$D/keep.bin"
cp "$D/keep.bin" "$WORK/keep.orig"
run_ckpt --url "$BASE" pull "$ID" -o "$D/keep.bin"
expect_rc "pull of a corrupted blob over an existing file exits 3" 3
check "  ... the existing file is unchanged" cmp -s "$WORK/keep.orig" "$D/keep.bin"
check_eq "  ... and is the only file in the directory" "keep.bin" "$(ls -A "$D")"

# Flagged corrupt by the server, the checkpoint is skipped by best and latest: the run has no
# other, so both are "not found" (exit 2), never the damaged bytes.
run_ckpt --url "$BASE" pull integ --best -o "$D/best.bin"
expect_rc "pull --best skips the corrupted checkpoint (exit 2, not found)" 2
run_ckpt --url "$BASE" pull integ --latest -o "$D/latest.bin"
expect_rc "pull --latest skips the corrupted checkpoint (exit 2, not found)" 2
check_eq "  ... neither left a file" "keep.bin" "$(ls -A "$D")"

run_ckpt --url "$BASE" pull "$ID" -o -
expect_rc "pull -o - of a corrupted blob exits 3 (the bytes on stdout must be discarded)" 3

L=$(new_tmpdir)
run_client integrity "$BASE" "$ID" integ "$L"

# The server moved the damaged blob to quarantine/ and the checkpoint stays corrupt; pushing the
# same bytes again stores a healthy copy under a new id, and that pull works.
check "the damaged blob was moved to quarantine/" test ! -e "$BLOB"
run_ckpt --url "$BASE" push integ "$SRC" --epoch 2 --loss 0.5
expect_rc "pushing the same bytes again works" 0
ID=$(cli_id)
run_ckpt --url "$BASE" pull "$ID" -o "$D/out.bin"
expect_rc "the new checkpoint's pull exits 0" 0
check "  ... and the file is identical to what was pushed" cmp -s "$SRC" "$D/out.bin"

# ---- a truncated blob on disk
"$PYTHON" -c 'import os, sys; os.truncate(sys.argv[1], 1000000)' "$BLOB"
T=$(new_tmpdir)
run_ckpt --url "$BASE" --retries 1 pull "$ID" -o "$T/t.bin"
# Either the client finds the bytes short (3), or the server notices the size and refuses to
# serve them (2, checkpoint_corrupt); never success, never a network failure.
check_match "pull of a blob truncated on disk exits 3 (short) or 2 (checkpoint_corrupt)" '[23]' "$RC"
[ "$RC" != 2 ] || check "  ... exit 2 names checkpoint_corrupt" grep -q 'checkpoint_corrupt' "$ERR"
check_eq "  ... and leaves no file behind" "" "$(ls -A "$T")"
cp "$SRC" "$BLOB" # repair for what follows

# ---- a byte flipped in transit, downloading
start_proxy "$PORT" --flip-download 777777 || bail "cutproxy starts"
run_ckpt --url "$PROXY" pull "$ID2" -o "$T/transit.bin"
expect_rc "pull through a proxy that flips one byte exits 3" 3
check "  ... the proxy did flip a byte" grep -q '^flip ' "$PROXY_LOG"
check_eq "  ... and no file is left" "" "$(ls -A "$T")"
run_ckpt --url "$PROXY" pull "$ID2" -o "$T/transit.bin"
expect_rc "the next pull through the same proxy (no more flips) exits 0" 0
check "  ... with identical bytes" cmp -s "$SRC2" "$T/transit.bin"
stop_proxy

# ---- a byte flipped in transit, uploading: the server refuses (digest_mismatch), stores nothing
UP=$WORK/up.bin
rand_file "$UP" 1500000
rows=$(run_count integ)
blobs=$(blob_listing)
start_proxy "$PORT" --flip-upload 1000 || bail "cutproxy starts"
run_ckpt --url "$PROXY" push integ "$UP" --epoch 9
expect_rc "push through a proxy that flips one uploaded byte exits 3" 3
check_match "  ... with 'ckpt: push failed: digest_mismatch: ...'" 'ckpt: push failed: digest_mismatch: .+' "$(head -n 1 "$ERR")"
check "  ... the proxy did flip a byte" grep -q '^flip ' "$PROXY_LOG"
check_eq "  ... no checkpoint was added" "$rows" "$(run_count integ)"
check_eq "  ... DATA/blobs is unchanged" "$blobs" "$(blob_listing)"
check "  ... DATA/tmp is empty" wait_for 3 tmp_is_empty
stop_proxy

start_proxy "$PORT" --flip-upload 5 || bail "cutproxy starts"
run_ckpt --url "$PROXY" push integ - <"$UP"
expect_rc "streamed push (stdin, digest in the trailer) with a flipped byte exits 3" 3
check "  ... the upload was chunked with the digest in a trailer" grep -q '^trailer [0-9]* X-Checkpoint-SHA256: ' "$PROXY_LOG"
check "  ... and the server said digest_mismatch" grep -q 'digest_mismatch' "$ERR"
check_eq "  ... no checkpoint was added" "$rows" "$(run_count integ)"
check_eq "  ... DATA/blobs is unchanged" "$blobs" "$(blob_listing)"
check "  ... DATA/tmp is empty" wait_for 3 tmp_is_empty
stop_proxy

# ---- a wrong stated digest from a plain HTTP client
upload integ "" "$UP" -H "X-Checkpoint-SHA256: $(printf other | sha256sum | awk '{print $1}')"
expect_error "PUT with a wrong X-Checkpoint-SHA256 answers 400 digest_mismatch" 400 digest_mismatch
check_eq "  ... no checkpoint was added" "$rows" "$(run_count integ)"
check "  ... the body's blob is not on disk" test ! -e "$(blob_path "$(sha256_hex "$UP")")"

check "ckptd still running after the integrity tests" is_alive "$CKPTD_PID"
stop_ckptd
