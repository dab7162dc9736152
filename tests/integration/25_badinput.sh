#!/usr/bin/env bash
# Every bad input in the contract answers its status and error code, stores nothing, and leaves
# the daemon running: run names, numbers, parameters, digests, ids, sizes, list parameters,
# malformed HTTP.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"
MAIN_PID=$CKPTD_PID

# One good checkpoint so list/best endpoints have a run to validate parameters against.
rand_file "$WORK/good" 1000
upload good "epoch=1&loss=0.5&metric.acc=0.5" "$WORK/good"
expect_status "fixture upload answers 201" 201
GOOD_ID=$(jbody .id)

rand_file "$WORK/body" 4096 # never stored: every upload below must be refused
blobs_before=$(blob_listing)
http GET /v1/runs
runs_before=$(jq -c . <"$RESP_BODY")

# bad_put DESC RUN-PATH-SEGMENT QUERY STATUS CODE[|CODE] [CURL ARGS...]
bad_put()
{
    local desc=$1 run=$2 q=$3 st=$4 code=$5
    shift 5
    http PUT "/v1/runs/$run/checkpoints${q:+?$q}" -T "$WORK/body" "$@"
    expect_error "$desc" "$st" "$code"
}

# ---- run names
long129=r$(printf 'x%.0s' $(seq 1 128))
bad_put "run name '..' answers 400 invalid_run_name" .. "" 400 invalid_run_name
bad_put "run name starting with '.' answers 400 invalid_run_name" .hidden "" 400 invalid_run_name
bad_put "run name starting with '-' answers 400 invalid_run_name" -x "" 400 invalid_run_name
bad_put "run name with %2f answers 400 invalid_run_name" a%2fb "" 400 invalid_run_name
bad_put "run name with %2F answers 400 invalid_run_name" a%2Fb "" 400 invalid_run_name
bad_put "run name %2e%2e answers 400 invalid_run_name" %2e%2e "" 400 invalid_run_name
bad_put "run name with %00 answers 400 invalid_run_name" a%00b "" 400 invalid_run_name
bad_put "run name with %0a (control char) answers 400 invalid_run_name" a%0ab "" 400 invalid_run_name
bad_put "run name with %20 answers 400 invalid_run_name" a%20b "" 400 invalid_run_name
bad_put "run name with a malformed escape %zz answers 400 invalid_run_name" a%zz "" 400 invalid_run_name
bad_put "run name of 129 characters answers 400 invalid_run_name" "$long129" "" 400 invalid_run_name
bad_put "empty run name answers 400 invalid_run_name (or 404 not_found)" "" "" "400|404" "invalid_run_name|not_found"
if [ "$STATUS" = 404 ]; then diag "empty run name answered 404 not_found rather than 400 invalid_run_name"; fi
http GET "/v1/runs/a%2fb/checkpoints"
expect_error "GET list with run name a%2fb answers 400 invalid_run_name" 400 invalid_run_name
http GET "/v1/runs/a%00b/latest"
expect_error "GET latest with run name a%00b answers 400 invalid_run_name" 400 invalid_run_name
http GET "/v1/runs/..%2f..%2fetc/best"
expect_error "GET best with run name ..%2f..%2fetc answers 400 invalid_run_name" 400 invalid_run_name

