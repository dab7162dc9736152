#!/usr/bin/env bash
# Client-supplied digests: query sha256, X-Checkpoint-SHA256, Repr-Digest, Content-Digest.
# Correct -> 201; wrong -> 400 digest_mismatch and nothing stored (no row, tmp empty, blobs
# unchanged); disagreeing digests -> 400 invalid_digest.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

n=0
# fresh_file: a new random file in $F with its hex and base64 digests in $HEX / $B64.
fresh_file()
{
    n=$((n + 1))
    F=$WORK/blob$n
    rand_file "$F" $((100000 + n))
    HEX=$(sha256_hex "$F")
    B64=$(sha256_b64 "$F")
}
UPPER()
{
    printf '%s' "$1" | tr a-f A-F
}

# ---- correct digests are accepted
fresh_file
upload dg "sha256=$HEX" "$F"
expect_status "query sha256=<correct lowercase hex> answers 201" 201
check_eq "stored sha256 equals the supplied one" "$HEX" "$(jbody .sha256)"

fresh_file
upload dg "sha256=$(UPPER "$HEX")" "$F"
expect_status "query sha256=<correct UPPERCASE hex> answers 201" 201
check_eq "sha256 is reported in lowercase" "$HEX" "$(jbody .sha256)"

fresh_file
upload dg "" "$F" -H "X-Checkpoint-SHA256: $HEX"
expect_status "X-Checkpoint-SHA256 correct answers 201" 201

fresh_file
upload dg "" "$F" -H "Repr-Digest: sha-256=:$B64:"
expect_status "Repr-Digest sha-256 correct answers 201" 201

fresh_file
upload dg "" "$F" -H "Content-Digest: sha-256=:$B64:"
expect_status "Content-Digest sha-256 correct answers 201" 201

fresh_file
upload dg "" "$F" -H "Repr-Digest: sha-512=:$(head -c 64 /dev/zero | base64 -w0):, sha-256=:$B64:"
expect_status "Repr-Digest with another algorithm before a correct sha-256 answers 201" 201

fresh_file
upload dg "" "$F" -H "Repr-Digest: sha-512=:$(head -c 64 /dev/zero | base64 -w0):"
expect_status "Repr-Digest without a sha-256 member is ignored (201)" 201

fresh_file
upload dg "sha256=$HEX" "$F" -H "X-Checkpoint-SHA256: $HEX" -H "Repr-Digest: sha-256=:$B64:" \
    -H "Content-Digest: sha-256=:$B64:"
expect_status "all four digests given and correct answers 201" 201

fresh_file
http PUT "/v1/runs/dg/checkpoints?sha256=$HEX" -T - <"$F"
expect_status "chunked upload with a correct sha256 answers 201" 201

# ---- disagreeing digests
fresh_file
other=$(printf 'other' | sha256sum | awk '{print $1}')
snap_blobs=$(blob_listing)
snap_rows=$(run_count dg)
upload dg "sha256=$HEX" "$F" -H "X-Checkpoint-SHA256: $other"
expect_error "query sha256 and X-Checkpoint-SHA256 disagreeing answers 400 invalid_digest" 400 invalid_digest
upload dg "" "$F" -H "X-Checkpoint-SHA256: $HEX" -H "Repr-Digest: sha-256=:$(hex_to_b64 "$other"):"
expect_error "X-Checkpoint-SHA256 and Repr-Digest disagreeing answers 400 invalid_digest" 400 invalid_digest
check_eq "disagreeing digests store no row" "$snap_rows" "$(run_count dg)"
check_eq "disagreeing digests leave DATA/blobs unchanged" "$snap_blobs" "$(blob_listing)"

# ---- wrong digests: 400 digest_mismatch, nothing stored
# expect_mismatch DESC CURL-ARGS... (uses $F, run dg)
expect_mismatch()
{
    local desc=$1 rows blobs
    shift
    rows=$(run_count dg)
    blobs=$(blob_listing)
    http PUT "/v1/runs/dg/checkpoints$Q" "$@"
    expect_error "$desc answers 400 digest_mismatch" 400 digest_mismatch
    check_eq "$desc: no new row" "$rows" "$(run_count dg)"
    check "$desc: DATA/tmp is empty" wait_for 3 tmp_is_empty
    check_eq "$desc: DATA/blobs unchanged" "$blobs" "$(blob_listing)"
}

fresh_file
Q="?sha256=$other"
expect_mismatch "wrong query sha256" -T "$F"
check "wrong query sha256: the body's blob is not on disk" test ! -e "$(blob_path "$HEX")"

Q=""
expect_mismatch "wrong X-Checkpoint-SHA256" -T "$F" -H "X-Checkpoint-SHA256: $other"
expect_mismatch "wrong Repr-Digest" -T "$F" -H "Repr-Digest: sha-256=:$(hex_to_b64 "$other"):"
expect_mismatch "wrong Content-Digest" -T "$F" -H "Content-Digest: sha-256=:$(hex_to_b64 "$other"):"
Q="?sha256=$other"
expect_mismatch "wrong sha256 on a chunked upload" -T - <"$F"
check "wrong digests never stored the body's blob" test ! -e "$(blob_path "$HEX")"

