#!/usr/bin/env bash
# Tokens: ckptd token add/list/revoke, 401 with WWW-Authenticate for missing/malformed/wrong/
# revoked tokens on every route, 403 for the wrong role or run scope, /healthz always open,
# uploads refused before any body byte, 429 after 20 failures a minute, tokens never stored or
# logged in clear, a non-loopback --listen refused without tokens.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

D=$(new_tmpdir)
mint()
{
    "$CKPTD" token add "$1" --role "$2" ${3:+--runs "$3"} --data "$D" 2>"$WORK/mint.err"
}
READ=$(mint reader read)
check_match "token add prints ID.SECRET (16 + 64 hex)" '[0-9a-f]{16}\.[0-9a-f]{64}' "$READ"
check "token add says the token is shown once" grep -q 'shown once' "$WORK/mint.err"
WRITE=$(mint writer write)
ADMIN=$(mint boss admin)
SCOPED=$(mint exp write exp-)
SCOPED_ADMIN=$(mint expadmin admin exp-)
"$CKPTD" token add x --role root --data "$D" >/dev/null 2>&1
check_eq "token add with an unknown role exits 2" 2 "$?"
"$CKPTD" token add 'bad name' --role read --data "$D" >/dev/null 2>&1
check_eq "token add with a bad name exits 2" 2 "$?"
list=$("$CKPTD" token list --data "$D")
check_eq "token list shows five tokens and a header" 6 "$(printf '%s\n' "$list" | wc -l)"
check "token list shows the scope prefix" grep -q 'exp-' <<<"$list"
check "token list never shows a secret" bash -c "! grep -q '${READ#*.}' <<<'$list'"

start_ckptd_on "$D" || bail "ckptd starts with tokens"
# helper: status of METHOD PATH with an optional Authorization value, sent from loopback
# address $SRC (failures are counted per address: the matrix spreads over 127.0.0.x)
SRC=127.0.0.1
st()
{
    local m=$1 p=$2 a=${3:-} head=()
    [ "$m" = HEAD ] && head=(-I)
    if [ -n "$a" ]; then
        curl -s "${head[@]}" --interface "$SRC" -o "$RESP_BODY" -D "$RESP_HDRS" -w '%{http_code}' -X "$m" \
            -H "Authorization: $a" "$BASE$p"
    else
        curl -s "${head[@]}" --interface "$SRC" -o "$RESP_BODY" -D "$RESP_HDRS" -w '%{http_code}' -X "$m" "$BASE$p"
    fi
}

check_eq "/healthz is open without a token" 200 "$(st GET /healthz)"
rand_file "$WORK/a.bin" 4096
s=$(curl -s -o "$RESP_BODY" -w '%{http_code}' -T "$WORK/a.bin" -H "Authorization: Bearer $WRITE" \
    "$BASE/v1/runs/r1/checkpoints?epoch=1&loss=0.5")
check_eq "a write token uploads (201)" 201 "$s"
s=$(curl -s -o "$RESP_BODY" -w '%{http_code}' -T "$WORK/a.bin" -H "Authorization: Bearer $SCOPED" \
    "$BASE/v1/runs/exp-1/checkpoints?epoch=1")
check_eq "a scoped write token uploads to a run in its scope (201)" 201 "$s"
ID_R1=1
ID_EXP=2

