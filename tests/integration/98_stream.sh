#!/usr/bin/env bash
# Streamed pushes: `ckpt push RUN -` sends standard input as a chunked body with its SHA-256 in
# a trailer (checked on the wire by tests/lib/cutproxy.py); the stored checkpoint has exactly the
# input's digest. A raw chunked PUT with a wrong trailer digest (tests/lib/chunked_put.py) is
# refused with 400 digest_mismatch and stores nothing; a client that vanishes right after a
# chunk leaves nothing behind either.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli
start_ckptd || bail "ckptd starts"
CHUNKED_PUT=$HARNESS_ROOT/tests/lib/chunked_put.py

SRC=$WORK/stream.bin
rand_file "$SRC" 12345679
SHA=$(sha256_hex "$SRC")

# ---- from a redirected file and from a pipe
run_ckpt --url "$BASE" push st - --epoch 4 <"$SRC"
expect_rc "push RUN - < FILE exits 0" 0
ID=$(cli_id)
http GET "/v1/checkpoints/$ID"
check_eq "  ... the stored sha256 is sha256sum of the input" "$SHA" "$(jbody .sha256)"
check_eq "  ... the stored size is the input's" 12345679 "$(jbody .size)"
check_eq "  ... metadata goes with it (epoch 4)" 4 "$(jbody .epoch)"

cat "$SRC" | ckpt --url "$BASE" --json push st - --step 9 >"$OUT" 2>"$ERR"
RC=$?
expect_rc "cat FILE | ckpt push RUN - exits 0" 0
check_eq "  ... the stored sha256 is sha256sum of the input" "$SHA" "$(jq -r .sha256 <"$OUT")"
D=$(new_tmpdir)
run_ckpt --url "$BASE" pull "$(jq -r .id <"$OUT")" -o "$D/back.bin"
check "  ... and pulls back identical" cmp -s "$SRC" "$D/back.bin"

# Input that arrives slowly, in odd pieces.
(
    head -c 1000 "$SRC"
    sleep 0.3
    tail -c +1001 "$SRC" | head -c 77777
    sleep 0.3
    tail -c +78778 "$SRC"
) | ckpt --url "$BASE" --json push st - >"$OUT" 2>"$ERR"
RC=$?
expect_rc "push from a pipe that stalls between pieces exits 0" 0
check_eq "  ... with the input's sha256" "$SHA" "$(jq -r .sha256 <"$OUT")"

# ---- what goes on the wire
start_proxy "$PORT" || bail "cutproxy starts"
run_ckpt --url "$PROXY" push st - <"$SRC"
expect_rc "push RUN - through the logging proxy exits 0" 0
req=$(grep '^req [0-9]* PUT /v1/runs/st/checkpoints' "$PROXY_LOG")
check "  ... the body is chunked" grep -q '| Transfer-Encoding: chunked' <<<"$req"
check "  ... the Trailer header announces X-Checkpoint-SHA256" grep -qi '| Trailer: X-Checkpoint-SHA256' <<<"$req"
check_eq "  ... no Content-Length and no digest in the headers" "" "$(grep -oiE '\| (Content-Length|X-Checkpoint-SHA256):' <<<"$req")"
check_eq "  ... the trailer carries the input's SHA-256" "trailer X-Checkpoint-SHA256: $SHA" \
    "$(sed -nE 's/^trailer [0-9]+ (.*)/trailer \1/p' "$PROXY_LOG")"
stop_proxy

# ---- empty input: refused by the server, nothing stored
rows=$(run_count st)
run_ckpt --url "$BASE" push st - </dev/null
expect_rc "push RUN - with empty input exits 2" 2
check "  ... empty_body" grep -q 'empty_body' "$ERR"
check_eq "  ... nothing stored" "$rows" "$(run_count st)"

# ---- raw chunked PUTs with trailers
SMALL=$WORK/small.bin
rand_file "$SMALL" 1048583
SMALL_SHA=$(sha256_hex "$SMALL")
WRONG=$(printf 'not the body' | sha256sum | awk '{print $1}')
rows=$(run_count raw)
blobs=$(blob_listing)

res=$("$PYTHON" "$CHUNKED_PUT" "$PORT" /v1/runs/raw/checkpoints "$SMALL" --chunk 4099 \
    --announce X-Checkpoint-SHA256 --trailer "X-Checkpoint-SHA256: $WRONG")
check_eq "a chunked PUT with a wrong X-Checkpoint-SHA256 trailer answers 400 digest_mismatch" \
    "400 digest_mismatch -" "$res"
res=$("$PYTHON" "$CHUNKED_PUT" "$PORT" /v1/runs/raw/checkpoints "$SMALL" --chunk 65536 \
    --announce Repr-Digest --trailer "Repr-Digest: sha-256=:$(hex_to_b64 "$WRONG"):")
check_eq "a chunked PUT with a wrong Repr-Digest trailer answers 400 digest_mismatch" \
    "400 digest_mismatch -" "$res"
res=$("$PYTHON" "$CHUNKED_PUT" "$PORT" /v1/runs/raw/checkpoints "$SMALL" --announce X-Checkpoint-SHA256)
check_eq "a chunked PUT whose announced trailer never comes answers 400 trailer_missing" \
    "400 trailer_missing -" "$res"
check_eq "  ... none of them stored a checkpoint" "$rows" "$(run_count raw)"
check_eq "  ... or a blob" "$blobs" "$(blob_listing)"
check "  ... or left a temporary file" wait_for 3 tmp_is_empty
res=$("$PYTHON" "$CHUNKED_PUT" "$PORT" /v1/runs/raw/checkpoints "$SMALL" --chunk 4099 \
    --announce X-Checkpoint-SHA256 --trailer "X-Checkpoint-SHA256: $SMALL_SHA")
check_eq "the same PUT with the right trailer answers 201 with that sha256" "201 - $SMALL_SHA" "$res"

# ---- a client that vanishes right after a chunk (as an aborted `ckpt push -` does)
rows=$(run_count gone)
for i in $(seq 1 20); do
    "$PYTHON" "$CHUNKED_PUT" "$PORT" /v1/runs/gone/checkpoints "$SMALL" --chunk 1000 --vanish >/dev/null
done
check "20 chunked uploads whose client vanished after one chunk leave no temporary file (within 3 s)" \
    wait_for 3 tmp_is_empty
[ "$(tmp_count)" -eq 0 ] || diag "DATA/tmp: $(ls "$DATA/tmp" | tr '\n' ' ')"
check_eq "  ... and store nothing" "$rows" "$(run_count gone)"

check "ckptd still running after the streaming tests" is_alive "$CKPTD_PID"
stop_ckptd
