#!/usr/bin/env bash
# The access log: exactly one line per request on the daemon's stderr, JSON by default (every
# field checked against the request that made it: time, remote, token id, method, raw path with
# hostile bytes, status, bytes in/out, duration, checkpoint id, outcome), an aborted upload
# logged with status 0 next to its human-readable info line, the token secret nowhere in the
# logs, and --log-format common (Common Log Format + duration in ms).
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# access_lines: the JSON access lines of the current daemon so far.
access_lines()
{
    grep '^{' "$CKPTD_ERR"
}
# nth_line N: the Nth JSON access line (1-based).
nth_line()
{
    access_lines | sed -n "${1}p"
}
# field N JQ: jq -r JQ on the Nth access line.
field()
{
    nth_line "$1" | jq -r "$2"
}
# lines_are N: the log holds exactly N access lines (lines are written at completion).
lines_are()
{
    [ "$(access_lines | wc -l)" -eq "$1" ]
}

start_ckptd || bail "ckptd starts"
rand_file "$WORK/a" 70001
N=0

upload al "epoch=1" "$WORK/a"
expect_status "upload answers 201" 201
ID=$(jbody .id)
N=$((N + 1))
check "one access line after one request" wait_for 3 lines_are $N
L=$(nth_line $N)
check "the line is one JSON object" bash -c "jq -e 'type == \"object\"' <<<'$L' >/dev/null"
check_eq "it has exactly the documented fields" \
    'bytes_in,bytes_out,checkpoint_id,duration_ms,method,outcome,path,remote,status,time,token' \
    "$(jq -r 'keys | join(",")' <<<"$L")"
check_match "time is RFC 3339 UTC with milliseconds" '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z' \
    "$(jq -r .time <<<"$L")"
check_eq "remote is the client's address" 127.0.0.1 "$(jq -r .remote <<<"$L")"
check_eq "token is \"-\" without a token" - "$(jq -r .token <<<"$L")"
check_eq "method, path, status of the upload" "PUT /v1/runs/al/checkpoints?epoch=1 201" \
    "$(jq -r '"\(.method) \(.path) \(.status)"' <<<"$L")"
check_eq "bytes_in is the body size" 70001 "$(jq -r .bytes_in <<<"$L")"
check_eq "bytes_out is the size of the JSON reply" "$(stat -c %s "$RESP_BODY")" "$(jq -r .bytes_out <<<"$L")"
check_eq "checkpoint_id is the new checkpoint" "$ID" "$(jq -r .checkpoint_id <<<"$L")"
check "duration_ms is a non-negative number" jq -e '.duration_ms | type == "number" and . >= 0' <<<"$L"
check_eq "outcome is completed" completed "$(jq -r .outcome <<<"$L")"

http GET "/v1/checkpoints/$ID/blob"
N=$((N + 1))
wait_for 3 lines_are $N
check_eq "the download: GET, 200, 0 bytes in, the blob's bytes out, its checkpoint id" \
    "GET 200 0 70001 $ID" "$(field $N '"\(.method) \(.status) \(.bytes_in) \(.bytes_out) \(.checkpoint_id)"')"
http HEAD "/v1/checkpoints/$ID/blob"
N=$((N + 1))
wait_for 3 lines_are $N
check_eq "HEAD: 0 bytes out" "HEAD 200 0" "$(field $N '"\(.method) \(.status) \(.bytes_out)"')"
http GET /v1/runs/al/latest
N=$((N + 1))
wait_for 3 lines_are $N
check_eq "a metadata GET carries the checkpoint id it answered with" "$ID" "$(field $N .checkpoint_id)"
http GET "/nope?a=%22b%5C"
N=$((N + 1))
wait_for 3 lines_are $N
check_eq "a 404 logs the raw target, escapes undecoded, and a null checkpoint id" \
    '/nope?a=%22b%5C 404 null' "$(field $N '"\(.path) \(.status) \(.checkpoint_id)"')"

# A target with a quote, a backslash and UTF-8 bytes, sent raw.
raw_http 'GET /odd"q\\w\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
N=$((N + 1))
check "a raw target with a quote and a backslash is logged" wait_for 3 lines_are $N
check_eq "its line is valid JSON whose path decodes to the bytes sent (non-ASCII as %XX)" \
    '/odd"q\w%C3%A9' "$(field $N .path)"
check_eq "and its status is what the client got ($RAW_STATUS)" "$RAW_STATUS" "$(field $N .status)"