# Every route, with every kind of bad credential: 401 and WWW-Authenticate.
# The matrix comes from the route table itself (daemon/router.c), so a new route is covered
# without editing this test: every method of every route but the open probes /healthz and
# /readyz (112_readyz.sh checks those), plus HEAD for GET.
routes=()
while read -r methods path; do
    case $path in /healthz | /readyz) continue ;; esac
    path=${path//:run/r1}
    path=${path//:id/1}
    for m in ${methods//|/ }; do
        m=${m#M_}
        routes+=("$m $path")
        [ "$m" = GET ] && routes+=("HEAD $path")
    done
done < <(sed -n 's/^ *{\(M_[A-Z_ |]*\), "\(\/[^"]*\)".*/\1 \2/p' "$HARNESS_ROOT/daemon/router.c" | tr -d ' ' |
    sed 's/^\(M_[A-Z_|]*\)\(\/.*\)$/\1 \2/')
check "the route table yields at least 15 method/route pairs" test "${#routes[@]}" -ge 15
routes+=("GET /v1/no/such/route")
REVOKED=$(mint gone read)
"$CKPTD" token revoke "${REVOKED%%.*}" --data "$D" >/dev/null
bad_creds=("" "Bearer" "Bearer nonsense" "Basic dXNlcjpwYXNz" "Bearer ${READ%%.*}.$(printf '%064d' 0)"
    "Bearer 0000000000000000.${READ#*.}" "Bearer $REVOKED")
names=("no token" "empty bearer" "malformed" "another scheme" "right id, wrong secret" "unknown id" "revoked")
n=10
for route in "${routes[@]}"; do
    n=$((n + 1))
    SRC=127.0.0.$n
    m=${route%% *}
    p=${route#* }
    all=ok
    for i in "${!bad_creds[@]}"; do
        s=$(st "$m" "$p" "${bad_creds[$i]}")
        if [ "$s" != 401 ] || ! grep -qi '^WWW-Authenticate: Bearer' "$RESP_HDRS"; then
            all="${names[$i]} got $s"
            break
        fi
    done
    check_eq "$route answers 401 + WWW-Authenticate for all bad credentials" ok "$all"
done
SRC=127.0.0.1
check_eq "a 401 body has the code unauthorized" unauthorized \
    "$(st GET /v1/runs 'Bearer nope' >/dev/null; jq -r .error.code <"$RESP_BODY")"

# Roles: read < write < admin.
check_eq "read token: GET list" 200 "$(st GET /v1/runs/r1/checkpoints "Bearer $READ")"
check_eq "read token: HEAD blob" 200 "$(st HEAD /v1/checkpoints/$ID_R1/blob "Bearer $READ")"
s=$(curl -s -o "$RESP_BODY" -w '%{http_code}' -T "$WORK/a.bin" -H "Authorization: Bearer $READ" "$BASE/v1/runs/r1/checkpoints")
check_eq "read token: upload is 403" 403 "$s"
check_eq "read token: 403 code is forbidden" forbidden "$(jq -r .error.code <"$RESP_BODY")"
check_eq "write token: DELETE is 403" 403 "$(st DELETE /v1/checkpoints/$ID_R1 "Bearer $WRITE")"
check_eq "scoped token: reads its own run" 200 "$(st GET /v1/runs/exp-1/latest "Bearer $SCOPED")"
check_eq "scoped token: another run's listing is 403" 403 "$(st GET /v1/runs/r1/checkpoints "Bearer $SCOPED")"
check_eq "scoped token: another run's checkpoint by id is 403" 403 "$(st GET /v1/checkpoints/$ID_R1 "Bearer $SCOPED")"
check_eq "scoped token: another run's blob by id is 403" 403 "$(st GET /v1/checkpoints/$ID_R1/blob "Bearer $SCOPED")"
check_eq "scoped token: its own checkpoint by id" 200 "$(st GET /v1/checkpoints/$ID_EXP "Bearer $SCOPED")"
st GET /v1/runs "Bearer $SCOPED" >/dev/null
check_eq "scoped token: /v1/runs lists only its runs" '["exp-1"]' "$(jq -c '[.runs[].run]' <"$RESP_BODY")"
check_eq "scoped admin: cannot delete another run's checkpoint" 403 "$(st DELETE /v1/checkpoints/$ID_R1 "Bearer $SCOPED_ADMIN")"
check_eq "admin token: DELETE works" 204 "$(st DELETE /v1/checkpoints/$ID_R1 "Bearer $ADMIN")"

# A refused upload sends no 100 Continue: curl transfers 0 body bytes.
rand_file "$WORK/big.bin" 3000000
out=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' -T "$WORK/big.bin" "$BASE/v1/runs/r1/checkpoints")
check_eq "an upload without a token is refused before its body (401, 0 bytes sent)" "401 0" "$out"
check "and leaves no temp file" tmp_is_empty

# Revocation takes effect on the next request, while the daemon runs.
check_eq "write token works before revocation" 200 "$(st GET /v1/runs "Bearer $WRITE")"
"$CKPTD" token revoke "${WRITE%%.*}" --data "$D" >"$WORK/rev.out" 2>&1
check_eq "token revoke exits 0 while the daemon runs" 0 "$?"
check_eq "the revoked token is refused on the next request" 401 "$(st GET /v1/runs "Bearer $WRITE")"
"$CKPTD" token revoke "${WRITE%%.*}" --data "$D" >/dev/null 2>&1
check_eq "revoking it again exits 1" 1 "$?"
"$CKPTD" token revoke ffffffffffffffff --data "$D" >/dev/null 2>&1
check_eq "revoking an unknown id exits 1" 1 "$?"

# 429 after 20 failures a minute from one address; /healthz stays open.
codes=""
for i in $(seq 1 24); do codes="$codes $(st GET /v1/runs 'Bearer wrong')"; done
check_match "after 20 failed authentications the address gets 429" '.*429.*' "$codes"
check_eq "even a good token from that address gets 429 for the rest of the minute" 429 "$(st GET /v1/runs "Bearer $ADMIN")"
check "429 carries Retry-After" grep -qi '^Retry-After:' "$RESP_HDRS"
check_eq "/healthz is still open" 200 "$(st GET /healthz)"

# Secrets are never stored or logged in clear.
secret=${ADMIN#*.}
check "the index does not contain a token secret" bash -c "! grep -aq '$secret' '$D/index.db' '$D/index.db-wal' 2>/dev/null"
check "the daemon log does not contain a token secret" bash -c "! grep -q '$secret' '$CKPTD_ERR'"
stop_ckptd

# Non-loopback addresses need tokens or --insecure.
E=$(new_tmpdir)
timeout 10 "$CKPTD" --listen 0.0.0.0:0 --data "$E" >"$WORK/nl.out" 2>"$WORK/nl.err"
check_eq "ckptd refuses a non-loopback address with no tokens (exit 1)" 1 "$?"
check "and says why" grep -q 'without authentication' "$WORK/nl.err"

# The first token, added while the daemon runs, is required from the next request on; revoking
# every token does not reopen the server (revoked tokens stay in the index).
F=$(new_tmpdir)
start_ckptd_on "$F" || bail "ckptd starts on an empty data dir"
check_eq "with no token, a request without Authorization answers 200" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")"
check_eq "and again (the daemon trusts a \"no token\" answer for 0.1 s)" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")"
FIRST=$("$CKPTD" token add first --role read --data "$F" 2>/dev/null)
check_eq "right after the first token is added, a request without it answers 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")"
check_eq "and one with it answers 200" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $FIRST" "$BASE/v1/runs")"
"$CKPTD" token revoke "${FIRST%%.*}" --data "$F" >/dev/null 2>&1
check_eq "with its only token revoked, a request without Authorization still answers 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/runs")"
check_eq "and the revoked token answers 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $FIRST" "$BASE/v1/runs")"
stop_ckptd
harness_exit
