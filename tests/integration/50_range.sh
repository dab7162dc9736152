#!/usr/bin/env bash
# Blob downloads: bytes equal the upload, headers (ETag, X-Checkpoint-SHA256, Repr-Digest,
# Accept-Ranges, Content-Length), HEAD, single byte ranges, 416, ignored ranges,
# If-None-Match -> 304, If-Range.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

N=100000
rand_file "$WORK/f" $N
HEX=$(sha256_hex "$WORK/f")
B64=$(sha256_b64 "$WORK/f")
upload rg "epoch=1" "$WORK/f"
[ "$STATUS" = 201 ] || bail "fixture upload answers 201" "HTTP $STATUS: $(body_head)"
ID=$(jbody .id)
BLOB=/v1/checkpoints/$ID/blob

# slice FROM LEN -> $WORK/slice
slice()
{
    tail -c +$(($1 + 1)) "$WORK/f" | head -c "$2" >"$WORK/slice"
}

# ---- full download and headers
http GET "$BLOB"
expect_status "GET blob answers 200" 200
check "downloaded bytes equal the upload" cmp -s "$WORK/f" "$RESP_BODY"
check_eq "Content-Length is the blob size" "$N" "$(header Content-Length)"
check_eq "Content-Type is application/octet-stream" "application/octet-stream" "$(header Content-Type)"
check_eq "ETag is the quoted sha256" "\"$HEX\"" "$(header ETag)"
check_eq "X-Checkpoint-SHA256 is the hex sha256" "$HEX" "$(header X-Checkpoint-SHA256)"
check_eq "Repr-Digest is sha-256=:<base64>:" "sha-256=:$B64:" "$(header Repr-Digest)"
check_eq "Accept-Ranges is bytes" "bytes" "$(header Accept-Ranges)"
check_eq "X-Checkpoint-Id is the id" "$ID" "$(header X-Checkpoint-Id)"

# ---- HEAD
http HEAD "$BLOB"
expect_status "HEAD blob answers 200" 200
check_eq "HEAD Content-Length is the blob size" "$N" "$(header Content-Length)"
check_eq "HEAD ETag is the quoted sha256" "\"$HEX\"" "$(header ETag)"
check_eq "HEAD Accept-Ranges is bytes" "bytes" "$(header Accept-Ranges)"
check_eq "HEAD X-Checkpoint-SHA256 is the hex sha256" "$HEX" "$(header X-Checkpoint-SHA256)"
# HEAD must send no body: read everything the server sends after a raw HEAD (plus a GET /healthz
# with Connection: close so the read ends); a 100 KB body would show.
timeout 10 bash -c '
    exec 3<>"/dev/tcp/$1/$2"
    printf "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" "$3" >&3
    cat <&3' _ "$HOST" "$PORT" "$BLOB" >"$WORK/pipelined" 2>/dev/null
check "HEAD sends no body (raw HEAD + pipelined GET: 200, under 4 KB read in all)" \
    bash -c 'head -n 1 "$1" | grep -aq "^HTTP/1.1 200" && [ "$(stat -c %s "$1")" -lt 4000 ]' _ "$WORK/pipelined"

# ---- ranges
# expect_range DESC RANGE FROM LEN
expect_range()
{
    local desc=$1 r=$2 from=$3 len=$4
    http GET "$BLOB" -H "Range: $r"
    slice "$from" "$len"
    if [ "$STATUS" = 206 ] && cmp -s "$WORK/slice" "$RESP_BODY" &&
        [ "$(header Content-Range)" = "bytes $from-$((from + len - 1))/$N" ] &&
        [ "$(header Content-Length)" = "$len" ]; then
        ok "$desc"
    else
        fail "$desc" "HTTP $STATUS Content-Range '$(header Content-Range)' Content-Length '$(header Content-Length)' body $(stat -c %s "$RESP_BODY") bytes" \
            "expected 206 bytes $from-$((from + len - 1))/$N, $len bytes"
    fi
}
expect_range "Range bytes=0-99 answers 206 with those 100 bytes" "bytes=0-99" 0 100
expect_range "Range bytes=0-0 answers the first byte" "bytes=0-0" 0 1
expect_range "Range bytes=12345-54320 answers that slice" "bytes=12345-54320" 12345 41976
expect_range "Range bytes=1000- answers to the end" "bytes=1000-" 1000 $((N - 1000))
expect_range "Range bytes=-500 answers the last 500 bytes" "bytes=-500" $((N - 500)) 500
expect_range "Range bytes=-1000000 (suffix longer than the blob) answers it whole as 206" "bytes=-1000000" 0 $N
expect_range "Range bytes=99990-200000 clamps the end" "bytes=99990-200000" 99990 10
expect_range "Range bytes=$((N - 1))-$((N - 1)) answers the last byte" "bytes=$((N - 1))-$((N - 1))" $((N - 1)) 1
expect_range "Range bytes=10-99999999999999999999 (end past 2^64) clamps the end" "bytes=10-99999999999999999999" 10 $((N - 10))

# expect_416 RANGE
expect_416()
{
    http GET "$BLOB" -H "Range: $1"
    expect_error "Range $1 answers 416 range_not_satisfiable" 416 range_not_satisfiable
    check_eq "Range $1: Content-Range is bytes */N" "bytes */$N" "$(header Content-Range)"
}
expect_416 "bytes=$N-"
expect_416 "bytes=$N-$((N + 10))"
expect_416 "bytes=200000-300000"
expect_416 "bytes=-0"