# ---- numbers
bad_put "epoch=-1 answers 400 invalid_parameter" bad "epoch=-1" 400 invalid_parameter
bad_put "epoch=abc answers 400 invalid_parameter" bad "epoch=abc" 400 invalid_parameter
bad_put "epoch= (empty) answers 400 invalid_parameter" bad "epoch=" 400 invalid_parameter
bad_put "epoch=1.5 answers 400 invalid_parameter" bad "epoch=1.5" 400 invalid_parameter
bad_put "epoch=2^63 answers 400 invalid_parameter" bad "epoch=9223372036854775808" 400 invalid_parameter
bad_put "epoch=99999999999999999999 answers 400 invalid_parameter" bad "epoch=99999999999999999999" 400 invalid_parameter
bad_put "epoch=%zz (malformed escape) answers 400 invalid_parameter" bad "epoch=%zz" 400 invalid_parameter
bad_put "step=-1 answers 400 invalid_parameter" bad "step=-1" 400 invalid_parameter
bad_put "step=1x answers 400 invalid_parameter" bad "step=1x" 400 invalid_parameter
bad_put "loss=nan answers 400 invalid_parameter" bad "loss=nan" 400 invalid_parameter
bad_put "loss=NaN answers 400 invalid_parameter" bad "loss=NaN" 400 invalid_parameter
bad_put "loss=inf answers 400 invalid_parameter" bad "loss=inf" 400 invalid_parameter
bad_put "loss=-inf answers 400 invalid_parameter" bad "loss=-inf" 400 invalid_parameter
bad_put "loss=Infinity answers 400 invalid_parameter" bad "loss=Infinity" 400 invalid_parameter
bad_put "loss=1e400 (overflow) answers 400 invalid_parameter" bad "loss=1e400" 400 invalid_parameter
bad_put "loss=garbage answers 400 invalid_parameter" bad "loss=garbage" 400 invalid_parameter
bad_put "loss= (empty) answers 400 invalid_parameter" bad "loss=" 400 invalid_parameter
bad_put "loss=0.5abc (trailing garbage) answers 400 invalid_parameter" bad "loss=0.5abc" 400 invalid_parameter
bad_put "loss=0x10 (hex, not decimal) answers 400 invalid_parameter" bad "loss=0x10" 400 invalid_parameter
bad_put "metric.x=foo answers 400 invalid_parameter" bad "metric.x=foo" 400 invalid_parameter
bad_put "metric.x=nan answers 400 invalid_parameter" bad "metric.x=nan" 400 invalid_parameter
bad_put "metric.x=1e400 answers 400 invalid_parameter" bad "metric.x=1e400" 400 invalid_parameter

# ---- metric names and counts
bad_put "metric with an empty name answers 400" bad "metric.=1" 400 "invalid_parameter|unknown_parameter"
bad_put "metric name with %2f answers 400" bad "metric.a%2fb=1" 400 "invalid_parameter|unknown_parameter"
bad_put "metric name starting with '.' answers 400" bad "metric..a=1" 400 "invalid_parameter|unknown_parameter"
bad_put "metric name of 129 characters answers 400" bad "metric.$long129=1" 400 "invalid_parameter|unknown_parameter"
q=
for i in $(seq 1 65); do q="$q&metric.m$i=$i"; done
bad_put "65 metrics (more than 64) answers 400 invalid_parameter" bad "${q#&}" 400 invalid_parameter

# ---- unknown and repeated parameters
bad_put "unknown parameter epcoh=1 answers 400 unknown_parameter" bad "epcoh=1" 400 unknown_parameter
check "unknown_parameter message names 'epcoh'" grep -q epcoh "$RESP_BODY"
bad_put "parameter without '=' answers 400" bad "epoch" 400 "invalid_parameter|unknown_parameter"
bad_put "repeated parameter epoch=1&epoch=2 answers 400 invalid_parameter" bad "epoch=1&epoch=2" 400 invalid_parameter
bad_put "repeated identical parameter epoch=1&epoch=1 answers 400 invalid_parameter" bad "epoch=1&epoch=1" 400 invalid_parameter
bad_put "repeated metric metric.a=1&metric.a=1 answers 400 invalid_parameter" bad "metric.a=1&metric.a=1" 400 invalid_parameter

# ---- user input echoed in error messages stays valid JSON
bad_put "unknown parameter named a\"b\\ (quote, backslash) answers 400 unknown_parameter with valid JSON" \
    bad "a%22b%5C=1" 400 unknown_parameter
bad_put "unknown parameter with a control character answers 400 with valid JSON" \
    bad "a%01b=1" 400 "unknown_parameter|invalid_parameter"
bad_put "unknown parameter with a 3000-character name answers 400 with valid JSON" \
    bad "$(printf 'z%.0s' $(seq 1 3000))=1" 400 unknown_parameter
bad_put "run name a\"b answers 400 invalid_run_name with valid JSON" 'a%22b' "" 400 invalid_run_name
bad_put "parameter with an empty name (=1) answers 400" bad "=1" 400 "unknown_parameter|invalid_parameter"
bad_put "metric.x with a quote in its value answers 400 invalid_parameter with valid JSON" \
    bad "metric.x=1%22" 400 invalid_parameter