# An upload the client abandons: status 0, outcome aborted, plus the human info line.
exec 8<>"/dev/tcp/$HOST/$PORT"
printf 'PUT /v1/runs/al/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789' >&8
sleep 0.3
exec 8>&-
N=$((N + 1))
check "the abandoned upload gets an access line" wait_for 5 lines_are $N
check_eq "it says status 0, outcome aborted, 10 bytes in" "0 aborted 10" \
    "$(field $N '"\(.status) \(.outcome) \(.bytes_in)"')"
check "the abort is also an info line, human-readable and not JSON" \
    grep -Eq '^[0-9-]{10}T[0-9:.]{12}Z ckptd info: upload to run .al. aborted' "$CKPTD_ERR"

# Tokens: the id is logged, never the secret.
TOKEN=$("$CKPTD" token add logger --role admin --data "$DATA" 2>/dev/null)
TID=${TOKEN%%.*}
SECRET=${TOKEN#*.}
http GET /v1/runs -H "Authorization: Bearer $TOKEN"
expect_status "a request with a token answers 200" 200
N=$((N + 1))
wait_for 3 lines_are $N
check_eq "its line names the token id" "$TID" "$(field $N .token)"
WRONG="$TID.$(printf '%064d' 7)"
http GET /v1/runs -H "Authorization: Bearer $WRONG"
expect_status "a wrong secret answers 401" 401
N=$((N + 1))
wait_for 3 lines_are $N
check_eq "a refused token is logged as \"-\"" "- 401" "$(field $N '"\(.token) \(.status)"')"
check "the token secret appears nowhere in the log" bash -c "! grep -q '$SECRET' '$CKPTD_ERR'"
check "the guessed secret appears nowhere in the log" bash -c "! grep -q '$(printf '%064d' 7)' '$CKPTD_ERR'"
stop_ckptd

check_eq "exactly one access line per request ($N), none for the stop" "$N" "$(grep -c '^{' "$CKPTD_ERR")"
check "every line of stderr is an access line (JSON) or a timestamped human line" \
    bash -c "! grep -Ev '^(\{.*\}|[0-9-]{10}T[0-9:.]{12}Z ckptd (info|error): .*)\$' '$CKPTD_ERR'"
check "every access line is valid JSON" bash -c "grep '^{' '$CKPTD_ERR' | jq -e . >/dev/null"

# ---------------------------------------------------------------- Common Log Format
start_ckptd --log-format common || bail "ckptd starts with --log-format common"
upload clf "epoch=1" "$WORK/a"
expect_status "upload answers 201" 201
CID=$(jbody .id)
http GET "/v1/checkpoints/$CID/blob"
http GET /missing
raw_http 'GET /odd"q\\w\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
check "four Common Log Format lines" wait_for 3 bash -c "[ \$(grep -c '^127\\.0\\.0\\.1 ' '$CKPTD_ERR') -eq 4 ]"
RE='127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \+0000\] "[A-Z]+ [^ ]+ HTTP/1\.1" [0-9]{3} ([0-9]+|-) [0-9]+\.[0-9]{3}'
check_match "the upload line is CLF + duration" "$RE" "$(grep '^127' "$CKPTD_ERR" | sed -n 1p)"
check_match "it has method, target, status and response bytes" \
    '.*"PUT /v1/runs/clf/checkpoints\?epoch=1 HTTP/1\.1" 201 [0-9]+ [0-9.]+' "$(grep '^127' "$CKPTD_ERR" | sed -n 1p)"
check_match "the download line counts the body bytes" '.*"GET /v1/checkpoints/[0-9]+/blob HTTP/1\.1" 200 70001 [0-9.]+' \
    "$(grep '^127' "$CKPTD_ERR" | sed -n 2p)"
check_match "a quote, a backslash and non-ASCII bytes in the target are written as \\xXX" \
    '.*"GET /odd\\x22q\\x5Cw\\xC3\\xA9 HTTP/1\.1" 404 [0-9]+ [0-9.]+' "$(grep '^127' "$CKPTD_ERR" | sed -n 4p)"
check "no JSON access lines in common format" bash -c "! grep -q '^{' '$CKPTD_ERR'"
stop_ckptd

"$CKPTD" --log-format xml --data "$WORK/x" >/dev/null 2>"$WORK/lf.err"
check_eq "--log-format xml is refused (exit 2)" 2 "$?"
check "with a message naming the choices" grep -q 'json or common' "$WORK/lf.err"