# A digest off by one bit in the last byte.
last=${HEX:63:1}
flip=$(printf '%x' $(((16#$last) ^ 1)))
Q="?sha256=${HEX:0:63}$flip"
expect_mismatch "sha256 differing in the last bit" -T "$F"

# A body claiming the digest of an existing blob must neither be stored nor touch that blob.
fresh_file
Q=""
upload dg "" "$F"
expect_status "upload of a reference blob answers 201" 201
ref_hex=$HEX
ref_file=$F
fresh_file
Q="?sha256=$ref_hex"
expect_mismatch "new bytes claiming an existing blob's digest" -T "$F"
check "the existing blob is unchanged on disk" cmp -s "$ref_file" "$(blob_path "$ref_hex")"

# Identical bytes with a wrong digest: the existing blob must stay.
Q="?sha256=$other"
expect_mismatch "existing bytes with a wrong digest" -T "$ref_file"
check "the blob shared with the earlier checkpoint is still on disk" cmp -s "$ref_file" "$(blob_path "$ref_hex")"

# Big upload with wrong digest (several MiB, many body pieces).
rand_file "$WORK/big" 8000000
Q="?sha256=$other"
expect_mismatch "8 MB upload with a wrong digest" -T "$WORK/big"

# Bodies past 8 MiB are hashed on a thread of their own from the temp file (daemon/upload.c):
# the same answers there, by length and chunked, digest in a header or a trailer.
rand_file "$WORK/huge" $((40 * 1024 * 1024 + 12345))
huge_hex=$(sha256_hex "$WORK/huge")
Q="?sha256=$other"
expect_mismatch "40 MiB upload with a wrong digest (pipelined hashing)" -T "$WORK/huge"
Q="?sha256=$huge_hex"
http PUT "/v1/runs/dg/checkpoints$Q" -T "$WORK/huge"
expect_status "40 MiB upload with the right digest answers 201" 201
check_eq "and the digest it reports is the body's" "$huge_hex" "$(jbody .sha256)"
check "the stored blob is the body" cmp -s "$WORK/huge" "$(blob_path "$huge_hex")"
http PUT /v1/runs/dg/checkpoints -H "X-Checkpoint-SHA256: $other" -T - <"$WORK/huge"
expect_error "40 MiB chunked upload with a wrong digest header" 400 digest_mismatch
# Four 40 MiB uploads at once: at most half the cores run hasher threads (one on two cores), so
# some of these are hashed on their event thread throughout. Either way the digest is the body's.
for i in 1 2 3 4; do
    { printf '%s' "$i"; cat "$WORK/huge"; } >"$WORK/huge.$i"
done
# put_four RUN right|wrong: PUT huge.1..4 to RUN at once, each with its own digest or a wrong one;
# the statuses go to $WORK/RUN.N.status.
put_four()
{
    local pids=() i d
    for i in 1 2 3 4; do
        d=$other
        [ "$2" = right ] && d=$(sha256_hex "$WORK/huge.$i")
        curl -s -o /dev/null -w '%{http_code}' -T "$WORK/huge.$i" -H "X-Checkpoint-SHA256: $d" \
            "$BASE/v1/runs/$1/checkpoints?step=$i" >"$WORK/$1.$i.status" &
        pids+=($!)
    done
    wait "${pids[@]}"
}
put_four dgpar right
for i in 1 2 3 4; do
    check_eq "concurrent 40 MiB upload $i with its digest answers 201" 201 "$(<"$WORK/dgpar.$i.status")"
    check "concurrent upload $i: the stored blob is its body" \
        cmp -s "$WORK/huge.$i" "$(blob_path "$(sha256_hex "$WORK/huge.$i")")"
done
# Four at once again, each with a wrong digest: every one is refused, nothing stored.
put_four dgparbad wrong
for i in 1 2 3 4; do
    check_eq "concurrent 40 MiB upload $i with a wrong digest answers 400" 400 "$(<"$WORK/dgparbad.$i.status")"
done
check_eq "and none of them is stored" 0 "$(run_count dgparbad)"
rm -f "$WORK"/huge.[1-4]

# An upload cut after 20 MiB (its hasher thread running) leaves nothing behind.
curl -s -o /dev/null --limit-rate 4M --max-time 6 -T "$WORK/huge" "$BASE/v1/runs/dgcut/checkpoints" 2>/dev/null
check_eq "an upload cut at about 24 MiB of 40 is not answered (curl timed out)" 28 "$?"
check "it leaves no temp file" wait_for 5 tmp_is_empty
check_eq "and no checkpoint" 0 "$(run_count dgcut)"

check "ckptd still running after the digest tests" is_alive "$CKPTD_PID"
stop_ckptd