# ---- malformed digests
h63=$(printf 'a%.0s' $(seq 1 63))
bad_put "sha256=abc answers 400 invalid_digest" bad "sha256=abc" 400 invalid_digest
bad_put "sha256 of 63 hex digits answers 400 invalid_digest" bad "sha256=$h63" 400 invalid_digest
bad_put "sha256 of 65 hex digits answers 400 invalid_digest" bad "sha256=${h63}aa" 400 invalid_digest
bad_put "sha256 with a non-hex digit answers 400 invalid_digest" bad "sha256=${h63}g" 400 invalid_digest
bad_put "sha256= (empty) answers 400 invalid_digest" bad "sha256=" 400 invalid_digest
bad_put "X-Checkpoint-SHA256: short answers 400 invalid_digest" bad "" 400 invalid_digest \
    -H "X-Checkpoint-SHA256: $h63"
bad_put "X-Checkpoint-SHA256: non-hex answers 400 invalid_digest" bad "" 400 invalid_digest \
    -H "X-Checkpoint-SHA256: ${h63}z"
bad_put "Repr-Digest sha-256 with invalid base64 answers 400 invalid_digest" bad "" 400 invalid_digest \
    -H 'Repr-Digest: sha-256=:!!!notbase64!!!:'
bad_put "Repr-Digest sha-256 of 16 bytes answers 400 invalid_digest" bad "" 400 invalid_digest \
    -H "Repr-Digest: sha-256=:$(head -c 16 /dev/zero | base64):"
bad_put "Repr-Digest sha-256 without colons answers 400 invalid_digest" bad "" 400 invalid_digest \
    -H "Repr-Digest: sha-256=$(head -c 32 /dev/zero | base64)"
bad_put "Content-Digest sha-256 with invalid base64 answers 400 invalid_digest" bad "" 400 invalid_digest \
    -H 'Content-Digest: sha-256=:@@@@:'

# ---- ids
for id in abc 0 -1 1x 9223372036854775808 18446744073709551617 ''; do
    http GET "/v1/checkpoints/$id"
    if [ -z "$id" ]; then
        expect_error "GET /v1/checkpoints/ (empty id) answers 400 invalid_id (or 404 not_found)" \
            "400|404" "invalid_id|not_found"
    else
        expect_error "GET /v1/checkpoints/$id answers 400 invalid_id" 400 invalid_id
    fi
done
http GET "/v1/checkpoints/9223372036854775807"
expect_error "GET /v1/checkpoints/2^63-1 (valid, absent) answers 404 checkpoint_not_found" 404 checkpoint_not_found
http GET "/v1/checkpoints/abc/blob"
expect_error "GET /v1/checkpoints/abc/blob answers 400 invalid_id" 400 invalid_id
http DELETE "/v1/checkpoints/abc"
expect_error "DELETE /v1/checkpoints/abc answers 400 invalid_id" 400 invalid_id
http DELETE "/v1/checkpoints/0"
expect_error "DELETE /v1/checkpoints/0 answers 400 invalid_id" 400 invalid_id

# ---- list parameters
for l in 0 1001 -1 abc ''; do
    http GET "/v1/runs/good/checkpoints?limit=$l"
    expect_error "list limit=$l answers 400 invalid_parameter" 400 invalid_parameter
