#!/usr/bin/env bash
# Digest in a chunked-body trailer (for streamed uploads): correct -> 201; wrong bytes -> 400
# digest_mismatch; malformed -> invalid_digest; announced in Trailer but missing ->
# trailer_missing; a body cut off before its last chunk is never committed.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

HELLO=$(printf hello | sha256sum | awk '{print $1}')
HELLO_B64=$(printf hello | openssl dgst -sha256 -binary | base64 -w0)

# put_chunked TRAILER_HEADER BODY_CHUNK TRAILERS: a chunked PUT of one 5-byte chunk.
put_chunked()
{
    local announce=$1 chunk=$2 trailers=$3
    raw_http "PUT /v1/runs/tr/checkpoints HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n${announce}Connection: close\r\n\r\n5\r\n${chunk}\r\n0\r\n${trailers}\r\n"
}

put_chunked 'Trailer: X-Checkpoint-SHA256\r\n' hello "X-Checkpoint-SHA256: $HELLO\r\n"
check_eq "correct X-Checkpoint-SHA256 trailer answers 201" 201 "$RAW_STATUS"
http GET /v1/runs/tr/latest
check_eq "the committed checkpoint has the trailer's digest" "$HELLO" "$(jbody .sha256)"

put_chunked 'Trailer: Repr-Digest\r\n' hello "Repr-Digest: sha-256=:$HELLO_B64:\r\n"
check_eq "correct Repr-Digest trailer answers 201" 201 "$RAW_STATUS"

before=$(run_count tr)
blobs_before=$(blob_listing)
put_chunked 'Trailer: X-Checkpoint-SHA256\r\n' hellO "X-Checkpoint-SHA256: $HELLO\r\n"
check_eq "a trailer digest that does not match the bytes answers 400" 400 "$RAW_STATUS"
put_chunked 'Trailer: X-Checkpoint-SHA256\r\n' hello "X-Checkpoint-SHA256: nothex\r\n"
check_eq "a malformed trailer digest answers 400" 400 "$RAW_STATUS"
put_chunked 'Trailer: X-Checkpoint-SHA256\r\n' hello ""
check_eq "an announced trailer digest that never arrives answers 400" 400 "$RAW_STATUS"
put_chunked '' hello "X-Checkpoint-SHA256: $(printf other | sha256sum | awk '{print $1}')\r\n"
check_eq "an unannounced but wrong trailer digest still answers 400" 400 "$RAW_STATUS"
check_eq "no refused trailer upload was indexed" "$before" "$(run_count tr)"
check_eq "no refused trailer upload left a blob" "$blobs_before" "$(blob_listing)"
check "no refused trailer upload left a temp file" tmp_is_empty

# The error codes, read from a full response.
resp=$(curl -sS --max-time 10 -X PUT -H 'Transfer-Encoding: chunked' -H 'Trailer: X-Checkpoint-SHA256' \
    --data-binary hello "$BASE/v1/runs/tr/checkpoints")
check_eq "a missing announced trailer is reported as trailer_missing (not invalid_digest)" trailer_missing \
    "$(printf '%s' "$resp" | jq -r .error.code)"

# A body cut off after its first chunk, with no last chunk: nothing is committed.
exec 8<>"/dev/tcp/$HOST/$PORT"
printf 'PUT /v1/runs/cut/checkpoints HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checkpoint-SHA256\r\n\r\n5\r\nhello\r\n' >&8
sleep 0.3
exec 8>&- 8<&-
wait_for 5 tmp_is_empty
check "a chunked body cut off before its last chunk leaves no temp file" tmp_is_empty
http GET /v1/runs/cut/latest
expect_status "a chunked body cut off before its last chunk is not committed" 404

stop_ckptd