# expect_full DESC RANGE-HEADER-VALUE
expect_full()
{
    http GET "$BLOB" -H "Range: $2"
    if [ "$STATUS" = 200 ] && cmp -s "$WORK/f" "$RESP_BODY"; then
        ok "$1"
    else
        fail "$1" "HTTP $STATUS, body $(stat -c %s "$RESP_BODY") bytes, Content-Range '$(header Content-Range)'"
    fi
}
expect_full "unknown range unit (items=0-9) is ignored: 200 full body" "items=0-9"
expect_full "multiple ranges are ignored: 200 full body" "bytes=0-9,20-29"
expect_full "invalid range bytes=5-2 is ignored: 200 full body" "bytes=5-2"
expect_full "garbage range bytes=abc is ignored: 200 full body" "bytes=abc"
expect_full "range without '=' is ignored: 200 full body" "bytes"
expect_full "range bytes=- is ignored: 200 full body" "bytes=-"

# ranges also on best/blob and latest/blob, and HEAD with Range
http GET "/v1/runs/rg/latest/blob" -H "Range: bytes=10-19"
slice 10 10
check "latest/blob honours Range (206, right bytes)" bash -c "[ $STATUS = 206 ] && cmp -s '$WORK/slice' '$RESP_BODY'"
http GET "/v1/runs/rg/best/blob?metric=loss" -H "Range: bytes=-5"
check "best/blob without a matching checkpoint answers 404 checkpoint_not_found" \
    bash -c "[ $STATUS = 404 ] && [ \"\$(jq -r .error.code '$RESP_BODY')\" = checkpoint_not_found ]"
upload rg "loss=1" "$WORK/f"
http GET "/v1/runs/rg/best/blob" -H "Range: bytes=-5"
slice $((N - 5)) 5
check "best/blob honours Range (206, right bytes)" bash -c "[ $STATUS = 206 ] && cmp -s '$WORK/slice' '$RESP_BODY'"

# HEAD with Range is evaluated like the GET
http HEAD "$BLOB" -H "Range: bytes=0-9"
check_eq "HEAD with Range: 206, Content-Length 10, Content-Range bytes 0-9/N" "206 10 bytes 0-9/$N" \
    "$STATUS $(header Content-Length) $(header Content-Range)"
http HEAD "$BLOB" -H "Range: bytes=$N-"
check_eq "HEAD with an unsatisfiable Range: 416 with Content-Range bytes */N" "416 bytes */$N" \
    "$STATUS $(header Content-Range)"
http GET "$BLOB" -H "Range: bytes=0-9"
check_eq "a 206 carries the whole blob's Repr-Digest and ETag" "sha-256=:$B64: \"$HEX\"" \
    "$(header Repr-Digest) $(header ETag)"

# ---- conditional requests
http GET "$BLOB" -H "If-None-Match: \"$HEX\""
expect_status "If-None-Match with the ETag answers 304" 304
check "304 has no body" test ! -s "$RESP_BODY"
check_eq "304 carries the ETag" "\"$HEX\"" "$(header ETag)"
http GET "$BLOB" -H "If-None-Match: W/\"$HEX\""
expect_status "If-None-Match with the weak ETag W/\"...\" answers 304" 304
http GET "$BLOB" -H "If-None-Match: *"
expect_status "If-None-Match: * answers 304" 304
http GET "$BLOB" -H "If-None-Match: \"abc\", \"$HEX\""
expect_status "If-None-Match with a list containing the ETag answers 304" 304
http GET "$BLOB" -H "If-None-Match: \"$(printf '%064d' 0)\""
expect_status "If-None-Match with another ETag answers 200" 200
check "If-None-Match with another ETag sends the full body" cmp -s "$WORK/f" "$RESP_BODY"
http HEAD "$BLOB" -H "If-None-Match: \"$HEX\""
expect_status "HEAD with a matching If-None-Match answers 304" 304

http GET "$BLOB" -H "If-None-Match: \"$HEX\"" -H "Range: bytes=0-9"
expect_status "If-None-Match is evaluated before Range: a match answers 304" 304
http GET "$BLOB" -H "Range: bytes=0-9" -H "If-Range: Sun, 29 Nov 2026 04:03:39 GMT"
check "If-Range with an HTTP date never matches: 200 full body" bash -c "[ $STATUS = 200 ] && cmp -s '$WORK/f' '$RESP_BODY'"

http GET "$BLOB" -H "Range: bytes=0-9" -H "If-Range: \"$HEX\""
slice 0 10
check "If-Range equal to the ETag keeps the Range (206)" bash -c "[ $STATUS = 206 ] && cmp -s '$WORK/slice' '$RESP_BODY'"
http GET "$BLOB" -H "Range: bytes=0-9" -H "If-Range: \"$(printf '%064d' 0)\""
check "If-Range with another ETag answers 200 with the full body" bash -c "[ $STATUS = 200 ] && cmp -s '$WORK/f' '$RESP_BODY'"
http GET "$BLOB" -H "Range: bytes=0-9" -H "If-Range: W/\"$HEX\""
check "If-Range with a weak ETag does not match (strong comparison): 200 full" bash -c "[ $STATUS = 200 ] && cmp -s '$WORK/f' '$RESP_BODY'"

stop_ckptd