done
http GET "/v1/runs/good/checkpoints?limit=1000"
expect_status "list limit=1000 answers 200" 200
http GET "/v1/runs/good/checkpoints?limit=1"
expect_status "list limit=1 answers 200" 200
http GET "/v1/runs/good/checkpoints?order_by=bogus"
expect_error "list order_by=bogus answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?order_by=metric."
expect_error "list order_by=metric. (no name) answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?order_by=metric.a%2fb"
expect_error "list order_by=metric.a%2fb answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?order=sideways"
expect_error "list order=sideways answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?min_epoch=-1"
expect_error "list min_epoch=-1 answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?max_epoch=x"
expect_error "list max_epoch=x answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?limit=1&limit=2"
expect_error "list with a repeated limit answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/checkpoints?colour=red"
expect_error "list with unknown parameter colour answers 400 unknown_parameter" 400 unknown_parameter
check "unknown_parameter message names 'colour'" grep -q colour "$RESP_BODY"
for c in garbage '!!!' "$(printf 'A%.0s' $(seq 1 3000))"; do
    http GET "/v1/runs/good/checkpoints?after=$c"
    expect_error "list after=${c:0:20}$([ ${#c} -gt 20 ] && echo "... (${#c} chars)") answers 400 invalid_cursor" 400 invalid_cursor
done
http GET "/v1/runs/good/checkpoints?after=%00"
expect_error "list after=%00 (NUL) answers 400 invalid_cursor or invalid_parameter" 400 "invalid_cursor|invalid_parameter"
http GET "/v1/runs/good/best?mode=avg"
expect_error "best mode=avg answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/best?metric=a%2fb"
expect_error "best metric=a%2fb answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/best?metric=loss&metric=acc"
expect_error "best with a repeated metric answers 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/good/best?epoch=1"
expect_error "best with unknown parameter epoch answers 400 unknown_parameter" 400 unknown_parameter
http GET "/v1/runs/good/best/blob?mode=avg"
expect_error "best/blob mode=avg answers 400 invalid_parameter" 400 invalid_parameter

# ---- endpoints that take no parameters refuse every parameter
for p in "/healthz?x=1" "/v1/runs?x=1" "/v1/checkpoints/$GOOD_ID?x=1" "/v1/checkpoints/$GOOD_ID/blob?x=1" \
    "/v1/runs/good/latest?x=1" "/v1/runs/good/latest/blob?x=1"; do
    http GET "$p"
    expect_error "GET $p answers 400 unknown_parameter" 400 unknown_parameter
done
http DELETE "/v1/checkpoints/$GOOD_ID?x=1"
expect_error "DELETE with a parameter answers 400 unknown_parameter (and deletes nothing)" 400 unknown_parameter

# ---- 413 before any body byte (main daemon: default max-upload 100 GiB)
raw_http "PUT /v1/runs/bad/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 107374182401\r\n\r\n"
free=$(df -B1 --output=avail "$DATA" | tail -n 1 | tr -d ' ')
if [ "$free" -gt 107374182401 ]; then
    check_eq "Content-Length 100 GiB + 1 with default --max-upload answers 413 without any body sent" 413 "$RAW_STATUS"
else
    # Also more than the free space: either fault may be reported (API.md, "several faults").
    check_match "Content-Length 100 GiB + 1 with default --max-upload answers 413 (or 507: disk smaller) without any body sent" \
        '413|507' "$RAW_STATUS"
fi

# ---- nothing stored, daemon alive
http GET /v1/runs/bad/checkpoints
expect_error "no refused upload created run 'bad' (404 run_not_found)" 404 run_not_found
http GET /v1/runs
check_eq "GET /v1/runs unchanged by the refused requests" "$runs_before" "$(jq -c . <"$RESP_BODY")"
check_eq "DATA/blobs unchanged by the refused requests" "$blobs_before" "$(blob_listing)"
check "DATA/tmp is empty after the refused requests" wait_for 3 tmp_is_empty
check "ckptd is still running after the bad inputs" is_alive "$MAIN_PID"
http GET /healthz
expect_status "ckptd still answers /healthz after the bad inputs" 200
http GET "/v1/checkpoints/$GOOD_ID/blob"
check "fixture checkpoint still downloads intact" cmp -s "$WORK/good" "$RESP_BODY"
# ---- malformed HTTP
# A request line libmicrohttpd cannot parse at all is answered by closing the connection.
raw_http "GARBAGE\r\n\r\n" 5
check "unparseable request line: answered 400 or the connection is closed (no hang)" \
    bash -c "[ '$RAW_STATUS' = 400 ] || [ '$RAW_EOF' = 1 ]"
raw_http "GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon in this header line\r\n\r\n"
check_eq "header line without a colon answers 400" 400 "$RAW_STATUS"
long_target=/v1/runs/good/checkpoints?x=$(printf 'a%.0s' $(seq 1 8200))
raw_http "GET $long_target HTTP/1.1\r\nHost: x\r\n\r\n"
check_eq "request target over 8192 bytes answers 400" 400 "$RAW_STATUS"
check_eq "request target over 8192 bytes: code bad_request" bad_request "$(raw_code)"

raw_http "PUT /v1/runs/dupcl/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde" 5 closecheck
check_eq "two differing Content-Length headers answer 400" 400 "$RAW_STATUS"
check_eq "two differing Content-Length headers: code bad_request" bad_request "$(raw_code)"
check_eq "two differing Content-Length headers: connection closed after the answer" 1 "$RAW_CLOSED"
raw_http "PUT /v1/runs/dupcl/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nabcde"
check_eq "repeated identical Content-Length headers answer 400" 400 "$RAW_STATUS"
raw_http "PUT /v1/runs/dupcl/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nabcde"
check_eq "malformed Content-Length answers 400" 400 "$RAW_STATUS"
raw_http "PUT /v1/runs/dupcl/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabcde"
check_eq "negative Content-Length answers 400" 400 "$RAW_STATUS"
sleep 0.3
http GET /v1/runs/dupcl/checkpoints
check_eq "requests with bad Content-Length framing stored nothing" 404 "$STATUS"

raw_http "PUT /v1/runs/gzipte/checkpoints HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" 5 closecheck
check_eq "unknown transfer coding answers 501 within 5 s (no hang)" 501 "$RAW_STATUS"
check_eq "unknown transfer coding: code not_implemented" not_implemented "$(raw_code)"
check_eq "unknown transfer coding: connection closed after the answer" 1 "$RAW_CLOSED"

# Content-Length + Transfer-Encoding: 400 bad_request, connection closed, and the request
# smuggled in the body must not run.
smug_body="0\r\n\r\nPUT /v1/runs/smuggled/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
smug_len=$(printf '%b' "$smug_body" | wc -c)
raw_http "PUT /v1/runs/smugcarrier/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: $smug_len\r\nTransfer-Encoding: chunked\r\n\r\n$smug_body" 3 closecheck
check_eq "Content-Length together with Transfer-Encoding answers 400" 400 "$RAW_STATUS"
check_eq "Content-Length together with Transfer-Encoding: code bad_request" bad_request "$(raw_code)"
check_eq "Content-Length together with Transfer-Encoding: connection closed after the answer" 1 "$RAW_CLOSED"
sleep 0.5
http GET /v1/runs/smuggled/checkpoints
check_eq "a request smuggled behind Content-Length + Transfer-Encoding is not executed" 404 "$STATUS"
http GET /v1/runs/smugcarrier/checkpoints
check_eq "the Content-Length + Transfer-Encoding request stored nothing" 404 "$STATUS"

check "ckptd is still running after the malformed requests" is_alive "$MAIN_PID"

stop_ckptd "main ckptd exits 0 on SIGTERM after the bad inputs"

# ---- --max-upload 1K: 413 before the body; boundary; chunked overflow
start_ckptd --max-upload 1K || bail "ckptd starts with --max-upload 1K"
ok "ckptd starts with --max-upload 1K"
raw_http "PUT /v1/runs/big/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n"
check_eq "Content-Length 1025 > --max-upload 1K answers 413 before any body byte is sent" 413 "$RAW_STATUS"
check "413 is not preceded by 100 Continue" bash -c "! grep -q ' 100 ' '$RAW_HDRS'"
raw_http "PUT /v1/runs/big/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nExpect: 100-continue\r\n\r\n"
check_eq "Content-Length 1024 = --max-upload 1K with Expect: 100-continue gets 100 Continue" 100 "$RAW_STATUS"
raw_http "PUT /v1/runs/big/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\nExpect: 100-continue\r\n\r\n"
check_eq "Content-Length 1025 with Expect: 100-continue gets 413 instead of 100 Continue" 413 "$RAW_STATUS"
rand_file "$WORK/k2" 2048
upload big "" "$WORK/k2"
expect_error "curl -T of 2 KiB with --max-upload 1K answers 413 payload_too_large" 413 payload_too_large
rand_file "$WORK/k1" 1024
upload edge "" "$WORK/k1"
expect_status "upload of exactly --max-upload (1024 bytes) answers 201" 201
http PUT "/v1/runs/big/checkpoints" -T - <"$WORK/k2"
check "chunked body growing past --max-upload is not accepted" [ "$STATUS" != 201 ]
[ "$STATUS" = 201 ] && diag "chunked 2 KiB upload answered 201 with --max-upload 1K"
http GET /v1/runs/big/checkpoints
expect_error "no oversized upload created run 'big'" 404 run_not_found
check_eq "only the 1024-byte blob is stored" 1 "$(blob_count)"
check "DATA/tmp is empty after the oversized uploads" wait_for 3 tmp_is_empty
stop_ckptd "ckptd with --max-upload 1K exits 0 on SIGTERM"

# ---- 507 when Content-Length exceeds free disk space (max-upload 1024T allows it)
start_ckptd --max-upload 1024T || bail "ckptd starts with --max-upload 1024T"
ok "ckptd starts with --max-upload 1024T"
raw_http "PUT /v1/runs/huge/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 1125899906842624\r\n\r\n"
check_eq "Content-Length 1 PiB (more than free disk) answers 507 before any body byte" 507 "$RAW_STATUS"
check "DATA/tmp is empty after the 507" wait_for 3 tmp_is_empty
stop_ckptd "ckptd with --max-upload 1024T exits 0 on SIGTERM"
